//! The learners' routes: `/api/enroll`, `/api/session`, `/api/me*`, the minimal operator API,
//! and the pages and forms of `/signin`, `/enroll`, `/signout` and `/me`.

use super::auth::{self, Learner, Via};
use super::key::AcademyKey;
use super::pages as views;
use super::store::{self, NewKey, NewLearner};
use super::{clean_email, clean_name, session, Budget};
use crate::course::catalogue;
use crate::course::pages::{Status, Viewer};
use crate::course::quiz;
use crate::env::{self, Config, Enrollment};
use crate::gateway::pricing::MicroUsd;
use crate::http::{body, csrf, headers, respond, ApiError};
use crate::{ids, platform};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use worker::{D1Database, Env, Request, Response};

type Result<T> = std::result::Result<T, ApiError>;

/// A request handled by this capability: what every handler needs.
pub struct Ctx<'a> {
    pub env: &'a Env,
    pub config: &'a Config,
    pub db: D1Database,
    pub now: u64,
}

impl<'a> Ctx<'a> {
    pub fn new(env: &'a Env, config: &'a Config) -> Result<Ctx<'a>> {
        Ok(Ctx { env, config, db: env::require_db(env)?, now: platform::now_ms() })
    }

    fn now_i(&self) -> i64 {
        i64::try_from(self.now).unwrap_or(i64::MAX)
    }

    fn today(&self) -> String {
        crate::time::day_of(self.now_i())
    }
}

/// A fresh academy key with its ids.
struct Issued {
    key: AcademyKey,
    key_id: String,
}

fn issue() -> Result<Issued> {
    Ok(Issued { key: AcademyKey::generate(&platform::random::<64>()?), key_id: ids::random_id("key_", &platform::random::<20>()?) })
}

fn new_key(i: &Issued) -> (String, String) {
    (i.key.hash(), i.key.prefix())
}

fn with_cookie(mut r: Response, cookie: &str) -> Result<Response> {
    r.headers_mut().append("set-cookie", cookie).map_err(|_| ApiError::internal("header"))?;
    Ok(r)
}

pub(crate) fn private(mut r: Response) -> Result<Response> {
    respond::set(r.headers_mut(), "cache-control", headers::PRIVATE)?;
    respond::set(r.headers_mut(), "vary", "Cookie")?;
    Ok(r)
}

pub(crate) fn see_other(location: &str) -> Result<Response> {
    let mut r = Response::empty().map_err(respond::internal)?.with_status(303);
    respond::set(r.headers_mut(), "location", location)?;
    Ok(r)
}

pub(crate) fn html(page: String) -> Result<Response> {
    let mut r = Response::ok(page).map_err(respond::internal)?;
    respond::set(r.headers_mut(), "content-type", "text/html; charset=utf-8")?;
    private(r)
}

fn session_cookie(ctx: &Ctx, learner_id: &str, epoch: i64) -> Result<String> {
    let value = session::sign(ctx.config.session_secret()?, learner_id, epoch, ctx.now).ok_or_else(|| ApiError::internal("session"))?;
    Ok(session::set_cookie(ctx.config.cookie_secure, Some(&value)))
}

// ---------------------------------------------------------------- enrollment and sessions

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    name: Option<String>,
    email: Option<String>,
    invite: Option<String>,
}

struct Enrolled {
    learner_id: String,
    issued: Issued,
    budget: Budget,
    cookie: String,
}

/// Browsers must enroll from our own pages; scripts (no `Sec-Fetch-Site`, no `Origin`) may call
/// the API directly — enrollment authenticates nobody, so there is no session to ride.
fn not_cross_site(req: &Request) -> Result<()> {
    let h = req.headers();
    let site = h.get("sec-fetch-site").ok().flatten();
    let origin = h.get("origin").ok().flatten();
    if site.is_none() && origin.is_none() {
        return Ok(());
    }
    csrf::require_same_origin(req)
}

