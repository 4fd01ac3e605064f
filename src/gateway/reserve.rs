//! Reservations and settlement (DESIGN.md §6) as SQL text beside the logic that binds it, so
//! unit tests run the very statements on an in-memory SQLite with the real migrations.
//!
//! Reserve: one batch (one D1 round trip, a transaction) that authenticates the key and takes
//! the request's upper bound from every budget — the check and the take in ONE statement, so
//! concurrent requests cannot both take the last cent — then reads back what is left. Settle:
//! one statement that inserts the usage row from the reservation, so a second settle is a
//! no-op. The counters move in two triggers (migrations/0002) inside those statements: on the
//! reservation's own day, in the same transaction. Few statements per batch, because D1 parses,
//! plans and answers each one on its own (11 → 3 per request was part of a 10–20% throughput
//! gain on local D1).
//!
//! Pure: SQL text and parameter order only; adapters bind and run them.

/// Parameters of `RESERVE_*`: ?1 request id, ?2 day, ?3 amount (micro-USD), ?4 now (ms),
/// ?5 expires_at (ms), ?6 key hash, ?7 academy daily cap (micro-USD).
pub const RESERVE_INSERT: &str = "INSERT INTO reservations (id, learner_id, key_id, day, amount_micros, created_at, expires_at)
  SELECT ?1, l.id, k.id, ?2, ?3, ?4, ?5
  FROM api_keys k
  JOIN learners l ON l.id = k.learner_id
  LEFT JOIN learner_days d ON d.learner_id = l.id AND d.day = ?2
  LEFT JOIN academy_days a ON a.day = ?2
  WHERE k.hash = ?6 AND k.revoked_at IS NULL AND l.disabled = 0
    AND l.spent_micros + l.reserved_micros + ?3 <= l.budget_micros
    AND COALESCE(d.spent_micros, 0) + COALESCE(d.reserved_micros, 0) + ?3 <= l.daily_budget_micros
    AND COALESCE(a.spent_micros, 0) + COALESCE(a.reserved_micros, 0) + ?3 <= ?7";

/// ?1 request id. The taken reservation with the budgets left after it; no row = refused.
pub const RESERVED: &str = "SELECT r.learner_id AS learner_id, r.key_id AS key_id, r.amount_micros AS amount_micros,
    l.budget_micros - l.spent_micros - l.reserved_micros AS total_left,
    l.daily_budget_micros - d.spent_micros - d.reserved_micros AS daily_left
  FROM reservations r
  JOIN learners l ON l.id = r.learner_id
  JOIN learner_days d ON d.learner_id = r.learner_id AND d.day = r.day
  WHERE r.id = ?1";

/// The reserve batch, in order; each statement's parameters are listed by index into
/// `[id, day, amount, now, expires_at, key_hash, academy_cap]`. The counters move in the
/// `reservations_take` trigger (migrations/0002), inside the INSERT.
pub const RESERVE: [(&str, &[usize]); 2] = [(RESERVE_INSERT, &[0, 1, 2, 3, 4, 5, 6]), (RESERVED, &[0])];

/// Only on the refusal path: why. ?1 key hash, ?2 day.
pub const DIAGNOSE: &str = "SELECT k.revoked_at AS revoked_at, l.disabled AS disabled,
    l.budget_micros - l.spent_micros - l.reserved_micros AS total_left,
    l.daily_budget_micros - COALESCE(d.spent_micros, 0) - COALESCE(d.reserved_micros, 0) AS daily_left,
    (SELECT COALESCE(spent_micros, 0) + COALESCE(reserved_micros, 0) FROM academy_days WHERE day = ?2) AS academy_used
  FROM api_keys k
  JOIN learners l ON l.id = k.learner_id
  LEFT JOIN learner_days d ON d.learner_id = l.id AND d.day = ?2
  WHERE k.hash = ?1";

