-- charge_order, now also re-sending the recorded result when an order that is
-- already decided is asked for again (see 0002 for the rest of the story).
CREATE OR REPLACE FUNCTION "charge_order"(
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
  v_outcome text;
BEGIN
  SELECT outcome, reason INTO v_outcome, v_reason FROM payments WHERE order_id = p_order_id;
  IF FOUND THEN
    -- Asked again (a duplicate, or the orders sweeper because the result never
    -- arrived): decide nothing, but send the recorded result once more under a
    -- new message id (JetStream may still remember the first one and drop a
    -- re-publish); if the first did arrive, the order is final and stays so.
    INSERT INTO outbox (id, subject, payload, request_id)
    VALUES (
      p_result_message_id || ':resent:' || gen_random_uuid(),
      CASE v_outcome WHEN 'succeeded' THEN p_succeeded_subject ELSE p_failed_subject END,
      CASE WHEN v_outcome = 'succeeded' THEN p_succeeded_payload
           WHEN v_reason = 'insufficient_funds' THEN p_insufficient_funds_payload
           ELSE p_account_not_found_payload END,
      p_request_id
    );
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
