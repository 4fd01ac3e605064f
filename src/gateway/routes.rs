//! The gateway's routes: `POST /v1/messages`, `POST /v1/chat/completions`, `GET /v1/models`.
//!
//! Critical path (DESIGN.md §9), in order and nothing else: credentials from headers (none → 401,
//! no D1); the body read with a cap; parse and validate; the per-key rate limit (no D1); ONE D1
//! batch that authenticates and reserves; the upstream call (or the in-process demo model).
//! Settlement and everything else run in `ctx.wait_until`, after the response has started.

use super::catalogue::{Catalogue, Model, Provider};
use super::demo::{self, DemoInput};
use super::pricing::{self, MicroUsd};
use super::reserve::Refusal;
use super::sse::Meter;
use crate::transcripts::build::{Exchange, Received};
use super::store::{self, Reserved, ReserveRequest, Settlement};
use super::usage::Usage;
use super::wire::{self, Limits, UpperBound, ValidRequest, WireError};
use super::{tags, Dialect};
use crate::env::{self, Config, GatewayConfig};
use crate::http::{respond, ApiError};
use crate::learners::key::{presented, AcademyKey};
use crate::{course, ids, platform};
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::time::Duration;
use wasm_bindgen::JsValue;
use worker::{AbortController, Context, Delay, Env, Fetch, Headers, Method, Request, RequestInit, Response};

type Result<T> = std::result::Result<T, ApiError>;

/// Refusals that retrying cannot fix say so; the official SDKs honour `x-should-retry`.
fn final_error(e: ApiError) -> ApiError {
    e.with_header("x-should-retry", "false")
}

fn wire_error(e: WireError) -> ApiError {
    final_error(ApiError::new(e.status(), e.code(), e.to_string()).with_param(e.param()))
}

thread_local! {
    /// `MODEL_CATALOGUE_JSON` parsed once per isolate, re-parsed only when the var changes.
    static OVERRIDE: RefCell<Option<(String, &'static Catalogue)>> = const { RefCell::new(None) };
}

/// The catalogue in force: the built-in one, or the operator's override.
pub fn catalogue(config: &GatewayConfig) -> Result<&'static Catalogue> {
    let Some(json) = &config.catalogue_json else { return Ok(Catalogue::builtin()) };
    OVERRIDE.with(|cell| {
        if let Some((cached, c)) = cell.borrow().as_ref() {
            if cached == json {
                return Ok(*c);
            }
        }
        let parsed = Catalogue::from_json(json).map_err(|e| {
            worker::console_error!("MODEL_CATALOGUE_JSON is invalid: {e}");
            ApiError::new(500, "catalogue_invalid", "The academy's model catalogue is misconfigured; the operator has been told.")
        })?;
        let leaked: &'static Catalogue = Box::leak(Box::new(parsed));
        *cell.borrow_mut() = Some((json.clone(), leaked));
        Ok(leaked)
    })
}