async fn enroll(req: &Request, ctx: &Ctx<'_>, r: EnrollRequest) -> Result<Enrolled> {
    not_cross_site(req)?;
    let name = clean_name(r.name.as_deref()).map_err(|m| ApiError::bad_request("invalid_field", m))?;
    let email = clean_email(r.email.as_deref()).map_err(|m| ApiError::bad_request("invalid_field", m))?;
    let invite = match ctx.config.enrollment {
        Enrollment::Open => None,
        Enrollment::Invite => Some(
            r.invite
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty() && c.len() <= 64)
                .ok_or_else(|| ApiError::new(403, "invite_required", "Enrollment here is by invitation: send your invite code as `invite`."))?
                .to_string(),
        ),
    };
    ctx.config.session_secret()?;
    platform::rate_limit(ctx.env, env::ENROLL_RATE, platform::client_ip(req), "Too many enrollments from your address; wait a minute and try again.").await?;
    let learner_id = ids::random_id("lrn_", &platform::random::<20>()?);
    let issued = issue()?;
    let (hash, prefix) = new_key(&issued);
    let learner = NewLearner {
        id: &learner_id,
        name: name.as_deref(),
        email: email.as_deref(),
        now: ctx.now_i(),
        budget: ctx.config.default_budget.0,
        daily_budget: ctx.config.default_daily_budget.0,
        invite: invite.as_deref(),
    };
    if !store::enroll(&ctx.db, &learner, &NewKey { id: &issued.key_id, hash: &hash, prefix: &prefix }).await? {
        return Err(ApiError::new(403, "invalid_invite", "This invite code is unknown or has no uses left."));
    }
    let budget = Budget { limit: learner.budget, daily_limit: learner.daily_budget, spent: 0, reserved: 0, today: 0 };
    let cookie = session_cookie(ctx, &learner_id, 0)?;
    Ok(Enrolled { learner_id, issued, budget, cookie })
}

pub async fn enroll_api(mut req: Request, ctx: &Ctx<'_>) -> Result<Response> {
    let bytes = body::read(&mut req, body::FORM_LIMIT).await?;
    let r: EnrollRequest = if bytes.iter().all(u8::is_ascii_whitespace) { EnrollRequest::default() } else { crate::http::parse_json(&bytes)? };
    let e = enroll(&req, ctx, r).await?;
    let body = json!({
        "learner_id": e.learner_id,
        "key": e.issued.key.as_str(),
        "key_id": e.issued.key_id,
        "key_prefix": e.issued.key.prefix(),
        "budget": e.budget.to_json(),
    });
    with_cookie(private(respond::json(201, &body)?)?, &e.cookie)
}

fn form(bytes: &[u8]) -> BTreeMap<String, String> {
    form_urlencoded::parse(bytes).into_owned().collect()
}

