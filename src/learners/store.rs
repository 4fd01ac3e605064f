//! The learners' D1 adapter: every statement as `const` SQL text with bound parameters, and
//! thin functions that run them. Decisions live in the routes and pure modules.

use crate::d1::{self, int, opt_int, opt_text, text};
use crate::http::ApiError;
use serde::Deserialize;
pub use super::records::{KeyRow, Profile, ProgressRow};
use worker::D1Database;

type Result<T> = std::result::Result<T, ApiError>;

/// Creates the learner — in invite mode only while the invite has uses left (?7 NULL = open).
const INSERT_LEARNER: &str = "INSERT INTO learners (id, name, email, created_at, budget_micros, daily_budget_micros)
  SELECT ?1, ?2, ?3, ?4, ?5, ?6
  WHERE ?7 IS NULL OR EXISTS (SELECT 1 FROM invites WHERE code = ?7 AND uses_left > 0)";
/// Takes one use of the invite, in the same transaction as the insert it allowed.
const TAKE_INVITE: &str = "UPDATE invites SET uses_left = uses_left - 1
  WHERE code = ?1 AND uses_left > 0 AND EXISTS (SELECT 1 FROM learners WHERE id = ?2)";
const INSERT_KEY: &str = "INSERT INTO api_keys (id, learner_id, hash, prefix, created_at)
  SELECT ?1, ?2, ?3, ?4, ?5
  WHERE EXISTS (SELECT 1 FROM learners WHERE id = ?2)
    AND (SELECT COUNT(*) FROM api_keys WHERE learner_id = ?2 AND revoked_at IS NULL) < ?6";
pub const MAX_ACTIVE_KEYS: i64 = 10;

const KEY_OWNER: &str = "SELECT k.id AS key_id, l.id AS learner_id, l.disabled AS disabled, l.session_epoch AS session_epoch
  FROM api_keys k JOIN learners l ON l.id = k.learner_id
  WHERE k.hash = ?1 AND k.revoked_at IS NULL";
const SESSION_LEARNER: &str = "SELECT id AS learner_id, disabled, session_epoch FROM learners WHERE id = ?1";

const PROFILE: &str = "SELECT l.id, l.name, l.email, l.created_at, l.disabled, l.budget_micros, l.daily_budget_micros,
  l.spent_micros, l.reserved_micros,
  COALESCE(d.spent_micros, 0) + COALESCE(d.reserved_micros, 0) AS today_micros
  FROM learners l LEFT JOIN learner_days d ON d.learner_id = l.id AND d.day = ?2
  WHERE l.id = ?1";
const KEYS: &str = "SELECT id, prefix, created_at, last_used_at, revoked_at FROM api_keys WHERE learner_id = ?1 ORDER BY created_at, id";
const REVOKE_KEY: &str = "UPDATE api_keys SET revoked_at = ?3 WHERE id = ?1 AND learner_id = ?2 AND revoked_at IS NULL";
const REVOKE_ALL_KEYS: &str = "UPDATE api_keys SET revoked_at = ?2 WHERE learner_id = ?1 AND revoked_at IS NULL";

/// `started` never undoes `completed`; completing keeps the first completion time.
const UPSERT_PROGRESS: &str = "INSERT INTO progress (learner_id, lesson_id, started_at, completed_at)
  VALUES (?1, ?2, ?3, CASE WHEN ?4 = 1 THEN ?3 END)
  ON CONFLICT (learner_id, lesson_id) DO UPDATE SET
    completed_at = CASE WHEN ?4 = 1 THEN COALESCE(progress.completed_at, ?3) ELSE progress.completed_at END";
const PROGRESS: &str = "SELECT p.lesson_id, p.started_at, p.completed_at,
  (SELECT MAX(score) FROM quiz_attempts q WHERE q.learner_id = p.learner_id AND q.lesson_id = p.lesson_id) AS best_score,
  (SELECT COUNT(*) FROM quiz_attempts q WHERE q.learner_id = p.learner_id AND q.lesson_id = p.lesson_id) AS attempts,
  (SELECT passed_at FROM lab_passes b WHERE b.learner_id = p.learner_id AND b.lesson_id = p.lesson_id) AS lab_passed_at
  FROM progress p WHERE p.learner_id = ?1 ORDER BY p.started_at";
