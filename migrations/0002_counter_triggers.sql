-- The running totals move in triggers, inside the statement that takes or settles a
-- reservation: the gateway's reserve batch is two statements (take, read back) and its settle
-- batch one (the usage row), instead of five and six. Same transaction, same arithmetic. Each
-- statement in a D1 batch costs a round of parsing, planning and result encoding.
-- Trigger bodies hold only plain UPDATE, INSERT and DELETE statements, which every SQL splitter
-- on the way to D1 handles.

-- Taking a reservation reserves its amount on the learner, the learner's day and the academy's
-- day. The day rows are created on first use.
CREATE TRIGGER reservations_take AFTER INSERT ON reservations
BEGIN
  UPDATE learners SET reserved_micros = reserved_micros + NEW.amount_micros WHERE id = NEW.learner_id;
  INSERT INTO learner_days (learner_id, day, reserved_micros, requests) VALUES (NEW.learner_id, NEW.day, NEW.amount_micros, 1)
    ON CONFLICT (learner_id, day) DO UPDATE SET reserved_micros = reserved_micros + excluded.reserved_micros, requests = requests + 1;
  INSERT INTO academy_days (day, reserved_micros, requests) VALUES (NEW.day, NEW.amount_micros, 1)
    ON CONFLICT (day) DO UPDATE SET reserved_micros = reserved_micros + excluded.reserved_micros, requests = requests + 1;
END;

-- Settling is inserting the usage row FROM the reservation (so it happens at most once): the
-- reservation's amount leaves `reserved`, the row's cost (already capped at the amount) enters
-- `spent`, on the reservation's own day. The key's last use is when the request finished, and
-- the reservation is gone. Usage rows inserted without a reservation move nothing.
CREATE TRIGGER usage_settles_its_reservation AFTER INSERT ON usage
WHEN EXISTS (SELECT 1 FROM reservations WHERE id = NEW.request_id)
BEGIN
  UPDATE learners SET
      reserved_micros = reserved_micros - (SELECT amount_micros FROM reservations WHERE id = NEW.request_id),
      spent_micros = spent_micros + NEW.cost_micros
    WHERE id = NEW.learner_id;
  UPDATE learner_days SET
      reserved_micros = reserved_micros - (SELECT amount_micros FROM reservations WHERE id = NEW.request_id),
      spent_micros = spent_micros + NEW.cost_micros
    WHERE learner_id = NEW.learner_id AND day = NEW.day;
  UPDATE academy_days SET
      reserved_micros = reserved_micros - (SELECT amount_micros FROM reservations WHERE id = NEW.request_id),
      spent_micros = spent_micros + NEW.cost_micros
    WHERE day = NEW.day;
  UPDATE api_keys SET last_used_at = NEW.created_at + COALESCE(NEW.latency_ms, 0) WHERE id = NEW.key_id;
  DELETE FROM reservations WHERE id = NEW.request_id;
END;
