-- Rate-limit token buckets shared by every instance of the service (shared/http/rate-limit.ts).
-- UNLOGGED (edited by hand; drizzle-kit has no such option): a take writes no WAL and waits for no
-- fsync; after a crash the table is empty, and every bucket simply starts full.
CREATE UNLOGGED TABLE "rate_limit_buckets" (
	"key" text PRIMARY KEY NOT NULL,
	"tokens" double precision NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"full_at" timestamp with time zone NOT NULL,
	CONSTRAINT "rate_limit_tokens_not_negative" CHECK ("rate_limit_buckets"."tokens" >= 0)
);
--> statement-breakpoint
CREATE INDEX "rate_limit_buckets_full_at_idx" ON "rate_limit_buckets" USING btree ("full_at");