const INSERT_ATTEMPT: &str = "INSERT INTO quiz_attempts (learner_id, lesson_id, created_at, score, total, answers) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
/// A graded attempt also marks the lesson started.
const START_ON_ATTEMPT: &str = "INSERT INTO progress (learner_id, lesson_id, started_at) VALUES (?1, ?2, ?3)
  ON CONFLICT (learner_id, lesson_id) DO NOTHING";
const BEST: &str = "SELECT MAX(score) AS best, COUNT(*) AS attempts FROM quiz_attempts WHERE learner_id = ?1 AND lesson_id = ?2";
const ATTEMPTS: &str = "SELECT lesson_id, created_at, score, total, answers FROM quiz_attempts WHERE learner_id = ?1 ORDER BY id";
const LAB_PASSES: &str = "SELECT lesson_id, passed_at, evidence FROM lab_passes WHERE learner_id = ?1 ORDER BY passed_at";
const USAGE_ALL: &str = "SELECT request_id, created_at, endpoint, provider, model, stream, status, outcome, input_tokens,
  cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, output_tokens, cost_micros, estimated, lesson_id, run_id
  FROM usage WHERE learner_id = ?1 ORDER BY request_id";

/// Newest first, keyset-paginated by request id (ULIDs sort by time). ?2 = exclusive upper bound.
const USAGE_PAGE: &str = "SELECT request_id, created_at, day, endpoint, provider, model, upstream_model, stream, status, outcome,
  input_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, output_tokens, cost_micros, estimated,
  stop_reason, latency_ms, ttfb_ms, aig_log_id, lesson_id, run_id, transcript_key
  FROM usage WHERE learner_id = ?1 AND request_id < ?2
    AND (?3 IS NULL OR lesson_id = ?3) AND (?4 IS NULL OR day = ?4)
  ORDER BY request_id DESC LIMIT ?5";

const IN_FLIGHT: &str = "SELECT COUNT(*) AS n FROM reservations WHERE learner_id = ?1";
/// Account deletion (DESIGN.md §7): the books keep usage and day counters under a tombstone
/// (?2); everything personal goes. `true` = the statement takes the tombstone.
const DELETE_ACCOUNT: [(&str, bool); 7] = [
    ("UPDATE usage SET learner_id = ?2, key_id = 'deleted', transcript_key = NULL WHERE learner_id = ?1", true),
    ("UPDATE learner_days SET learner_id = ?2 WHERE learner_id = ?1", true),
    ("DELETE FROM progress WHERE learner_id = ?1", false),
    ("DELETE FROM quiz_attempts WHERE learner_id = ?1", false),
    ("DELETE FROM lab_passes WHERE learner_id = ?1", false),
    ("DELETE FROM api_keys WHERE learner_id = ?1", false),
    ("DELETE FROM learners WHERE id = ?1", false),
];

const ADMIN_UPDATE: &str = "UPDATE learners SET
  budget_micros = COALESCE(?2, budget_micros),
  daily_budget_micros = COALESCE(?3, daily_budget_micros),
  disabled = COALESCE(?4, disabled)
  WHERE id = ?1";
const INSERT_INVITE: &str = "INSERT INTO invites (code, uses_left, created_at) VALUES (?1, ?2, ?3)";

#[derive(Debug, Deserialize)]
pub struct Principal {
    pub learner_id: String,
    #[serde(default)]
    pub key_id: Option<String>,
    pub disabled: i64,
    pub session_epoch: i64,
}




#[derive(Debug, Deserialize)]
pub struct Best {
    pub best: Option<i64>,
    pub attempts: i64,
}

pub struct NewLearner<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub now: i64,
    pub budget: i64,
    pub daily_budget: i64,
    pub invite: Option<&'a str>,
}

pub struct NewKey<'a> {
    pub id: &'a str,
    pub hash: &'a str,
    pub prefix: &'a str,
}

fn prepare(db: &D1Database, sql: &str, values: &[wasm_bindgen::JsValue], ctx: &'static str) -> Result<worker::D1PreparedStatement> {
    d1::bind(db.prepare(sql), values, ctx)
}

