-- charge_order: the exactly-once debit of one order, called by the payments
-- consumer inside the transaction that also recorded the message in the inbox.
-- A function so that PostgreSQL plans its statements once per connection
-- (PL/pgSQL caches them) instead of on every call: this is the hot path.
--
-- Guards (see payments/charges.ts for the whole story):
--   2. payments.order_id is the primary key: an order already decided, under
--      any message id, is not decided again, and its outcome is final;
--   3. the conditional UPDATE debits only what the balance covers, in one
--      statement; PostgreSQL re-checks the condition on the locked row.
-- The result message (its subject and payload shaped by the TypeScript
-- contract) goes to the outbox in the same transaction.
CREATE FUNCTION "charge_order"(
  p_order_id uuid,
  p_user_id varchar,
  p_amount bigint,
  p_result_message_id text,
  p_request_id text,
  p_succeeded_subject text,
  p_succeeded_payload jsonb,
  p_failed_subject text,
  p_insufficient_funds_payload jsonb,
  p_account_not_found_payload jsonb
) RETURNS TABLE ("decision" text, "balance_after" bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_balance bigint;
  v_reason text;
BEGIN
  PERFORM 1 FROM payments WHERE order_id = p_order_id;
  IF FOUND THEN
    RETURN QUERY SELECT 'already_decided'::text, NULL::bigint;
    RETURN;
  END IF;

  UPDATE accounts SET balance = balance - p_amount
  WHERE user_id = p_user_id AND balance >= p_amount
  RETURNING balance INTO v_balance;

  IF FOUND THEN
    INSERT INTO payments (order_id, user_id, amount, outcome)
    VALUES (p_order_id, p_user_id, p_amount, 'succeeded');
    INSERT INTO ledger_entries (user_id, kind, amount, order_id, balance_after)
    VALUES (p_user_id, 'payment', p_amount, p_order_id, v_balance);
    INSERT INTO outbox (id, subject, payload, request_id)
    VALUES (p_result_message_id, p_succeeded_subject, p_succeeded_payload, p_request_id);
    RETURN QUERY SELECT 'succeeded'::text, v_balance;
    RETURN;
  END IF;

  PERFORM 1 FROM accounts WHERE user_id = p_user_id;
  v_reason := CASE WHEN FOUND THEN 'insufficient_funds' ELSE 'account_not_found' END;
  INSERT INTO payments (order_id, user_id, amount, outcome, reason)
  VALUES (p_order_id, p_user_id, p_amount, 'failed', v_reason);
  INSERT INTO outbox (id, subject, payload, request_id)
  VALUES (
    p_result_message_id,
    p_failed_subject,
    CASE v_reason WHEN 'insufficient_funds' THEN p_insufficient_funds_payload ELSE p_account_not_found_payload END,
    p_request_id
  );
  RETURN QUERY SELECT v_reason, NULL::bigint;
END;
$$;
--> statement-breakpoint
-- charge_orders: charge_order for each request of a batch, in the order given
-- (the consumer sorts a batch by user, so concurrent batches lock accounts in
-- the same order). One call per batch: one round trip for many messages.
CREATE FUNCTION "charge_orders"(p_requests jsonb)
RETURNS TABLE ("order_id" uuid, "decision" text, "balance_after" bigint)
LANGUAGE plpgsql AS $$
DECLARE
  r jsonb;
BEGIN
  FOR r IN SELECT value FROM jsonb_array_elements(p_requests) LOOP
    RETURN QUERY
      SELECT (r->>'orderId')::uuid, c.decision, c.balance_after
      FROM charge_order(
        (r->>'orderId')::uuid,
        r->>'userId',
        (r->>'amount')::bigint,
        r->>'resultMessageId',
        r->>'requestId',
        r->>'succeededSubject',
        r->'succeededPayload',
        r->>'failedSubject',
        r->'insufficientFundsPayload',
        r->'accountNotFoundPayload'
      ) AS c;
  END LOOP;
END;
$$;
