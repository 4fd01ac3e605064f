//! The learner's transcripts: `GET /api/me/transcripts` (newest first, keyset-paginated over
//! the D1 usage rows, since R2 lists keys only in ascending order), `GET /api/me/transcripts/{id}`
//! (the request id, resolved to its object through D1 — never a path from the request),
//! `GET /api/me/transcripts.jsonl` (all of them, streamed), and the HTML views under
//! `/me/transcripts`.

use super::store;
use super::view::{self, Filters, TranscriptRow};
use crate::env;
use crate::http::{respond, ApiError};
use crate::learners::auth;
use crate::learners::routes::{html, private, see_other, usage_rows, Ctx};
use crate::{d1, ids};
use futures_util::stream;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Bucket, D1Database, Request, Response};

type Result<T> = std::result::Result<T, ApiError>;

const TRANSCRIPT_KEY: &str = "SELECT transcript_key FROM usage WHERE request_id = ?1 AND learner_id = ?2";

fn bucket(ctx: &Ctx<'_>) -> Result<Bucket> {
    env::transcripts(ctx.env).map_err(|_| ApiError::unavailable("Transcript storage (binding TRANSCRIPTS) is not configured."))
}


/// The stored transcript of one of the learner's requests.
async fn one(ctx: &Ctx<'_>, learner: &str, request_id: &str) -> Result<Value> {
    let missing = || ApiError::not_found("You have no transcript with this request id.");
    if !ids::looks_like(request_id, "req_") {
        return Err(missing());
    }
    #[derive(Deserialize)]
    struct Row {
        transcript_key: Option<String>,
    }
    let row = d1::bind(ctx.db.prepare(TRANSCRIPT_KEY), &[d1::text(request_id), d1::text(learner)], "transcript")?
        .first::<Row>(None)
        .await
        .map_err(d1::fail("transcript"))?;
    let key = row.and_then(|r| r.transcript_key).ok_or_else(missing)?;
    let bytes = store::read(&bucket(ctx)?, &key).await.map_err(|e| {
        worker::console_error!("transcript read {key}: {e}");
        ApiError::internal("transcript_read")
    })?;
    let bytes = bytes.ok_or_else(|| ApiError::not_found("This transcript is not stored (yet): it is written just after the call ends; try again in a moment."))?;
    serde_json::from_slice(&bytes).map_err(|_| ApiError::internal("transcript_parse"))
}

async fn rows(ctx: &Ctx<'_>, learner: &str, req: &Request) -> Result<(Vec<Value>, Option<Value>, Filters)> {
    let (rows, next, q) = usage_rows(req, ctx, learner).await?;
    Ok((rows, next, Filters { lesson: q.lesson, day: q.day }))
}

pub async fn list_api(req: &Request, ctx: &Ctx<'_>) -> Result<Response> {
    let l = auth::learner(req, &ctx.db, ctx.config, ctx.now, false).await?;
    let (rows, next, _) = rows(ctx, &l.id, req).await?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|mut r| {
            let id = r.get("request_id").and_then(Value::as_str).unwrap_or_default().to_string();
            if let Value::Object(m) = &mut r {
                m.remove("transcript_key");
                m.insert("url".into(), json!(format!("/api/me/transcripts/{id}")));
            }
            r
        })
        .collect();
    let retention = ctx.config.transcript_retention_days;
    private(respond::json(200, &json!({"transcripts": items, "next_before": next, "retention_days": retention}))?)
}

pub async fn show_api(req: &Request, ctx: &Ctx<'_>, request_id: &str) -> Result<Response> {
    let l = auth::learner(req, &ctx.db, ctx.config, ctx.now, false).await?;
    private(respond::json(200, &one(ctx, &l.id, request_id).await?)?)
}

pub async fn list_page(req: &Request, ctx: &Ctx<'_>) -> Result<Response> {
    let Some(l) = auth::from_cookie(req, &ctx.db, ctx.config, ctx.now).await? else { return see_other("/signin") };
    let (rows, next, filters) = rows(ctx, &l.id, req).await?;
    let typed: Vec<TranscriptRow> = rows.into_iter().filter_map(|r| serde_json::from_value(r).ok()).collect();
    let next = next.as_ref().and_then(Value::as_str);
    html(view::list(&typed, &filters, next))
}

pub async fn show_page(req: &Request, ctx: &Ctx<'_>, request_id: &str) -> Result<Response> {
    let Some(l) = auth::from_cookie(req, &ctx.db, ctx.config, ctx.now).await? else { return see_other("/signin") };
    html(view::show(&one(ctx, &l.id, request_id).await?))
}



/// All the learner's transcripts as JSON Lines, oldest first, streamed a page at a time so
/// the worker never holds them all.
pub async fn jsonl(req: &Request, ctx: &Ctx<'_>) -> Result<Response> {
    let l = auth::learner(req, &ctx.db, ctx.config, ctx.now, false).await?;
    struct State {
        db: D1Database,
        bucket: Bucket,
        learner: String,
        after: String,
        done: bool,
    }
    const PAGE: &str = "SELECT request_id, transcript_key FROM usage
      WHERE learner_id = ?1 AND request_id > ?2 AND transcript_key IS NOT NULL ORDER BY request_id LIMIT 50";
    let state = State { db: env::require_db(ctx.env)?, bucket: bucket(ctx)?, learner: l.id, after: String::new(), done: false };
    let lines = stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        #[derive(Deserialize)]
        struct Row {
            request_id: String,
            transcript_key: String,
        }
        let page = match d1::bind(s.db.prepare(PAGE), &[d1::text(&s.learner), d1::text(&s.after)], "jsonl") {
            Ok(stmt) => stmt.all().await.and_then(|r| r.results::<Row>()),
            Err(_) => Ok(Vec::new()),
        };
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                worker::console_error!("jsonl page: {e}");
                s.done = true;
                return Some((Err(worker::Error::RustError("the export stopped early".into())), s));
            }
        };
        if page.len() < 50 {
            s.done = true;
        }
        let mut chunk = Vec::new();
        for row in &page {
            if let Ok(Some(bytes)) = store::read(&s.bucket, &row.transcript_key).await {
                // Stored documents are compact JSON: one per line.
                chunk.extend(bytes.into_iter().filter(|b| *b != b'\n'));
                chunk.push(b'\n');
            }
            s.after = row.request_id.clone();
        }
        if page.is_empty() {
            return None;
        }
        Some((Ok::<Vec<u8>, worker::Error>(chunk), s))
    });
    let mut r = Response::from_stream(lines).map_err(respond::internal)?;
    respond::set(r.headers_mut(), "content-type", "application/x-ndjson")?;
    respond::set(r.headers_mut(), "content-disposition", "attachment; filename=\"academy-transcripts.jsonl\"")?;
    private(r)
}

/// Account deletion: every transcript object of the learner, paged.
pub async fn delete_all(env: &worker::Env, learner: &str) -> Result<()> {
    let Ok(bucket) = env::transcripts(env) else { return Ok(()) };
    store::delete_all(&bucket, learner).await.map(|_| ()).map_err(|e| {
        worker::console_error!("transcripts delete for {learner}: {e}");
        ApiError::internal("transcript_delete")
    })
}