/// The request's headers, for the transcript (which keeps only an allowlist of them).
fn request_headers(req: &Request) -> Vec<(String, String)> {
    req.headers().entries().filter(|(k, _)| crate::transcripts::build::HEADER_ALLOWLIST.contains(&k.as_str())).collect()
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// Everything the settlement and the transcript need, owned, to move into `wait_until`.
#[derive(Clone)]
struct Call {
    request_id: String,
    dialect: Dialect,
    model: Model,
    stream: bool,
    max_tokens: u64,
    bound: UpperBound,
    reserved: Reserved,
    lesson: Option<tags::LessonTag>,
    started: u64,
    /// The client's body as sent, and its headers, for the transcript.
    request: serde_json::Map<String, Value>,
    headers: Vec<(String, String)>,
    /// Redacted from transcripts wherever they appear: the learner's key, the academy's keys.
    secrets: Vec<String>,
}

/// What the client got, owned, for the transcript.
enum Got {
    Json(Value),
    Stream(Vec<u8>),
    Error { status: u16, body: String },
    Nothing,
}

impl Call {
    fn endpoint(&self) -> &'static str {
        match self.dialect {
            Dialect::Anthropic => "messages",
            Dialect::OpenAi => "chat_completions",
        }
    }

    fn settlement(&self, status: u16, outcome: &'static str, usage: Usage, estimated: bool) -> Settlement {
        let now = platform::now_ms();
        let cost = if usage == Usage::default() { 0 } else { pricing::cost(&self.model, &usage).0 };
        if cost > self.reserved.amount_micros {
            worker::console_error!("{}: cost {} above the reservation {}; charging the reservation", self.request_id, cost, self.reserved.amount_micros);
        }
        Settlement {
            request_id: self.request_id.clone(),
            cost: cost.min(self.reserved.amount_micros),
            endpoint: self.endpoint(),
            provider: self.model.provider.as_str(),
            model: self.model.alias.clone(),
            upstream_model: Some(self.model.upstream.clone()),
            stream: self.stream,
            status,
            outcome,
            usage,
            estimated,
            latency_ms: i64::try_from(now.saturating_sub(self.started)).unwrap_or(0),
            lesson_id: self.lesson.as_ref().map(|t| t.lesson.clone()),
            run_id: self.lesson.as_ref().and_then(|t| t.run.clone()),
            transcript_key: Some(self.transcript_key()),
            ..Settlement::default()
        }
    }

    /// `transcripts/{learner}/{day}/{request}.json`, on the day the request was reserved.
    fn transcript_key(&self) -> String {
        let day = crate::time::day(self.started);
        crate::transcripts::build::key(&self.reserved.learner_id, &day, &self.request_id)
    }
}

/// After the response, in one `wait_until`: settle and keep the transcript, concurrently (the
/// transcript never depended on the settlement; side by side their I/O overlaps, which took
/// ~0.6 ms off the next back-to-back request on local D1/R2, whose work shares the worker's thread).
fn finish(ctx: &Context, env: &Env, call: Call, s: Settlement, got: Got) {
    let env = env.clone();
    ctx.wait_until(async move { settle_and_keep(&env, &call, &s, &got).await });
}

async fn settle_and_keep(env: &Env, call: &Call, s: &Settlement, got: &Got) {
    futures_util::future::join(settle(env, s), keep(env, call, s, got)).await;
}

async fn settle(env: &Env, s: &Settlement) {
    match env::db(env) {
        Ok(db) => {
            if let Err(e) = store::settle(&db, s).await {
                worker::console_error!("settle {}: {} (the sweep will settle it)", s.request_id, e.message);
            }
        }
        Err(e) => worker::console_error!("settle {}: {e}", s.request_id),
    }
}

async fn keep(env: &Env, call: &Call, s: &Settlement, got: &Got) {
    let Ok(bucket) = env::transcripts(env) else {
        worker::console_error!("transcript {}: no TRANSCRIPTS binding", s.request_id);
        return;
    };
    let received = match got {
        Got::Json(v) => Received::Json(v),
        Got::Stream(b) => Received::Stream(b),
        Got::Error { status, body } => Received::Error { status: *status, body },
        Got::Nothing => Received::Nothing,
    };
    let exchange = Exchange {
        request_id: &call.request_id,
        learner_id: &call.reserved.learner_id,
        dialect: call.dialect,
        model: &call.model.alias,
        upstream_model: (!call.model.is_demo()).then_some(call.model.upstream.as_str()),
        request: &call.request,
        stream: call.stream,
        received,
        status: s.status,
        outcome: s.outcome,
        usage: &s.usage,
        cost_micros: s.cost,
        estimated: s.estimated,
        created_at_ms: call.started,
        latency_ms: u64::try_from(s.latency_ms).unwrap_or(0),
        ttfb_ms: s.ttfb_ms.and_then(|t| u64::try_from(t).ok()),
        lesson_id: s.lesson_id.as_deref(),
        run_id: s.run_id.as_deref(),
        aig_log_id: s.aig_log_id.as_deref(),
        request_headers: &call.headers,
    };
    let secrets: Vec<&str> = call.secrets.iter().map(String::as_str).collect();
    if let Err(e) = crate::transcripts::store::write(&bucket, &call.transcript_key(), &exchange, &secrets).await {
        worker::console_error!("transcript {}: {e}", s.request_id);
    }
}

