-- Wake the outbox relays when outbox rows are committed. NOTIFY is delivered
-- at commit and folded to one per transaction, so a statement-level trigger
-- costs one notification per writing transaction, whatever the code path.
CREATE FUNCTION "gozon_outbox_notify"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('gozon_outbox', '');
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "outbox_notify" AFTER INSERT ON "outbox" FOR EACH STATEMENT EXECUTE FUNCTION "gozon_outbox_notify"();