/// Enrolls a learner with a first key, atomically with the invite use. `false` when the
/// invite was unknown or used up (nothing written).
pub async fn enroll(db: &D1Database, l: &NewLearner<'_>, key: &NewKey<'_>) -> Result<bool> {
    let mut stmts = vec![prepare(
        db,
        INSERT_LEARNER,
        &[text(l.id), opt_text(l.name), opt_text(l.email), int(l.now), int(l.budget), int(l.daily_budget), opt_text(l.invite)],
        "enroll",
    )?];
    if let Some(code) = l.invite {
        stmts.push(prepare(db, TAKE_INVITE, &[text(code), text(l.id)], "enroll")?);
    }
    stmts.push(prepare(db, INSERT_KEY, &[text(key.id), text(l.id), text(key.hash), text(key.prefix), int(l.now), int(MAX_ACTIVE_KEYS)], "enroll")?);
    let results = db.batch(stmts).await.map_err(d1::fail("enroll"))?;
    Ok(results.first().is_some_and(|r| d1::changes(r) == 1))
}

pub async fn by_key_hash(db: &D1Database, hash: &str) -> Result<Option<Principal>> {
    prepare(db, KEY_OWNER, &[text(hash)], "key owner")?.first::<Principal>(None).await.map_err(d1::fail("key owner"))
}

pub async fn by_learner_id(db: &D1Database, id: &str) -> Result<Option<Principal>> {
    prepare(db, SESSION_LEARNER, &[text(id)], "session")?.first::<Principal>(None).await.map_err(d1::fail("session"))
}

pub async fn profile(db: &D1Database, id: &str, day: &str) -> Result<Option<Profile>> {
    prepare(db, PROFILE, &[text(id), text(day)], "profile")?.first::<Profile>(None).await.map_err(d1::fail("profile"))
}

pub async fn keys(db: &D1Database, learner: &str) -> Result<Vec<KeyRow>> {
    let r = prepare(db, KEYS, &[text(learner)], "keys")?.all().await.map_err(d1::fail("keys"))?;
    r.results::<KeyRow>().map_err(d1::fail("keys"))
}

/// Adds a key; `false` when the learner already has the maximum of active keys.
pub async fn add_key(db: &D1Database, learner: &str, key: &NewKey<'_>, now: i64) -> Result<bool> {
    let r = prepare(db, INSERT_KEY, &[text(key.id), text(learner), text(key.hash), text(key.prefix), int(now), int(MAX_ACTIVE_KEYS)], "add key")?
        .run()
        .await
        .map_err(d1::fail("add key"))?;
    Ok(d1::changes(&r) == 1)
}

/// Revokes one of the learner's keys; `false` when it is not theirs or already revoked.
pub async fn revoke_key(db: &D1Database, learner: &str, key_id: &str, now: i64) -> Result<bool> {
    let r = prepare(db, REVOKE_KEY, &[text(key_id), text(learner), int(now)], "revoke key")?.run().await.map_err(d1::fail("revoke key"))?;
    Ok(d1::changes(&r) == 1)
}

/// Issues `key` and revokes `old` (one key) or every other active key, in one transaction.
pub async fn rotate(db: &D1Database, learner: &str, key: &NewKey<'_>, old: Option<&str>, now: i64) -> Result<bool> {
    let revoke = match old {
        Some(id) => prepare(db, REVOKE_KEY, &[text(id), text(learner), int(now)], "rotate")?,
        None => prepare(db, REVOKE_ALL_KEYS, &[text(learner), int(now)], "rotate")?,
    };
    let insert = prepare(db, INSERT_KEY, &[text(key.id), text(learner), text(key.hash), text(key.prefix), int(now), int(MAX_ACTIVE_KEYS)], "rotate")?;
    let results = db.batch(vec![revoke, insert]).await.map_err(d1::fail("rotate"))?;
    Ok(results.get(1).is_some_and(|r| d1::changes(r) == 1))
}

pub async fn set_progress(db: &D1Database, learner: &str, lesson: &str, completed: bool, now: i64) -> Result<()> {
    prepare(db, UPSERT_PROGRESS, &[text(learner), text(lesson), int(now), int(i64::from(completed))], "progress")?
        .run()
        .await
        .map_err(d1::fail("progress"))?;
    Ok(())
}

pub async fn progress(db: &D1Database, learner: &str) -> Result<Vec<ProgressRow>> {
    let r = prepare(db, PROGRESS, &[text(learner)], "progress")?.all().await.map_err(d1::fail("progress"))?;
    r.results::<ProgressRow>().map_err(d1::fail("progress"))
}