/// `POST /v1/messages` and `POST /v1/chat/completions`.
pub async fn call(mut req: Request, env: &Env, config: &Config, ctx: &Context, dialect: Dialect) -> Result<Response> {
    let started = platform::now_ms();
    let gw = &config.gateway;

    // 1. Credentials, without D1.
    let raw_key = presented(header(&req, "x-api-key").as_deref(), header(&req, "authorization").as_deref())
        .ok_or_else(|| final_error(ApiError::new(401, "missing_key", "Send your academy key as `x-api-key` or `Authorization: Bearer`.")))?;
    let key = AcademyKey::parse(&raw_key).ok_or_else(|| final_error(ApiError::new(401, "invalid_key", "That is not an academy key (they look like `aa_` and 32 letters and digits).")))?;

    // 2. The body, capped.
    let declared = header(&req, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = declared {
        wire::check_body_len(n, gw.max_body_bytes).map_err(wire_error)?;
    }
    let body = req.bytes().await.map_err(|_| ApiError::bad_request("unreadable_body", "The request body could not be read."))?;
    wire::check_body_len(body.len() as u64, gw.max_body_bytes).map_err(wire_error)?;

    // 3. Parse and validate: all before any D1 or upstream call.
    let catalogue = catalogue(gw)?;
    let limits = Limits { max_messages: gw.max_messages, max_output_tokens_cap: gw.max_output_tokens_cap };
    let valid = wire::parse(dialect, &body, catalogue, &limits).map_err(wire_error)?;
    if !valid.model().is_demo() && config.ai_gateway_url.is_empty() {
        return Err(final_error(ApiError::bad_request(
            "model_unavailable",
            format!("`{}` needs the academy's AI Gateway, which is not configured here; use `demo`, the offline model.", valid.alias()),
        ).with_param(Some("model"))));
    }
    let lesson = match header(&req, "x-academy-lesson") {
        None => None,
        Some(raw) => Some(tags::parse(&raw, |id| course::catalogue::lesson(id).is_some()).map_err(|m| final_error(ApiError::bad_request("invalid_lesson", m)))?),
    };

    // 4. The per-key rate limit (no D1), then ONE D1 batch: authenticate + reserve.
    let key_hash = key.hash();
    platform::rate_limit(env, env::KEY_RATE, key_hash.clone(), "Too many requests with this academy key in the last minute; slow down and retry after the time in `retry-after`.").await?;
    let bound = valid.upper_bound(body.len());
    let now = i64::try_from(started).unwrap_or(i64::MAX);
    let day = crate::time::day_of(now);
    let request_id = ids::request_id(started, platform::random::<10>()?);
    let ttl = i64::try_from(wire::reservation_ttl_ms(valid.max_tokens())).unwrap_or(i64::MAX);
    let db = env::require_db(env)?;
    let ask = ReserveRequest {
        request_id: &request_id,
        day: &day,
        amount: bound.cost.0,
        now,
        expires_at: now.saturating_add(ttl),
        key_hash: &key_hash,
        academy_cap: config.academy_daily_cap.0,
    };
    let Some(reserved) = store::reserve(&db, &ask).await? else {
        let why = store::diagnose(&db, &key_hash, &day, bound.cost.0).await?;
        return Err(refused(why, &valid, &bound, body.len()));
    };

    let call = Call {
        request_id,
        dialect,
        model: valid.model().clone(),
        stream: valid.stream(),
        max_tokens: valid.max_tokens(),
        bound,
        reserved,
        lesson,
        started,
        request: valid.body().clone(),
        headers: request_headers(&req),
        secrets: [Some(raw_key.clone()), gw.anthropic_api_key.clone(), gw.openai_api_key.clone(), gw.cf_aig_token.clone()].into_iter().flatten().collect(),
    };

    // 5. Answer: in process for the demo model, else through AI Gateway.
    if call.model.is_demo() {
        return demo_answer(env, ctx, &valid, call);
    }
    forward(req, env, config, ctx, &valid, call).await
}

/// The 401/403/402 of a refused reservation, with the arithmetic for budget refusals.
fn refused(why: Refusal, valid: &ValidRequest, bound: &UpperBound, body_len: usize) -> ApiError {
    let usd = |m: i64| format!("${}", MicroUsd(m).to_usd_string());
    let budget = |scope: &str, left: i64, when: &str| {
        let fits = valid.largest_affordable_max_tokens(body_len, MicroUsd(left));
        let hint = if fits > 0 {
            format!("Lower `max_tokens` to at most {fits}, or {when}.")
        } else {
            format!("Even the prompt alone does not fit; send a shorter request, or {when}.")
        };
        final_error(ApiError::new(
            402,
            "budget_exceeded",
            format!(
                "Your {scope} budget has {} left, and this request reserves up to {} ({} input tokens at most and `max_tokens` {}). {hint}",
                usd(left),
                usd(bound.cost.0),
                bound.input_tokens,
                bound.output_tokens
            ),
        ))
    };
    match why {
        Refusal::BadKey => final_error(ApiError::new(401, "invalid_key", "This academy key is unknown or revoked.")),
        Refusal::Disabled => final_error(ApiError::new(403, "disabled", "This learner account is disabled; ask the academy's operator.")),
        Refusal::Total { left } => budget("total", left, "ask the academy's operator for more budget"),
        Refusal::Daily { left } => budget("daily", left, "wait for tomorrow (UTC)"),
        Refusal::Academy => final_error(ApiError::new(402, "academy_budget_exceeded", "The academy's daily spending cap is reached; try again tomorrow (UTC).")),
    }
}

fn academy_headers(h: &mut Headers, call: &Call, cost: Option<i64>) -> Result<()> {
    respond::set(h, "x-academy-request-id", &call.request_id)?;
    if let Some(cost) = cost {
        respond::set(h, "x-academy-cost-usd", &MicroUsd(cost).to_usd_string())?;
        respond::set(h, "x-academy-budget-remaining-usd", &MicroUsd(call.reserved.remaining_after(cost)).to_usd_string())?;
    }
    Ok(())
}

fn demo_answer(env: &Env, ctx: &Context, valid: &ValidRequest, call: Call) -> Result<Response> {
    let seed = u64::from_le_bytes(platform::random::<8>()?);
    let input = DemoInput {
        dialect: call.dialect,
        request: valid.body(),
        max_tokens: call.max_tokens,
        id: call.request_id.trim_start_matches("req_"),
        created: call.started / 1000,
        variation: seed,
    };
    let reply = demo::answer(&input);
    let (input_tokens, output_tokens) = reply.usage();
    let usage = Usage { input: input_tokens, output: output_tokens, ..Usage::default() };
    let settlement = call.settlement(200, "ok", usage, false);
    let cost = settlement.cost;
    let sse = call.stream.then(|| reply.to_sse().concat());
    let json_body = reply.to_json();
    let mut response = if let Some(sse) = &sse {
        let mut r = Response::ok(sse.clone()).map_err(respond::internal)?;
        respond::set(r.headers_mut(), "content-type", "text/event-stream; charset=utf-8")?;
        respond::set(r.headers_mut(), "cache-control", "no-cache")?;
        r
    } else {
        respond::json(200, &json_body)?
    };
    academy_headers(response.headers_mut(), &call, (!call.stream).then_some(cost))?;
    let got = match sse {
        Some(s) => Got::Stream(s.into_bytes()),
        None => Got::Json(json_body),
    };
    finish(ctx, env, call, settlement, got);
    Ok(response)
}

/// The upstream request: the academy's own credentials and tags, nothing else from the client.
fn upstream_request(req: &Request, config: &Config, valid: &ValidRequest, call: &Call) -> Result<Request> {
    let gw = &config.gateway;
    let base = config.ai_gateway_url.trim_end_matches('/');
    let h = Headers::new();
    let set = |name: &str, value: &str| h.set(name, value).map_err(|_| ApiError::internal("header"));
    set("content-type", "application/json")?;
    let url = match call.model.provider {
        Provider::Anthropic => {
            // Without a key here, AI Gateway's stored provider keys (BYOK) authenticate the call.
            if let Some(k) = &gw.anthropic_api_key {
                set("x-api-key", k)?;
            }
            set("anthropic-version", header(req, "anthropic-version").as_deref().filter(|v| v.len() <= 32).unwrap_or("2023-06-01"))?;
            let betas: Vec<String> = header(req, "anthropic-beta")
                .unwrap_or_default()
                .split(',')
                .map(|b| b.trim().to_string())
                .filter(|b| gw.anthropic_betas.contains(b))
                .collect();
            if !betas.is_empty() {
                set("anthropic-beta", &betas.join(","))?;
            }
            format!("{base}/anthropic/v1/messages")
        }
        _ => {
            if let Some(k) = &gw.openai_api_key {
                set("authorization", &format!("Bearer {k}"))?;
            }
            format!("{base}/openai/chat/completions")
        }
    };
    if let Some(token) = &gw.cf_aig_token {
        set("cf-aig-authorization", &format!("Bearer {token}"))?;
    }
    let mut meta = serde_json::Map::new();
    meta.insert("learner".into(), json!(call.reserved.learner_id));
    if let Some(t) = &call.lesson {
        meta.insert("lesson".into(), json!(t.lesson));
        if let Some(run) = &t.run {
            meta.insert("run".into(), json!(run));
        }
    }
    meta.insert("request".into(), json!(call.request_id));
    set("cf-aig-metadata", &Value::Object(meta).to_string())?;
    set("cf-aig-collect-log-payload", if gw.collect_log_payload { "true" } else { "false" })?;
    let body = valid.upstream_body();
    let array = js_sys_bytes(&body);
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(h).with_body(Some(array));
    Request::new_with_init(&url, &init).map_err(respond::internal)
}

fn js_sys_bytes(bytes: &[u8]) -> JsValue {
    let array = worker::js_sys::Uint8Array::new_with_length(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
    array.copy_from(bytes);
    array.into()
}

async fn forward(req: Request, env: &Env, config: &Config, ctx: &Context, valid: &ValidRequest<'_>, call: Call) -> Result<Response> {
    let upstream = upstream_request(&req, config, valid, &call)?;
    let timeout = Duration::from_millis(config.gateway.upstream_timeout_ms);
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetcher = Fetch::Request(upstream);
    let fetch = Box::pin(fetcher.send_with_signal(&signal));
    let outcome = select(fetch, Box::pin(Delay::from(timeout))).await;
    let mut resp = match outcome {
        Either::Left((Ok(resp), _)) => resp,
        Either::Left((Err(e), _)) => {
            worker::console_error!("{}: upstream fetch failed: {e}", call.request_id);
            let id = call.request_id.clone();
            let s = call.settlement(502, "upstream_unreachable", Usage::default(), false);
            finish(ctx, env, call, s, Got::Nothing);
            return Err(ApiError::new(502, "upstream_unreachable", "The model provider could not be reached; try again shortly.").with_header("x-academy-request-id", id));
        }
        Either::Right(_) => {
            controller.abort();
            let id = call.request_id.clone();
            let s = call.settlement(504, "timeout", Usage::default(), false);
            finish(ctx, env, call, s, Got::Nothing);
            return Err(ApiError::new(504, "upstream_timeout", format!("The model provider did not answer within {} ms; try again.", config.gateway.upstream_timeout_ms))
                .with_header("x-academy-request-id", id));
        }
    };
    let ttfb = i64::try_from(platform::now_ms().saturating_sub(call.started)).ok();
    let status = resp.status_code();
    let aig_log_id = resp.headers().get("cf-aig-log-id").ok().flatten();

    if status != 200 {
        let text = read_with_timeout(&mut resp, timeout).await.unwrap_or_default();
        let (error, outcome) = upstream_error(status, &text, resp.headers(), &call.request_id);
        let mut s = call.settlement(error.status, outcome, Usage::default(), false);
        s.ttfb_ms = ttfb;
        s.aig_log_id = aig_log_id;
        let error = error.with_header("x-academy-request-id", call.request_id.clone());
        finish(ctx, env, call, s, Got::Error { status, body: text });
        return Err(error);
    }
    if call.stream {
        return pump(resp, env, ctx, call, valid.added_include_usage(), ttfb, aig_log_id, timeout);
    }

    let text = match read_with_timeout(&mut resp, timeout).await {
        Some(t) => t,
        None => {
            // Headers came, the body did not: the upstream may have served tokens; charge the
            // reservation as an estimate rather than nothing.
            let mut s = call.settlement(504, "timeout", Usage { input: call.bound.input_tokens, output: call.max_tokens, ..Usage::default() }, true);
            s.ttfb_ms = ttfb;
            s.aig_log_id = aig_log_id;
            finish(ctx, env, call, s, Got::Nothing);
            return Err(ApiError::new(504, "upstream_timeout", "The model provider stopped answering mid-response; try again."));
        }
    };
    let parsed: Option<Value> = serde_json::from_str(&text).ok();
    let usage_value = parsed.as_ref().and_then(|v| v.get("usage")).filter(|u| u.is_object());
    let (usage, estimated) = match usage_value {
        Some(u) => (
            match call.dialect {
                Dialect::Anthropic => Usage::from_anthropic(u),
                Dialect::OpenAi => Usage::from_openai(u),
            },
            false,
        ),
        None => (Usage { input: call.bound.input_tokens, output: call.max_tokens, ..Usage::default() }, true),
    };
    let mut s = call.settlement(200, if estimated { "no_usage" } else { "ok" }, usage, estimated);
    s.ttfb_ms = ttfb;
    s.aig_log_id = aig_log_id;
    s.stop_reason = parsed.as_ref().and_then(|v| stop_reason(call.dialect, v));
    let cost = s.cost;
    let mut response = Response::ok(text).map_err(respond::internal)?;
    respond::set(response.headers_mut(), "content-type", "application/json")?;
    copy_provider_ids(resp.headers(), response.headers_mut());
    academy_headers(response.headers_mut(), &call, Some(cost))?;
    let got = match parsed {
        Some(v) => Got::Json(v),
        None => Got::Error { status: 200, body: String::new() },
    };
    finish(ctx, env, call, s, got);
    Ok(response)
}

fn stop_reason(dialect: Dialect, v: &Value) -> Option<String> {
    let r = match dialect {
        Dialect::Anthropic => v.get("stop_reason"),
        Dialect::OpenAi => v.get("choices").and_then(|c| c.get(0)).and_then(|c| c.get("finish_reason")),
    };
    r.and_then(Value::as_str).map(str::to_string)
}

fn copy_provider_ids(from: &Headers, to: &mut Headers) {
    for name in ["request-id", "x-request-id"] {
        if let Ok(Some(v)) = from.get(name) {
            let _ = to.set(name, &v);
        }
    }
}

async fn read_with_timeout(resp: &mut Response, timeout: Duration) -> Option<String> {
    match select(Box::pin(resp.text()), Box::pin(Delay::from(timeout))).await {
        Either::Left((Ok(t), _)) => Some(t),
        _ => None,
    }
}

/// Maps an upstream failure to the client's error (DESIGN.md §4) and the usage row's outcome.
fn upstream_error(status: u16, text: &str, headers: &Headers, request_id: &str) -> (ApiError, &'static str) {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    // AI Gateway's own errors are not provider-shaped: quote them in ours.
    if let Some(errors) = parsed.as_ref().filter(|v| v.get("success") == Some(&Value::Bool(false))).and_then(|v| v.get("error")).and_then(Value::as_array) {
        let first = errors.first();
        let code = first.and_then(|e| e.get("code")).map(Value::to_string).unwrap_or_default();
        let message = first.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("unknown error");
        worker::console_error!("{request_id}: AI Gateway error {status} {code}: {message}");
        let e = ApiError::new(502, "gateway_error", format!("The academy's AI Gateway refused the call ({code}: {}).", crate::http::error::truncate(message, 200)));
        return (final_error(e), "gateway_error");
    }
    if status == 401 || status == 403 {
        worker::console_error!("{request_id}: upstream {status}: the academy's provider credentials were rejected");
        let e = ApiError::new(502, "upstream_credentials", "The academy's upstream credentials were rejected; the operator has been told.");
        return (final_error(e), "upstream_auth");
    }
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(|m| crate::http::error::truncate(m, 1000).to_string())
        .unwrap_or_else(|| format!("The model provider answered {status}."));
    let mut e = ApiError::new(status, "upstream_error", message);
    if let Ok(Some(retry)) = headers.get("retry-after") {
        e = e.with_header("retry-after", retry);
    }
    if let Some(t) = parsed.as_ref().and_then(|v| v.get("error")).and_then(|e| e.get("type")).and_then(Value::as_str) {
        worker::console_log!("{request_id}: upstream {status} {t}");
    }
    (e, "upstream_error")
}

/// Streams the upstream to the client through the incremental meter. The handler returns at
/// once; the pump runs in `wait_until`, so if the client goes away it keeps reading the
/// upstream to its end and the real usage is still charged.
#[allow(clippy::too_many_arguments)]
fn pump(mut upstream: Response, env: &Env, ctx: &Context, call: Call, hide_usage_chunk: bool, ttfb: Option<i64>, aig_log_id: Option<String>, idle: Duration) -> Result<Response> {
    let (tx, rx) = futures_channel::mpsc::unbounded::<std::result::Result<Vec<u8>, worker::Error>>();
    let mut body = upstream.stream().map_err(respond::internal)?;
    let env = env.clone();
    let mut response = Response::from_stream(rx).map_err(respond::internal)?;
    let h = response.headers_mut();
    respond::set(h, "content-type", "text/event-stream; charset=utf-8")?;
    respond::set(h, "cache-control", "no-cache")?;
    copy_provider_ids(upstream.headers(), h);
    academy_headers(h, &call, None)?;
    ctx.wait_until(async move {
        let mut meter = Meter::new(call.dialect, hide_usage_chunk);
        let mut broken: Option<String> = None;
        // What the client received, for the transcript (capped; the rest is still metered).
        let mut kept: Vec<u8> = Vec::new();
        let mut keep = |bytes: &[u8]| {
            let room = TRANSCRIPT_STREAM_CAP.saturating_sub(kept.len());
            kept.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or(&[]));
        };
        loop {
            match select(body.next(), Box::pin(Delay::from(idle))).await {
                Either::Left((Some(Ok(chunk)), _)) => {
                    let out = meter.feed(&chunk);
                    if !out.is_empty() {
                        keep(&out);
                        // A send fails once the client has gone: ignore it and keep metering.
                        let _ = tx.unbounded_send(Ok(out));
                    }
                }
                Either::Left((Some(Err(e)), _)) => {
                    broken = Some(e.to_string());
                    break;
                }
                Either::Left((None, _)) => break,
                Either::Right(_) => {
                    broken = Some(format!("no data for {} ms", idle.as_millis()));
                    break;
                }
            }
        }
        let rest = meter.finish();
        if !rest.is_empty() {
            keep(&rest);
            let _ = tx.unbounded_send(Ok(rest));
        }
        let outcome = meter.outcome();
        let exact = outcome.exact_usage();
        if exact.is_none() && outcome.upstream_error.is_none() {
            let last = terminal_error(call.dialect, broken.as_deref()).into_bytes();
            keep(&last);
            let _ = tx.unbounded_send(Ok(last));
        }
        drop(tx);
        let (usage, estimated, result) = match exact {
            Some(u) => (u, false, "ok"),
            None => {
                let what = if outcome.upstream_error.is_some() {
                    "upstream_error"
                } else if outcome.complete {
                    "no_usage"
                } else {
                    "cut"
                };
                (outcome.estimate(call.bound.input_tokens, call.max_tokens), true, what)
            }
        };
        if let Some(why) = &broken {
            worker::console_log!("{}: upstream stream broke: {why}", call.request_id);
        }
        let mut s = call.settlement(200, result, usage, estimated);
        s.ttfb_ms = ttfb;
        s.aig_log_id = aig_log_id;
        s.stop_reason = outcome.stop_reason.clone();
        settle_and_keep(&env, &call, &s, &Got::Stream(kept)).await;
    });
    Ok(response)
}

/// The most of a streamed answer kept for its transcript (the stored document is capped too).
const TRANSCRIPT_STREAM_CAP: usize = 2 * 1024 * 1024;

/// The last event a client gets when the upstream stream broke, in its dialect.
fn terminal_error(dialect: Dialect, why: Option<&str>) -> String {
    let message = format!("The model provider's stream ended early{}; the partial answer above is incomplete.", why.map(|w| format!(" ({w})")).unwrap_or_default());
    match dialect {
        Dialect::Anthropic => format!("event: error\ndata: {}\n\n", json!({"type": "error", "error": {"type": "api_error", "message": message}})),
        Dialect::OpenAi => format!("data: {}\n\n", json!({"error": {"message": message, "type": "api_error", "param": null, "code": "stream_cut"}})),
    }
}

/// `GET /v1/models`: one body both SDKs' `models.list()` accept.
pub fn models(config: &Config) -> Result<Response> {
    let catalogue = catalogue(&config.gateway)?;
    let offline = config.ai_gateway_url.is_empty();
    let data: Vec<Value> = catalogue
        .iter()
        .filter(|m| !offline || m.is_demo())
        .map(|m| {
            json!({
                "id": m.alias, "object": "model", "type": "model", "display_name": m.display_name,
                "created": m.created, "created_at": crate::time::rfc3339(m.created.saturating_mul(1000)).replace(".000Z", "Z"), "owned_by": m.provider.owned_by(),
            })
        })
        .collect();
    let first = data.first().and_then(|m| m.get("id")).cloned().unwrap_or(Value::Null);
    let last = data.last().and_then(|m| m.get("id")).cloned().unwrap_or(Value::Null);
    respond::json(200, &json!({"object": "list", "data": data, "has_more": false, "first_id": first, "last_id": last}))
}


/// The cron sweep: reservations past their expiry (the worker died, or `wait_until` was cut)
/// are settled as `abandoned`, charging the reservation, flagged estimated.
pub async fn sweep(env: &Env) {
    let Ok(db) = env::db(env) else { return };
    let now = i64::try_from(platform::now_ms()).unwrap_or(i64::MAX);
    let expired = match store::expired(&db, now, 200).await {
        Ok(rows) => rows,
        Err(e) => {
            worker::console_error!("sweep: {}", e.message);
            return;
        }
    };
    for r in expired {
        let s = Settlement {
            request_id: r.id.clone(),
            cost: r.amount_micros,
            endpoint: "unknown",
            provider: "unknown",
            model: "unknown".into(),
            status: 0,
            outcome: "abandoned",
            estimated: true,
            ..Settlement::default()
        };
        if let Err(e) = store::settle(&db, &s).await {
            worker::console_error!("sweep settle {}: {}", r.id, e.message);
        }
    }
}

/// Bench-only (feature `bench`): forwards the body to AI Gateway's Anthropic route and streams
/// the answer back, with nothing else — the floor the academy's own overhead is read against.
/// With `env` (`POST /bench/forward-d1`) it first makes ONE D1 round trip: the academy's own
/// reserve batch for the key in `x-api-key`, reserving 0 and deleting the reservation again in
/// the same batch (only the day rows' request counts move) — "bare forwarding + one D1 round
/// trip", measured rather than added up.
#[cfg(feature = "bench")]
pub async fn bench_forward(mut req: Request, config: &Config, env: Option<&Env>) -> Result<Response> {
    let body = req.bytes().await.map_err(|_| ApiError::bad_request("unreadable_body", "unreadable"))?;
    if let Some(env) = env {
        let key = header(&req, "x-api-key").as_deref().and_then(AcademyKey::parse).ok_or_else(|| ApiError::new(401, "invalid_key", "x-api-key: an academy key"))?;
        let db = env::require_db(env)?;
        let started = platform::now_ms();
        let id = ids::request_id(started, platform::random::<10>()?);
        let now = i64::try_from(started).unwrap_or(0);
        let day = crate::time::day(started);
        let r = ReserveRequest { request_id: &id, day: &day, amount: 0, now, expires_at: now, key_hash: &key.hash(), academy_cap: i64::MAX };
        if !store::reserve_and_release(&db, &r).await? {
            return Err(ApiError::new(402, "bench_refused", "the bench's reserve batch was refused"));
        }
    }
    let h = Headers::new();
    let _ = h.set("content-type", "application/json");
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(h).with_body(Some(js_sys_bytes(&body)));
    let url = format!("{}/anthropic/v1/messages", config.ai_gateway_url.trim_end_matches('/'));
    let upstream = Request::new_with_init(&url, &init).map_err(respond::internal)?;
    let resp = Fetch::Request(upstream).send().await.map_err(respond::internal)?;
    let (builder, body) = resp.into_parts();
    Ok(builder.body(body))
}