/// The settle batch: this one statement. Parameters: ?1 request id, ?2 cost (micro-USD; capped
/// at the reservation here), ?3 endpoint, ?4 provider, ?5 model alias, ?6 upstream model,
/// ?7 stream, ?8 status, ?9 outcome, ?10 input, ?11 cache_write_5m, ?12 cache_write_1h,
/// ?13 cache_read, ?14 output, ?15 estimated, ?16 stop_reason, ?17 latency_ms, ?18 ttfb_ms,
/// ?19 aig_log_id, ?20 lesson_id, ?21 run_id, ?22 transcript_key.
/// The usage row is inserted FROM the reservation, so it inserts nothing once it is gone; the
/// `usage_settles_its_reservation` trigger (migrations/0002) moves the counters on the
/// reservation's own day, stamps the key's last use and deletes the reservation, all inside it.
pub const SETTLE: &str = "INSERT INTO usage (request_id, learner_id, key_id, created_at, day, endpoint, provider, model,
    upstream_model, stream, status, outcome, input_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
    cache_read_tokens, output_tokens, cost_micros, estimated, stop_reason, latency_ms, ttfb_ms, aig_log_id,
    lesson_id, run_id, transcript_key)
  SELECT r.id, r.learner_id, r.key_id, r.created_at, r.day, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
    MIN(?2, r.amount_micros), ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22
  FROM reservations r WHERE r.id = ?1";

/// Bench only: a reservation dropped without settling (the bench reserves 0).
#[cfg(feature = "bench")]
pub const RELEASE: &str = "DELETE FROM reservations WHERE id = ?1";

/// Reservations past their expiry, for the sweep. ?1 now, ?2 limit.
pub const EXPIRED: &str = "SELECT id, amount_micros, day FROM reservations WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2";

/// Why a reservation was refused, decided from `DIAGNOSE`'s row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown or revoked key.
    BadKey,
    Disabled,
    Total { left: i64 },
    Daily { left: i64 },
    Academy,
}

