//! The gateway's D1 adapter: the reserve batch (authenticate + reserve, one round trip), the
//! refusal diagnosis (only on the failure path), the settle batch and the sweep. The SQL is in
//! `reserve.rs`, tested on SQLite.

use super::reserve::{self, Refusal};
use super::usage::Usage;
use crate::d1::{self, int, opt_text, text};
use crate::http::ApiError;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// A reservation that was taken.
#[derive(Debug, Clone, Deserialize)]
pub struct Reserved {
    pub learner_id: String,
    pub key_id: String,
    pub amount_micros: i64,
    pub total_left: i64,
    pub daily_left: i64,
}

impl Reserved {
    /// What the learner can spend after this request, if it costs `cost`.
    pub fn remaining_after(&self, cost: i64) -> i64 {
        let back = self.amount_micros.saturating_sub(cost).max(0);
        self.total_left.min(self.daily_left).saturating_add(back).max(0)
    }
}

pub struct ReserveRequest<'a> {
    pub request_id: &'a str,
    pub day: &'a str,
    pub amount: i64,
    pub now: i64,
    pub expires_at: i64,
    pub key_hash: &'a str,
    pub academy_cap: i64,
}

/// Authenticates the key and reserves, in one batch. `Ok(None)`: refused (see `diagnose`).
pub async fn reserve(db: &D1Database, r: &ReserveRequest<'_>) -> Result<Option<Reserved>, ApiError> {
    let results = db.batch(reserve_statements(db, r)?).await.map_err(d1::fail("reserve"))?;
    let row = results.last().and_then(|r| r.results::<Reserved>().ok()).and_then(|mut rows| rows.pop());
    Ok(row)
}

fn reserve_statements(db: &D1Database, r: &ReserveRequest<'_>) -> Result<Vec<D1PreparedStatement>, ApiError> {
    let all: [JsValue; 7] = [text(r.request_id), text(r.day), int(r.amount), int(r.now), int(r.expires_at), text(r.key_hash), int(r.academy_cap)];
    reserve::RESERVE
        .iter()
        .map(|(sql, idx)| {
            let values: Vec<JsValue> = idx.iter().filter_map(|i| all.get(*i).cloned()).collect();
            d1::bind(db.prepare(*sql), &values, "reserve")
        })
        .collect()
}

/// Bench-only: the reserve batch, plus the reservation's deletion in the same round trip, so the
/// bench can time exactly the academy's one D1 round trip without leaving reservations behind.
#[cfg(feature = "bench")]
pub async fn reserve_and_release(db: &D1Database, r: &ReserveRequest<'_>) -> Result<bool, ApiError> {
    let mut stmts = reserve_statements(db, r)?;
    stmts.push(d1::bind(db.prepare(reserve::RELEASE), &[text(r.request_id)], "reserve")?);
    let results = db.batch(stmts).await.map_err(d1::fail("reserve"))?;
    Ok(results.iter().rev().nth(1).and_then(|r| r.results::<Reserved>().ok()).is_some_and(|rows| !rows.is_empty()))
}

#[derive(Deserialize)]
struct Diagnosis {
    revoked_at: Option<i64>,
    disabled: i64,
    total_left: i64,
    daily_left: i64,
}

/// Why a reservation was refused (a second query, only on this path).
pub async fn diagnose(db: &D1Database, key_hash: &str, day: &str, amount: i64) -> Result<Refusal, ApiError> {
    let row = d1::bind(db.prepare(reserve::DIAGNOSE), &[text(key_hash), text(day)], "diagnose")?
        .first::<Diagnosis>(None)
        .await
        .map_err(d1::fail("diagnose"))?;
    Ok(match row {
        None => Refusal::BadKey,
        Some(d) => reserve::refusal(d.revoked_at.is_some(), d.disabled != 0, d.total_left, d.daily_left, amount),
    })
}

/// Everything a usage row records about one request.
#[derive(Debug, Clone, Default)]
pub struct Settlement {
    pub request_id: String,
    pub cost: i64,
    pub endpoint: &'static str,
    pub provider: &'static str,
    pub model: String,
    pub upstream_model: Option<String>,
    pub stream: bool,
    pub status: u16,
    pub outcome: &'static str,
    pub usage: Usage,
    pub estimated: bool,
    pub stop_reason: Option<String>,
    pub latency_ms: i64,
    pub ttfb_ms: Option<i64>,
    pub aig_log_id: Option<String>,
    pub lesson_id: Option<String>,
    pub run_id: Option<String>,
    pub transcript_key: Option<String>,
}

fn tokens(n: u64) -> JsValue {
    int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Settles exactly once (one statement; the trigger does the rest): a second call finds no
/// reservation and changes nothing.
pub async fn settle(db: &D1Database, s: &Settlement) -> Result<(), ApiError> {
    let all: Vec<JsValue> = vec![
        text(&s.request_id),
        int(s.cost.max(0)),
        text(s.endpoint),
        text(s.provider),
        text(&s.model),
        opt_text(s.upstream_model.as_deref()),
        int(i64::from(s.stream)),
        int(i64::from(s.status)),
        text(s.outcome),
        tokens(s.usage.input),
        tokens(s.usage.cache_write_5m),
        tokens(s.usage.cache_write_1h),
        tokens(s.usage.cache_read),
        tokens(s.usage.output),
        int(i64::from(s.estimated)),
        opt_text(s.stop_reason.as_deref()),
        int(s.latency_ms),
        s.ttfb_ms.map_or(JsValue::NULL, int),
        opt_text(s.aig_log_id.as_deref()),
        opt_text(s.lesson_id.as_deref()),
        opt_text(s.run_id.as_deref()),
        opt_text(s.transcript_key.as_deref()),
    ];
    d1::bind(db.prepare(reserve::SETTLE), &all, "settle")?.run().await.map_err(d1::fail("settle"))?;
    Ok(())
}

#[derive(Deserialize)]
pub struct Expired {
    pub id: String,
    pub amount_micros: i64,
}

pub async fn expired(db: &D1Database, now: i64, limit: i64) -> Result<Vec<Expired>, ApiError> {
    let r = d1::bind(db.prepare(reserve::EXPIRED), &[int(now), int(limit)], "sweep")?.all().await.map_err(d1::fail("sweep"))?;
    r.results::<Expired>().map_err(d1::fail("sweep"))
}