pub async fn enroll_form(mut req: Request, ctx: &Ctx<'_>) -> Result<Response> {
    let f = form(&body::read(&mut req, body::FORM_LIMIT).await?);
    let r = EnrollRequest { name: f.get("name").cloned(), email: f.get("email").cloned(), invite: f.get("invite").cloned() };
    match enroll(&req, ctx, r).await {
        Ok(e) => with_cookie(html(views::key_issued(e.issued.key.as_str(), true))?, &e.cookie),
        Err(err) if err.status < 500 && err.status != 429 => {
            let page = views::signin(Some(&err.message), ctx.config.enrollment == Enrollment::Invite);
            Ok(html(page)?.with_status(err.status))
        }
        Err(err) => Err(err),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    key: String,
}

async fn sign_in(req: &Request, ctx: &Ctx<'_>, raw_key: &str) -> Result<String> {
    not_cross_site(req)?;
    platform::rate_limit(ctx.env, env::SIGNIN_RATE, platform::client_ip(req), "Too many sign-in attempts from your address; wait a minute and try again.").await?;
    let bad = || ApiError::new(401, "invalid_key", "This academy key is unknown or revoked.");
    let key = AcademyKey::parse(raw_key).ok_or_else(bad)?;
    let p = store::by_key_hash(&ctx.db, &key.hash()).await?.ok_or_else(bad)?;
    if p.disabled != 0 {
        return Err(ApiError::new(403, "disabled", "This learner account is disabled; ask the academy's operator."));
    }
    session_cookie(ctx, &p.learner_id, p.session_epoch)
}

pub async fn session_create(mut req: Request, ctx: &Ctx<'_>) -> Result<Response> {
    let r: SessionRequest = body::json(&mut req, body::FORM_LIMIT).await?;
    let cookie = sign_in(&req, ctx, &r.key).await?;
    with_cookie(private(respond::json(200, &json!({"signed_in": true}))?)?, &cookie)
}

pub fn session_delete(ctx: &Ctx<'_>) -> Result<Response> {
    with_cookie(private(respond::json(200, &json!({"signed_in": false}))?)?, &session::set_cookie(ctx.config.cookie_secure, None))
}

pub async fn signin_page(req: &Request, ctx: &Ctx<'_>) -> Result<Response> {
    if auth::from_cookie(req, &ctx.db, ctx.config, ctx.now).await?.is_some() {
        return see_other("/me");
    }
    html(views::signin(None, ctx.config.enrollment == Enrollment::Invite))
}

pub async fn signin_form(mut req: Request, ctx: &Ctx<'_>) -> Result<Response> {
    let f = form(&body::read(&mut req, body::FORM_LIMIT).await?);
    match sign_in(&req, ctx, f.get("key").map_or("", String::as_str)).await {
        Ok(cookie) => with_cookie(see_other("/me")?, &cookie),
        Err(err) if err.status < 500 => Ok(html(views::signin(Some(&err.message), ctx.config.enrollment == Enrollment::Invite))?.with_status(err.status)),
        Err(err) => Err(err),
    }
}

pub fn signout_form(req: &Request, ctx: &Ctx<'_>) -> Result<Response> {
    csrf::require_same_origin(req)?;
    with_cookie(see_other("/")?, &session::set_cookie(ctx.config.cookie_secure, None))
}

// ---------------------------------------------------------------- me

async fn budget_of(ctx: &Ctx<'_>, learner: &str) -> Result<(store::Profile, Budget)> {
    let p = store::profile(&ctx.db, learner, &ctx.today()).await?.ok_or_else(auth::unauthenticated)?;
    let b = Budget { limit: p.budget_micros, daily_limit: p.daily_budget_micros, spent: p.spent_micros, reserved: p.reserved_micros, today: p.today_micros };
    Ok((p, b))
}

pub async fn me(req: &Request, ctx: &Ctx<'_>) -> Result<Response> {
    let l = auth::learner(req, &ctx.db, ctx.config, ctx.now, false).await?;
    let (p, b) = budget_of(ctx, &l.id).await?;
    let keys = store::keys(&ctx.db, &l.id).await?;
    let body = json!({
        "learner_id": p.id, "name": p.name, "email": p.email, "created_at": p.created_at,
        "budget": b.to_json(),
        "keys": keys,
        "authenticated_by": match &l.via { Via::Key { key_id } => json!({"key": key_id}), Via::Cookie => json!("session") },
    });
    private(respond::json(200, &body)?)
}

pub async fn progress_get(req: &Request, ctx: &Ctx<'_>) -> Result<Response> {
    let l = auth::learner(req, &ctx.db, ctx.config, ctx.now, false).await?;
    let rows = store::progress(&ctx.db, &l.id).await?;
    let done = rows.iter().filter(|r| r.completed_at.is_some()).count();
    let total = catalogue::LESSONS.len();
    let percent = (done * 100).checked_div(total).unwrap_or(0);
    private(respond::json(200, &json!({"lessons": rows, "completed": done, "total": total, "percent": percent}))?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgressRequest {
    status: String,
}

fn known_lesson(id: &str) -> Result<&'static catalogue::Lesson> {
    catalogue::lesson(id).ok_or_else(|| ApiError::not_found("There is no lesson with this id; GET /api/lessons lists them."))
}

pub async fn progress_put(mut req: Request, ctx: &Ctx<'_>, lesson_id: &str) -> Result<Response> {
    let l = auth::learner(&req, &ctx.db, ctx.config, ctx.now, true).await?;
    let lesson = known_lesson(lesson_id)?;
    let r: ProgressRequest = body::json(&mut req, body::FORM_LIMIT).await?;
    let completed = match r.status.as_str() {
        "started" => false,
        "completed" => true,
        other => return Err(ApiError::bad_request("invalid_field", format!("`status` must be \"started\" or \"completed\"; got {:?}.", crate::http::error::truncate(other, 40)))),
    };
    store::set_progress(&ctx.db, &l.id, lesson.id, completed, ctx.now_i()).await?;
    let rows = store::progress(&ctx.db, &l.id).await?;
    let row = rows.iter().find(|r| r.lesson_id == lesson.id);
    private(respond::json(200, &json!({"lesson": row}))?)
}

/// The lesson page's "mark as started/completed" form.
pub async fn progress_form(mut req: Request, ctx: &Ctx<'_>, lesson_id: &str) -> Result<Response> {
    let l = auth::learner(&req, &ctx.db, ctx.config, ctx.now, true).await?;
    let lesson = known_lesson(lesson_id)?;
    let f = form(&body::read(&mut req, body::FORM_LIMIT).await?);
    let completed = match f.get("status").map(String::as_str) {
        Some("completed") => true,
        Some("started") => false,
        _ => return Err(ApiError::bad_request("invalid_field", "`status` must be started or completed.")),
    };
    store::set_progress(&ctx.db, &l.id, lesson.id, completed, ctx.now_i()).await?;
    see_other(&format!("/lessons/{}#progress", lesson.id))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuizRequest {
    answers: BTreeMap<String, String>,
}

async fn grade_and_store(ctx: &Ctx<'_>, learner: &str, lesson: &'static catalogue::Lesson, answers: &BTreeMap<String, String>) -> Result<(quiz::Graded, store::Best)> {
    let graded = quiz::grade(lesson, answers).map_err(|e| match e {
        quiz::QuizError::NoQuiz => ApiError::not_found(e.to_string()),
        _ => ApiError::bad_request("invalid_answers", e.to_string()),
    })?;
    let stored = serde_json::to_string(answers).unwrap_or_default();
    let best = store::record_attempt(&ctx.db, learner, lesson.id, graded.score, graded.total, &stored, ctx.now_i()).await?;
    Ok((graded, best))
}

pub async fn quiz_post(mut req: Request, ctx: &Ctx<'_>, lesson_id: &str) -> Result<Response> {
    let l = auth::learner(&req, &ctx.db, ctx.config, ctx.now, true).await?;
    let lesson = known_lesson(lesson_id)?;
    let r: QuizRequest = body::json(&mut req, body::FORM_LIMIT).await?;
    let (graded, best) = grade_and_store(ctx, &l.id, lesson, &r.answers).await?;
    let body = json!({
        "score": graded.score, "total": graded.total, "results": graded.results,
        "best_score": best.best, "attempts": best.attempts,
    });
    private(respond::json(200, &body)?)
}

/// The lesson page's quiz form: graded for everyone, stored for a signed-in learner.
pub async fn quiz_form(mut req: Request, ctx: &Ctx<'_>, lesson_id: &str) -> Result<Response> {
    let lesson = catalogue::lesson(lesson_id).ok_or_else(|| ApiError::not_found("There is no lesson with this id."))?;
    csrf::require_same_origin(&req)?;
    let learner = auth::from_cookie(&req, &ctx.db, ctx.config, ctx.now).await?;
    let answers = form(&body::read(&mut req, body::FORM_LIMIT).await?);
    let page = match learner {
        Some(l) => {
            let (graded, best) = grade_and_store(ctx, &l.id, lesson, &answers).await?;
            crate::course::pages::graded(lesson, &graded, best.best)
        }
        None => {
            let graded = quiz::grade(lesson, &answers).map_err(|e| ApiError::bad_request("invalid_answers", e.to_string()))?;
            crate::course::pages::graded(lesson, &graded, None)
        }
    };
    html(page)
}

pub async fn keys_get(req: &Request, ctx: &Ctx<'_>) -> Result<Response> {
    let l = auth::learner(req, &ctx.db, ctx.config, ctx.now, false).await?;
    private(respond::json(200, &json!({"keys": store::keys(&ctx.db, &l.id).await?}))?)
}

pub async fn keys_post(req: &Request, ctx: &Ctx<'_>) -> Result<Response> {
    let l = auth::learner(req, &ctx.db, ctx.config, ctx.now, true).await?;
    let issued = issue()?;
    let (hash, prefix) = new_key(&issued);
    if !store::add_key(&ctx.db, &l.id, &NewKey { id: &issued.key_id, hash: &hash, prefix: &prefix }, ctx.now_i()).await? {
        return Err(ApiError::new(409, "too_many_keys", format!("You already have {} active keys; revoke one first.", store::MAX_ACTIVE_KEYS)));
    }
    private(respond::json(201, &json!({"key": issued.key.as_str(), "key_id": issued.key_id, "key_prefix": prefix}))?)
}

pub async fn key_delete(req: &Request, ctx: &Ctx<'_>, key_id: &str) -> Result<Response> {
    let l = auth::learner(req, &ctx.db, ctx.config, ctx.now, true).await?;
    if !ids::looks_like(key_id, "key_") || !store::revoke_key(&ctx.db, &l.id, key_id, ctx.now_i()).await? {
        return Err(ApiError::not_found("You have no active key with this id."));
    }
    private(respond::json(200, &json!({"revoked": key_id}))?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    key_id: Option<String>,
}

/// Issues a new key and revokes the old one: the one named, else the one this request used,
/// else (signed in by cookie) every active key. Progress stays with the learner.
async fn rotate(ctx: &Ctx<'_>, l: &Learner, named: Option<String>) -> Result<Issued> {
    let old = named.or_else(|| match &l.via {
        Via::Key { key_id } => Some(key_id.clone()),
        Via::Cookie => None,
    });
    if let Some(id) = &old {
        let mine = store::keys(&ctx.db, &l.id).await?.iter().any(|k| &k.id == id && k.revoked_at.is_none());
        if !mine {
            return Err(ApiError::not_found("You have no active key with this id."));
        }
    }
    let issued = issue()?;
    let (hash, prefix) = new_key(&issued);
    if !store::rotate(&ctx.db, &l.id, &NewKey { id: &issued.key_id, hash: &hash, prefix: &prefix }, old.as_deref(), ctx.now_i()).await? {
        return Err(ApiError::new(409, "too_many_keys", "Could not issue a new key; revoke one first."));
    }
    Ok(issued)
}

pub async fn keys_rotate(mut req: Request, ctx: &Ctx<'_>) -> Result<Response> {
    let l = auth::learner(&req, &ctx.db, ctx.config, ctx.now, true).await?;
    let bytes = body::read(&mut req, body::FORM_LIMIT).await?;
    let r: RotateRequest = if bytes.iter().all(u8::is_ascii_whitespace) { RotateRequest::default() } else { crate::http::parse_json(&bytes)? };
    let issued = rotate(ctx, &l, r.key_id).await?;
    private(respond::json(201, &json!({"key": issued.key.as_str(), "key_id": issued.key_id, "key_prefix": issued.key.prefix()}))?)
}

/// Query parameters of the evidence lists: `limit`, `before` (request id), `lesson`, `day`.
pub struct PageQuery {
    pub limit: i64,
    pub before: String,
    pub lesson: Option<String>,
    pub day: Option<String>,
}

pub fn page_query(req: &Request) -> Result<PageQuery> {
    let url = req.url().map_err(|_| ApiError::bad_request("invalid_url", "The URL could not be parsed."))?;
    let mut q = PageQuery { limit: 50, before: "req_~".to_string(), lesson: None, day: None };
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "limit" => {
                q.limit = v.parse::<i64>().ok().filter(|n| (1..=200).contains(n)).ok_or_else(|| ApiError::bad_request("invalid_field", "`limit` must be an integer from 1 to 200."))?
            }
            "before" => {
                if !ids::looks_like(&v, "req_") {
                    return Err(ApiError::bad_request("invalid_field", "`before` must be a request id (req_…) from a previous page."));
                }
                q.before = v.into_owned();
            }
            "lesson" => {
                known_lesson(&v)?;
                q.lesson = Some(v.into_owned());
            }
            "day" => {
                let ok = v.len() == 10 && v.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
                if !ok {
                    return Err(ApiError::bad_request("invalid_field", "`day` must be a UTC date, YYYY-MM-DD."));
                }
                q.day = Some(v.into_owned());
            }
            _ => {}
        }
    }
    Ok(q)
}

/// One page of the learner's usage rows (newest first) as the query asks, with the cursor of
/// the next page when this one is full. Usage and transcript lists both page this way.
pub async fn usage_rows(req: &Request, ctx: &Ctx<'_>, learner: &str) -> Result<(Vec<serde_json::Value>, Option<serde_json::Value>, PageQuery)> {
    let q = page_query(req)?;
    let rows = store::usage_page(&ctx.db, learner, &q.before, q.lesson.as_deref(), q.day.as_deref(), q.limit).await?;
    let next = if rows.len() as i64 == q.limit { rows.last().and_then(|r| r.get("request_id")).cloned() } else { None };
    Ok((rows, next, q))
}

pub async fn usage(req: &Request, ctx: &Ctx<'_>) -> Result<Response> {
    let l = auth::learner(req, &ctx.db, ctx.config, ctx.now, false).await?;
    let (rows, next, _) = usage_rows(req, ctx, &l.id).await?;
    private(respond::json(200, &json!({"usage": rows, "next_before": next}))?)
}

pub async fn export(req: &Request, ctx: &Ctx<'_>) -> Result<Response> {
    let l = auth::learner(req, &ctx.db, ctx.config, ctx.now, false).await?;
    let (p, b) = budget_of(ctx, &l.id).await?;
    let keys = store::keys(&ctx.db, &l.id).await?;
    let progress = store::progress(&ctx.db, &l.id).await?;
    let [attempts, labs, usage] = store::export_rows(&ctx.db, &l.id).await?;
    let body = json!({
        "exported_at": ctx.now, "learner": {"id": p.id, "name": p.name, "email": p.email, "created_at": p.created_at},
        "budget": b.to_json(), "keys": keys, "progress": progress, "quiz_attempts": attempts,
        "lab_passes": labs, "usage": usage,
    });
    let mut r = private(respond::json(200, &body)?)?;
    respond::set(r.headers_mut(), "content-disposition", "attachment; filename=\"academy-export.json\"")?;
    Ok(r)
}

/// Deletes the account (DESIGN.md §7): keys revoked first so nothing new starts; refused while
/// a model call is in flight; then everything personal removed and the books re-keyed.
async fn delete_account(ctx: &Ctx<'_>, learner: &str) -> Result<String> {
    store::revoke_all_keys(&ctx.db, learner, ctx.now_i()).await?;
    if store::in_flight(&ctx.db, learner).await? > 0 {
        return Err(ApiError::new(409, "in_flight", "A model call of yours is still running; try again in a minute.").with_header("retry-after", "30"));
    }
    let tombstone = ids::random_id("del_", &platform::random::<20>()?);
    crate::transcripts::routes::delete_all(ctx.env, learner).await?;
    store::delete_account(&ctx.db, learner, &tombstone).await?;
    Ok(tombstone)
}

pub async fn me_delete(req: &Request, ctx: &Ctx<'_>) -> Result<Response> {
    let l = auth::learner(req, &ctx.db, ctx.config, ctx.now, true).await?;
    delete_account(ctx, &l.id).await?;
    with_cookie(private(respond::json(200, &json!({"deleted": true}))?)?, &session::set_cookie(ctx.config.cookie_secure, None))
}

// ---------------------------------------------------------------- /me page and its forms

/// What pages know about the viewer: signed in or not, and their progress for badges.
pub async fn viewer(req: &Request, env: &Env, config: &Config) -> Viewer {
    let Ok(ctx) = Ctx::new(env, config) else { return Viewer::default() };
    let Ok(Some(l)) = auth::from_cookie(req, &ctx.db, config, ctx.now).await else { return Viewer::default() };
    let rows = store::progress(&ctx.db, &l.id).await.unwrap_or_default();
    let progress = rows
        .into_iter()
        .map(|r| (r.lesson_id, if r.completed_at.is_some() { Status::Completed } else { Status::Started }))
        .collect();
    Viewer { signed_in: true, progress }
}

pub async fn me_page(req: &Request, ctx: &Ctx<'_>) -> Result<Response> {
    let Some(l) = auth::from_cookie(req, &ctx.db, ctx.config, ctx.now).await? else { return see_other("/signin") };
    let (p, b) = budget_of(ctx, &l.id).await?;
    let keys = store::keys(&ctx.db, &l.id).await?;
    let progress = store::progress(&ctx.db, &l.id).await?;
    html(views::me(&p, &b, &keys, &progress))
}

pub async fn me_rotate_form(req: &Request, ctx: &Ctx<'_>) -> Result<Response> {
    let l = auth::learner(req, &ctx.db, ctx.config, ctx.now, true).await?;
    let issued = rotate(ctx, &l, None).await?;
    html(views::key_issued(issued.key.as_str(), false))
}

pub async fn me_delete_form(mut req: Request, ctx: &Ctx<'_>) -> Result<Response> {
    let l = auth::learner(&req, &ctx.db, ctx.config, ctx.now, true).await?;
    let f = form(&body::read(&mut req, body::FORM_LIMIT).await?);
    if f.get("confirm").map(String::as_str) != Some("delete") {
        return Err(ApiError::bad_request("not_confirmed", "Type `delete` in the box to confirm deleting your account."));
    }
    delete_account(ctx, &l.id).await?;
    with_cookie(see_other("/")?, &session::set_cookie(ctx.config.cookie_secure, None))
}

// ---------------------------------------------------------------- operators (minimal API)

fn admin(req: &Request, ctx: &Ctx<'_>) -> Result<()> {
    let token = ctx.config.admin_token().ok_or_else(|| ApiError::unavailable("The operator API is not configured (ADMIN_TOKEN is not set)."))?;
    let presented = req.headers().get("authorization").ok().flatten();
    let given = presented.as_deref().and_then(|a| a.strip_prefix("Bearer ")).unwrap_or("");
    if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
        return Err(ApiError::new(401, "unauthenticated", "Operator routes need `Authorization: Bearer <ADMIN_TOKEN>`."));
    }
    Ok(())
}

/// Compares two secrets without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    // Hashing first makes the comparison length-independent too.
    let (x, y) = (Sha256::digest(a), Sha256::digest(b));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminLearnerRequest {
    budget_usd: Option<serde_json::Value>,
    daily_budget_usd: Option<serde_json::Value>,
    disabled: Option<bool>,
}

/// A USD amount given as a JSON string ("5.25") or number (5.25), parsed exactly.
fn usd_field(v: Option<serde_json::Value>, name: &str) -> Result<Option<i64>> {
    let Some(v) = v else { return Ok(None) };
    let text = match &v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err(ApiError::bad_request("invalid_field", format!("`{name}` must be a USD amount like \"5.00\"."))),
    };
    let m = MicroUsd::parse_usd(&text).map_err(|_| ApiError::bad_request("invalid_field", format!("`{name}` must be a non-negative USD amount like \"5.00\"; got {}.", crate::http::error::truncate(&text, 40))))?;
    if m.0 < 0 {
        return Err(ApiError::bad_request("invalid_field", format!("`{name}` must not be negative.")));
    }
    Ok(Some(m.0))
}