/// The refusal a diagnosis row means (`None` row = unknown key).
pub fn refusal(revoked: bool, disabled: bool, total_left: i64, daily_left: i64, amount: i64) -> Refusal {
    if revoked {
        Refusal::BadKey
    } else if disabled {
        Refusal::Disabled
    } else if total_left < amount {
        Refusal::Total { left: total_left.max(0) }
    } else if daily_left < amount {
        Refusal::Daily { left: daily_left.max(0) }
    } else {
        Refusal::Academy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{params_from_iter, Connection, ToSql};

    const DAY: &str = "2026-11-26";
    const NEXT_DAY: &str = "2026-11-27";
    const CAP: i64 = 1_000_000_000;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            c.execute_batch(&std::fs::read_to_string(f).unwrap()).unwrap();
        }
        c.execute("INSERT INTO learners (id, created_at, budget_micros, daily_budget_micros) VALUES ('lrn_a', 0, 1000, 600)", []).unwrap();
        c.execute("INSERT INTO api_keys (id, learner_id, hash, prefix, created_at) VALUES ('key_a', 'lrn_a', 'h_a', 'aa_x', 0)", []).unwrap();
        c
    }

    /// Runs the reserve batch in one transaction; returns (total_left, daily_left) if taken.
    fn reserve(c: &mut Connection, id: &str, day: &str, amount: i64, hash: &str, cap: i64) -> Option<(i64, i64)> {
        let all: [&dyn ToSql; 7] = [&id, &day, &amount, &0i64, &300_000i64, &hash, &cap];
        let tx = c.transaction().unwrap();
        let mut row = None;
        for (sql, idx) in RESERVE {
            let params: Vec<&dyn ToSql> = idx.iter().map(|i| all[*i]).collect();
            if sql == RESERVED {
                row = tx
                    .query_row(sql, params_from_iter(params), |r| Ok((r.get::<_, i64>("total_left")?, r.get::<_, i64>("daily_left")?)))
                    .ok();
            } else {
                tx.execute(sql, params_from_iter(params)).unwrap();
            }
        }
        tx.commit().unwrap();
        row
    }

    fn settle(c: &mut Connection, id: &str, cost: i64) {
        let params: Vec<Box<dyn ToSql>> = vec![
            Box::new(id.to_string()), Box::new(cost), Box::new("messages"), Box::new("anthropic"), Box::new("course-fast"),
            Box::new("claude-haiku-5-5"), Box::new(0i64), Box::new(200i64), Box::new("ok"), Box::new(10i64), Box::new(0i64),
            Box::new(0i64), Box::new(0i64), Box::new(5i64), Box::new(0i64), Box::new("end_turn"), Box::new(3i64), Box::new(2i64),
            Box::new("log"), Box::new(Option::<String>::None), Box::new(Option::<String>::None), Box::new(Option::<String>::None),
        ];
        c.execute(SETTLE, params_from_iter(params.iter())).unwrap();
    }

    fn count_rows(c: &Connection, table: &str) -> i64 {
        c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap()
    }

    fn counters(c: &Connection) -> (i64, i64, i64, i64) {
        c.query_row("SELECT spent_micros, reserved_micros FROM learners WHERE id = 'lrn_a'", [], |r| Ok((r.get(0)?, r.get(1)?, 0, 0)))
            .map(|(s, r, _, _)| {
                let (ds, dr): (i64, i64) = c
                    .query_row("SELECT COALESCE(SUM(spent_micros),0), COALESCE(SUM(reserved_micros),0) FROM learner_days", [], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap();
                (s, r, ds, dr)
            })
            .unwrap()
    }

    #[test]
    fn a_reservation_takes_from_every_budget_and_reports_what_is_left() {
        let mut c = db();
        assert_eq!(reserve(&mut c, "req_1", DAY, 100, "h_a", CAP), Some((900, 500)));
        assert_eq!(counters(&c), (0, 100, 0, 100));
        let academy: i64 = c.query_row("SELECT reserved_micros FROM academy_days WHERE day = ?1", [DAY], |r| r.get(0)).unwrap();
        assert_eq!(academy, 100);
    }

    #[test]
    fn missing_day_rows_are_created_by_the_upsert() {
        let mut c = db();
        reserve(&mut c, "req_1", DAY, 10, "h_a", CAP).unwrap();
        reserve(&mut c, "req_2", NEXT_DAY, 20, "h_a", CAP).unwrap();
        assert_eq!(count_rows(&c, "learner_days"), 2);
    }

    #[test]
    fn every_refusal_cause_takes_nothing() {
        let mut c = db();
        assert_eq!(reserve(&mut c, "req_1", DAY, 10, "h_unknown", CAP), None);
        assert_eq!(reserve(&mut c, "req_2", DAY, 1001, "h_a", CAP), None, "over the total");
        assert_eq!(reserve(&mut c, "req_3", DAY, 601, "h_a", CAP), None, "over the daily");
        assert_eq!(reserve(&mut c, "req_4", DAY, 10, "h_a", 5), None, "over the academy cap");
        c.execute("UPDATE api_keys SET revoked_at = 1", []).unwrap();
        assert_eq!(reserve(&mut c, "req_5", DAY, 10, "h_a", CAP), None, "revoked");
        c.execute("UPDATE api_keys SET revoked_at = NULL", []).unwrap();
        c.execute("UPDATE learners SET disabled = 1", []).unwrap();
        assert_eq!(reserve(&mut c, "req_6", DAY, 10, "h_a", CAP), None, "disabled");
        assert_eq!(counters(&c), (0, 0, 0, 0));
        assert_eq!(count_rows(&c, "reservations"), 0);
    }

    #[test]
    fn reservations_stop_exactly_at_the_budget() {
        let mut c = db();
        let taken = (0..10).filter(|i| reserve(&mut c, &format!("req_{i}"), DAY, 100, "h_a", CAP).is_some()).count();
        assert_eq!(taken, 6, "daily 600 / 100");
    }

    #[test]
    fn settling_moves_reserved_to_spent_once() {
        let mut c = db();
        reserve(&mut c, "req_1", DAY, 100, "h_a", CAP).unwrap();
        settle(&mut c, "req_1", 40);
        assert_eq!(counters(&c), (40, 0, 40, 0));
        settle(&mut c, "req_1", 40);
        assert_eq!(counters(&c), (40, 0, 40, 0), "a second settle is a no-op");
        let (rows, cost, used): (i64, i64, Option<i64>) = c
            .query_row("SELECT COUNT(*), SUM(cost_micros), (SELECT last_used_at FROM api_keys) FROM usage", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap();
        assert_eq!((rows, cost, used), (1, 40, Some(3)), "last used = reserved at 0 + latency 3");
        assert_eq!(count_rows(&c, "reservations"), 0, "the reservation is gone");
    }

    #[test]
    fn a_usage_row_without_a_reservation_moves_nothing() {
        let mut c = db();
        reserve(&mut c, "req_1", DAY, 100, "h_a", CAP).unwrap();
        c.execute(
            "INSERT INTO usage (request_id, learner_id, key_id, created_at, day, endpoint, provider, model, stream, status, outcome, cost_micros)
             VALUES ('req_other', 'lrn_a', 'key_a', 0, ?1, 'messages', 'demo', 'demo', 0, 200, 'ok', 50)",
            [DAY],
        )
        .unwrap();
        assert_eq!(counters(&c), (0, 100, 0, 100), "req_1 still reserved, nothing spent");
        assert_eq!(count_rows(&c, "reservations"), 1);
    }

    #[test]
    fn a_cost_above_the_reservation_is_charged_at_the_reservation() {
        let mut c = db();
        reserve(&mut c, "req_1", DAY, 100, "h_a", CAP).unwrap();
        settle(&mut c, "req_1", 5_000);
        assert_eq!(counters(&c), (100, 0, 100, 0));
        let cost: i64 = c.query_row("SELECT cost_micros FROM usage", [], |r| r.get(0)).unwrap();
        assert_eq!(cost, 100);
    }

    #[test]
    fn a_request_reserved_before_midnight_settles_on_its_own_day() {
        let mut c = db();
        reserve(&mut c, "req_1", DAY, 100, "h_a", CAP).unwrap();
        // The next day begins (a new day row exists) before the first request settles.
        reserve(&mut c, "req_2", NEXT_DAY, 50, "h_a", CAP).unwrap();
        settle(&mut c, "req_1", 30);
        let day = |d: &str| -> (i64, i64) { c.query_row("SELECT spent_micros, reserved_micros FROM learner_days WHERE day = ?1", [d], |r| Ok((r.get(0)?, r.get(1)?))).unwrap() };
        assert_eq!(day(DAY), (30, 0));
        assert_eq!(day(NEXT_DAY), (0, 50));
        let usage_day: String = c.query_row("SELECT day FROM usage WHERE request_id = 'req_1'", [], |r| r.get(0)).unwrap();
        assert_eq!(usage_day, DAY);
    }

    #[test]
    fn refusals_name_their_cause() {
        assert_eq!(refusal(true, false, 0, 0, 1), Refusal::BadKey);
        assert_eq!(refusal(false, true, 9, 9, 1), Refusal::Disabled);
        assert_eq!(refusal(false, false, 5, 100, 10), Refusal::Total { left: 5 });
        assert_eq!(refusal(false, false, 50, 5, 10), Refusal::Daily { left: 5 });
        assert_eq!(refusal(false, false, 50, 50, 10), Refusal::Academy);
    }

    #[test]
    fn expired_reservations_are_found_for_the_sweep() {
        let mut c = db();
        reserve(&mut c, "req_1", DAY, 10, "h_a", CAP).unwrap();
        let n: i64 = c.query_row(&EXPIRED.replace("SELECT id, amount_micros, day", "SELECT COUNT(*)"), [400_000i64, 10], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }
}
