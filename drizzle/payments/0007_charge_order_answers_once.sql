-- charge_order, now answering a repeated ask for a decided order with a new
-- result row only when it can help: not while the previous answer is still
-- unpublished, and not to an ask made before that answer was published (an
-- ask from a backlog; the orders side gets the published answer anyway).
-- While payments is down and the orders sweeper keeps asking, the outbox then
-- holds one answer per order, not one per ask. Decisions record the id of the
-- outbox row that carries them (payments.result_message_id). See 0002 for the
-- rest of the story; the schema's backstops (0006) stop a second debit even if
-- this function were wrong.
DROP FUNCTION "charge_order"(uuid, varchar, bigint, text, text, text, jsonb, text, jsonb, jsonb);
--> statement-breakpoint
CREATE FUNCTION "charge_order"(
  p_order_id uuid,
  p_user_id varchar,
  p_amount bigint,
  p_asked_at timestamptz,
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
  v_outcome text;
  v_last_result text;
  v_last_published timestamptz;
  v_resent text;
BEGIN
  SELECT outcome, reason, result_message_id INTO v_outcome, v_reason, v_last_result
  FROM payments WHERE order_id = p_order_id;
  IF FOUND THEN
    -- Asked again (a duplicate, or the orders sweeper because no result
    -- arrived): decide nothing. Send the recorded result once more, under a
    -- new message id (JetStream may still remember the first one and drop a
    -- re-publish), only if the last answer went out before this ask was made:
    -- then it may have been lost. An answer still in the outbox will go out
    -- anyway, and one published after the ask is on its way. (Two asks handled
    -- at the same instant may both resend: harmless, and cheaper than a lock
    -- that batches could deadlock on.) A final status stays final either way.
    SELECT published_at INTO v_last_published FROM outbox WHERE id = v_last_result;
    IF FOUND AND (v_last_published IS NULL OR p_asked_at < v_last_published) THEN
      RETURN QUERY SELECT 'already_decided'::text, NULL::bigint;
      RETURN;
    END IF;
    v_resent := p_result_message_id || ':resent:' || gen_random_uuid();
    INSERT INTO outbox (id, subject, payload, request_id)
    VALUES (
      v_resent,
      CASE v_outcome WHEN 'succeeded' THEN p_succeeded_subject ELSE p_failed_subject END,
      CASE WHEN v_outcome = 'succeeded' THEN p_succeeded_payload
           WHEN v_reason = 'insufficient_funds' THEN p_insufficient_funds_payload
           ELSE p_account_not_found_payload END,
      p_request_id
    );
    UPDATE payments SET result_message_id = v_resent WHERE order_id = p_order_id;
    RETURN QUERY SELECT 'already_decided'::text, NULL::bigint;
    RETURN;
  END IF;

  UPDATE accounts SET balance = balance - p_amount
  WHERE user_id = p_user_id AND balance >= p_amount
  RETURNING balance INTO v_balance;

  IF FOUND THEN
    INSERT INTO payments (order_id, user_id, amount, outcome, result_message_id)
    VALUES (p_order_id, p_user_id, p_amount, 'succeeded', p_result_message_id);
    INSERT INTO ledger_entries (user_id, kind, amount, order_id, balance_after)
    VALUES (p_user_id, 'payment', p_amount, p_order_id, v_balance);
    INSERT INTO outbox (id, subject, payload, request_id)
    VALUES (p_result_message_id, p_succeeded_subject, p_succeeded_payload, p_request_id);
    RETURN QUERY SELECT 'succeeded'::text, v_balance;
    RETURN;
  END IF;

  PERFORM 1 FROM accounts WHERE user_id = p_user_id;
  v_reason := CASE WHEN FOUND THEN 'insufficient_funds' ELSE 'account_not_found' END;
  INSERT INTO payments (order_id, user_id, amount, outcome, reason, result_message_id)
  VALUES (p_order_id, p_user_id, p_amount, 'failed', v_reason, p_result_message_id);
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
-- charge_orders passes each request's askedAt (unix ms, or null) on.
CREATE OR REPLACE FUNCTION "charge_orders"(p_requests jsonb)
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
        to_timestamp((r->>'askedAt')::bigint / 1000.0),
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
