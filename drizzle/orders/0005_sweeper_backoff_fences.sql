DROP INDEX "orders_stuck_idx";--> statement-breakpoint
ALTER TABLE "idempotency_keys" ADD COLUMN "claim_token" uuid DEFAULT gen_random_uuid() NOT NULL;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "payment_asks" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "next_ask_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "payment_gave_up_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "claimed_until" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "orders_next_ask_idx" ON "orders" USING btree ("next_ask_at") WHERE "orders"."status" = 'NEW';--> statement-breakpoint
CREATE INDEX "orders_gave_up_idx" ON "orders" USING btree ("payment_gave_up_at") WHERE "orders"."status" = 'NEW' and "orders"."payment_gave_up_at" is not null;--> statement-breakpoint
-- Orders still NEW from before: next asked for 10 s after their last ask, as before.
UPDATE "orders" SET "next_ask_at" = "payment_requested_at" + interval '10 seconds' WHERE "status" = 'NEW';
