ALTER TABLE "idempotency_keys" ADD COLUMN "claim_token" uuid DEFAULT gen_random_uuid() NOT NULL;--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD COLUMN "payment_outcome" text GENERATED ALWAYS AS (case when kind = 'payment' then 'succeeded' end) STORED;--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "claimed_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "result_message_id" text;--> statement-breakpoint
CREATE UNIQUE INDEX "ledger_one_debit_per_order" ON "ledger_entries" USING btree ("order_id") WHERE "ledger_entries"."kind" = 'payment';--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_debit_target" UNIQUE("order_id","user_id","amount","outcome");--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_debit_has_payment" FOREIGN KEY ("order_id","user_id","amount","payment_outcome") REFERENCES "public"."payments"("order_id","user_id","amount","outcome") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
-- Decisions made before this migration were carried by their first result message.
UPDATE "payments" SET "result_message_id" = 'payment-result:' || "order_id" WHERE "result_message_id" IS NULL;
