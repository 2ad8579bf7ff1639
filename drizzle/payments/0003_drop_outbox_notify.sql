-- The relays are now woken in-process by the code that commits outbox rows
-- (each service instance runs its own relay), with polling as the fallback.
-- The NOTIFY trigger only added a second, empty relay round per commit.
DROP TRIGGER "outbox_notify" ON "outbox";
--> statement-breakpoint
DROP FUNCTION "gozon_outbox_notify"();