/// Stores a graded attempt (and marks the lesson started); returns the best score since.
pub async fn record_attempt(db: &D1Database, learner: &str, lesson: &str, score: u32, total: u32, answers: &str, now: i64) -> Result<Best> {
    let stmts = vec![
        prepare(db, INSERT_ATTEMPT, &[text(learner), text(lesson), int(now), int(i64::from(score)), int(i64::from(total)), text(answers)], "attempt")?,
        prepare(db, START_ON_ATTEMPT, &[text(learner), text(lesson), int(now)], "attempt")?,
        prepare(db, BEST, &[text(learner), text(lesson)], "attempt")?,
    ];
    let results = db.batch(stmts).await.map_err(d1::fail("attempt"))?;
    let best = results.get(2).and_then(|r| r.results::<Best>().ok()).and_then(|mut v| v.pop());
    Ok(best.unwrap_or(Best { best: Some(i64::from(score)), attempts: 1 }))
}

/// Everything stored about a learner, for the export.
pub async fn export_rows(db: &D1Database, learner: &str) -> Result<[Vec<serde_json::Value>; 3]> {
    let stmts = vec![
        prepare(db, ATTEMPTS, &[text(learner)], "export")?,
        prepare(db, LAB_PASSES, &[text(learner)], "export")?,
        prepare(db, USAGE_ALL, &[text(learner)], "export")?,
    ];
    let results = db.batch(stmts).await.map_err(d1::fail("export"))?;
    let rows = |i: usize| results.get(i).and_then(|r| r.results::<serde_json::Value>().ok()).unwrap_or_default();
    Ok([rows(0), rows(1), rows(2)])
}

/// A page of the learner's usage rows, newest first, before `before` (a request id).
pub async fn usage_page(db: &D1Database, learner: &str, before: &str, lesson: Option<&str>, day: Option<&str>, limit: i64) -> Result<Vec<serde_json::Value>> {
    let r = prepare(db, USAGE_PAGE, &[text(learner), text(before), opt_text(lesson), opt_text(day), int(limit)], "usage")?
        .all()
        .await
        .map_err(d1::fail("usage"))?;
    r.results::<serde_json::Value>().map_err(d1::fail("usage"))
}

pub async fn revoke_all_keys(db: &D1Database, learner: &str, now: i64) -> Result<()> {
    prepare(db, REVOKE_ALL_KEYS, &[text(learner), int(now)], "revoke all")?.run().await.map_err(d1::fail("revoke all"))?;
    Ok(())
}

pub async fn in_flight(db: &D1Database, learner: &str) -> Result<i64> {
    #[derive(Deserialize)]
    struct N {
        n: i64,
    }
    let n = prepare(db, IN_FLIGHT, &[text(learner)], "in flight")?.first::<N>(None).await.map_err(d1::fail("in flight"))?;
    Ok(n.map_or(0, |n| n.n))
}

pub async fn delete_account(db: &D1Database, learner: &str, tombstone: &str) -> Result<()> {
    let stmts = DELETE_ACCOUNT
        .iter()
        .map(|(sql, tomb)| {
            let values = if *tomb { vec![text(learner), text(tombstone)] } else { vec![text(learner)] };
            prepare(db, sql, &values, "delete account")
        })
        .collect::<Result<Vec<_>>>()?;
    db.batch(stmts).await.map_err(d1::fail("delete account"))?;
    Ok(())
}

/// Operator change to a learner; `false` when no such learner.
pub async fn admin_update(db: &D1Database, id: &str, budget: Option<i64>, daily: Option<i64>, disabled: Option<bool>) -> Result<bool> {
    let r = prepare(db, ADMIN_UPDATE, &[text(id), opt_int(budget), opt_int(daily), opt_int(disabled.map(i64::from))], "admin update")?
        .run()
        .await
        .map_err(d1::fail("admin update"))?;
    Ok(d1::changes(&r) == 1)
}

pub async fn create_invite(db: &D1Database, code: &str, uses: i64, now: i64) -> Result<()> {
    prepare(db, INSERT_INVITE, &[text(code), int(uses), int(now)], "invite")?.run().await.map_err(d1::fail("invite"))?;
    Ok(())
}