pub async fn admin_learner(mut req: Request, ctx: &Ctx<'_>, id: &str) -> Result<Response> {
    admin(&req, ctx)?;
    let r: AdminLearnerRequest = body::json(&mut req, body::FORM_LIMIT).await?;
    let budget = usd_field(r.budget_usd, "budget_usd")?;
    let daily = usd_field(r.daily_budget_usd, "daily_budget_usd")?;
    if !ids::looks_like(id, "lrn_") || !store::admin_update(&ctx.db, id, budget, daily, r.disabled).await? {
        return Err(ApiError::not_found("No learner with this id."));
    }
    let (_, b) = budget_of(ctx, id).await?;
    respond::json(200, &json!({"learner_id": id, "budget": b.to_json()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    uses: i64,
}

pub async fn admin_invite(mut req: Request, ctx: &Ctx<'_>) -> Result<Response> {
    admin(&req, ctx)?;
    let r: InviteRequest = body::json(&mut req, body::FORM_LIMIT).await?;
    if !(1..=100_000).contains(&r.uses) {
        return Err(ApiError::bad_request("invalid_field", "`uses` must be an integer from 1 to 100000."));
    }
    let code = ids::random_id("inv_", &platform::random::<20>()?);
    store::create_invite(&ctx.db, &code, r.uses, ctx.now_i()).await?;
    respond::json(201, &json!({"invite": code, "uses": r.uses}))
}
