//! The stub AI Gateway (DESIGN.md §11): a loopback HTTP server that answers
//! `POST /v1/{account}/{gateway}/anthropic/v1/messages` and
//! `POST /v1/{account}/{gateway}/openai/chat/completions` in the providers' real JSON and SSE
//! shapes (those of `tests/fixtures/`), records every request it receives, and fails on request.
//!
//! Terms:
//! - **marker**: a `[stub:…]` string anywhere in the request body. Markers choose the usage and
//!   the fault *per request*, so tests run in parallel with no global mode. The full list is on
//!   [`Faults`].
//! - **served**: the usage the stub put in front of the client, see [`Served`].
//!
//! Usage is deterministic: input = 100 + number of messages, output = min(20, max tokens),
//! unless `[stub:usage=IN,OUT]` gives them. Text has about one word per output token (at most
//! 400 words), streamed in several deltas; every write ends in the middle of an event (and, where
//! an event holds a multi-byte character, inside that character), so readers see events split
//! across chunks on every run.
//!
//! Self-contained on purpose: it names nothing from `helpers.rs`, so a small binary can include it
//! with `#[path]` and call [`serve`] (the Node suites and the bench). It reads no clock for ids
//! beyond `SystemTime` and no randomness beyond a per-process seed.
#![allow(dead_code)] // each test binary that includes this module uses a different part of it

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::serve::ListenerExt;
use axum::Router;
use serde_json::Value;

/// Account and gateway ids in [`Stub::base_url`]; any non-empty pair is accepted.
pub const ACCOUNT: &str = "test-account";
pub const GATEWAY: &str = "test-gateway";

/// How long `[stub:hang]` / `[stub:hang-body]` wait: longer than any test.
const HANG: Duration = Duration::from_secs(600);
/// Texts longer than this many words are shortened; the usage still says what the marker said.
const MAX_WORDS: u64 = 400;
/// About this many text deltas per answer.
const DELTAS: u64 = 24;
const FINGERPRINT: &str = "fp_5f8c3b1a7d";

/// Put in the answer by `[stub:usage-text]`: text that looks like usage to anything that
/// substring-matches instead of parsing. JSON escaping keeps the SSE framing intact.
pub const FAKE_USAGE_TEXT: &str = " {\"usage\":{\"input_tokens\":999999,\"output_tokens\":999999}} \
\"message_delta\" \"message_stop\" {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":999999}} \
{\"usage\":{\"prompt_tokens\":999999,\"completion_tokens\":999999,\"total_tokens\":1999998}}\n\n\
event: message_delta\ndata: [DONE]\n\n";

const VOCABULARY: [&str; 16] = [
    "Stub", "reply", "from", "the", "test", "gateway", "with", "café", "words", "for", "metering",
    "each", "one", "counts", "as", "token",
];

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// The running stub. One per test process, started by [`stub`].
pub struct Stub {
    port: u16,
    shared: Arc<Shared>,
}

/// One request the stub received (every path except `GET /healthz`).
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The URI path, e.g. `/v1/test-account/test-gateway/anthropic/v1/messages`.
    pub path: String,
    /// Request headers, names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, `Value::Null` when it is not JSON.
    pub body: Value,
    /// The body as text (lossy UTF-8).
    pub raw: String,
    /// The `cf-aig-log-id` the stub answered with.
    pub log_id: String,
    /// The provider request id header it answered with (`request-id` / `x-request-id`); `None`
    /// for AI Gateway's own errors and unknown paths.
    pub request_id: Option<String>,
    /// What it served so far; `None` for errors, hangs, and before the first byte of a body.
    pub served: Option<Served>,
}

impl Recorded {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The usage the stub served for one request, in one accounting for both providers.
///
/// `input` is **uncached** input: Anthropic `input_tokens`; OpenAI `prompt_tokens` minus
/// `cached_tokens`. `cache_read` is Anthropic `cache_read_input_tokens` / OpenAI `cached_tokens`;
/// `cache_write` is Anthropic `cache_creation_input_tokens` (all 5-minute; 0 for OpenAI).
/// `output` is the output of what was sent: the full output once the answer is complete, and
/// for a cut or hung stream the tokens of the deltas sent before it broke.
/// `reported` is true only when the body carried this usage as final: a JSON body with `usage`,
/// or a stream that reached `message_stop` / `data: [DONE]` after its usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Served {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub reported: bool,
}

impl Served {
    /// `(input, output)`.
    pub fn pair(&self) -> (u64, u64) {
        (self.input, self.output)
    }
}

/// The one stub of this process, started on first use on its own thread and runtime (each
/// `#[tokio::test]` runtime ends with its test; the stub must outlive them all).
#[allow(clippy::panic)] // without its stub no integration test can run
pub fn stub() -> &'static Stub {
    static STUB: OnceLock<Stub> = OnceLock::new();
    STUB.get_or_init(|| match Stub::start() {
        Ok(stub) => stub,
        Err(err) => panic!("cannot start the stub AI Gateway: {err}"),
    })
}

impl Stub {
    fn start() -> std::io::Result<Stub> {
        // Bind here, so the port is listening before `stub()` returns.
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::new(true));
        let for_thread = Arc::clone(&shared);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
        std::thread::Builder::new()
            .name("stub-ai-gateway".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(4)
                    .thread_name("stub-ai-gateway-worker")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    if let Err(err) = run(listener, for_thread).await {
                        eprintln!("stub AI Gateway stopped: {err}");
                    }
                });
            })?;
        ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("stub thread exited before it was ready"))??;
        Ok(Stub { port, shared })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:{port}`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What goes in `AI_GATEWAY_URL`: `http://127.0.0.1:{port}/v1/test-account/test-gateway`.
    pub fn base_url(&self) -> String {
        format!("{}/v1/{ACCOUNT}/{GATEWAY}", self.origin())
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().clone()
    }

    /// The requests whose raw body contains `needle` (tests put a unique id in each prompt).
    pub fn requests_containing(&self, needle: &str) -> Vec<Recorded> {
        self.shared
            .lock()
            .iter()
            .filter(|r| r.raw.contains(needle))
            .cloned()
            .collect()
    }

    pub fn count_containing(&self, needle: &str) -> usize {
        self.shared
            .lock()
            .iter()
            .filter(|r| r.raw.contains(needle))
            .count()
    }
}

/// Serves the stub on `listener` until the process ends, recording nothing (for a standalone
/// binary: the Node suites and the bench, where nobody reads the records).
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    run(listener, Arc::new(Shared::new(false))).await
}

async fn run(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> std::io::Result<()> {
    let app = Router::new()
        .fallback(handle)
        .with_state(shared)
        .layer(DefaultBodyLimit::disable());
    // No Nagle: each small write goes out at once, so chunk boundaries stay where they are put.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

struct Shared {
    record: bool,
    failed_once: Mutex<std::collections::HashSet<String>>,
    requests: Mutex<Vec<Recorded>>,
    next: AtomicU64,
    seed: u64,
}

impl Shared {
    fn new(record: bool) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Shared {
            record,
            failed_once: Mutex::new(std::collections::HashSet::new()),
            requests: Mutex::new(Vec::new()),
            next: AtomicU64::new(0),
            seed: mix(nanos ^ u64::from(std::process::id()).rotate_left(32)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Recorded>> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, rec: Recorded) -> Option<usize> {
        if !self.record {
            return None;
        }
        let mut all = self.lock();
        all.push(rec);
        Some(all.len() - 1)
    }

    fn set_served(&self, idx: Option<usize>, served: Served) {
        if let Some(i) = idx {
            if let Some(rec) = self.lock().get_mut(i) {
                rec.served = Some(served);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Markers
// ---------------------------------------------------------------------------------------------

/// The markers of one request (all found anywhere in the raw body; they combine):
///
/// | marker | effect |
/// |---|---|
/// | `[stub:usage=IN,OUT]` | usage exactly IN input, OUT output (default 100 + messages, min(20, max tokens)) |
/// | `[stub:cache=READ,WRITE]` | adds cache reads and 5-minute cache writes (OpenAI: READ as `cached_tokens`, inside `prompt_tokens`; WRITE ignored) |
/// | `[stub:tool]` | with `tools` and a last message that is not a tool result: a call of the first tool |
/// | `[stub:status=NNN]` | that status (400–599) with the provider's real error body; `retry-after: 1` on 429 |
/// | `[stub:aig-error]`, `[stub:aig-error=NNN]` | AI Gateway's own error body, status 401 or NNN |
/// | `[stub:hang]` | no headers for 10 minutes |
/// | `[stub:hang-body]` | 200, headers and the first event (JSON: half the body), then 10 minutes of nothing |
/// | `[stub:cut]` | half the events (JSON: half the body), part of the next, then the connection breaks |
/// | `[stub:malformed]` | streams: `data: {not json` + blank line after the second event, then the rest |
/// | `[stub:no-usage]` | no usage: OpenAI chunks without `usage` (even with `include_usage`); Anthropic `message_delta` without `usage`; JSON without `usage` |
/// | `[stub:slow=MS]` | streams: MS ms between events; JSON: MS ms before the response |
/// | `[stub:usage-text]` | the answer's text contains [`FAKE_USAGE_TEXT`] |
/// | `[stub:fail-first=NNN]` | the first request with this exact body fails with NNN; repeats succeed |
#[derive(Clone, Debug, Default)]
struct Faults {
    usage: Option<(u64, u64)>,
    cache: Option<(u64, u64)>,
    tool: bool,
    status: Option<u16>,
    aig_error: Option<u16>,
    hang: bool,
    hang_body: bool,
    cut: bool,
    malformed: bool,
    no_usage: bool,
    slow: Option<u64>,
    usage_text: bool,
    fail_first: Option<u16>,
}

impl Faults {
    fn parse(raw: &str) -> Self {
        let status_in_range = |s: &u16| (400..=599).contains(s);
        Faults {
            usage: marker_value(raw, "usage").and_then(pair),
            cache: marker_value(raw, "cache").and_then(pair),
            tool: raw.contains("[stub:tool]"),
            status: marker_value(raw, "status")
                .and_then(|v| v.trim().parse().ok())
                .filter(status_in_range),
            aig_error: if raw.contains("[stub:aig-error]") {
                Some(401)
            } else {
                marker_value(raw, "aig-error")
                    .and_then(|v| v.trim().parse().ok())
                    .filter(status_in_range)
            },
            hang: raw.contains("[stub:hang]"),
            hang_body: raw.contains("[stub:hang-body]"),
            cut: raw.contains("[stub:cut]"),
            malformed: raw.contains("[stub:malformed]"),
            no_usage: raw.contains("[stub:no-usage]"),
            slow: marker_value(raw, "slow").and_then(|v| v.trim().parse().ok()),
            usage_text: raw.contains("[stub:usage-text]"),
            fail_first: marker_value(raw, "fail-first").and_then(|v| v.trim().parse().ok()).filter(status_in_range),
        }
    }
}

/// The text between `[stub:{name}=` and the next `]`.
fn marker_value<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("[stub:{name}=");
    let start = raw.find(&open)? + open.len();
    let rest = raw.get(start..)?;
    rest.get(..rest.find(']')?)
}

fn pair(v: &str) -> Option<(u64, u64)> {
    let (a, b) = v.split_once(',')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

// ---------------------------------------------------------------------------------------------
// Request handling
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Provider {
    Anthropic,
    OpenAi,
}

fn route(method: &Method, path: &str) -> Option<Provider> {
    if method != Method::POST {
        return None;
    }
    let mut parts = path.strip_prefix("/v1/")?.splitn(3, '/');
    let (account, gateway, tail) = (parts.next()?, parts.next()?, parts.next()?);
    if account.is_empty() || gateway.is_empty() {
        return None;
    }
    match tail {
        "anthropic/v1/messages" => Some(Provider::Anthropic),
        "openai/chat/completions" => Some(Provider::OpenAi),
        _ => None,
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    if path == "/healthz" && (method == Method::GET || method == Method::HEAD) {
        return respond(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            vec![],
            Body::from("ok"),
        );
    }

    let n = shared.next.fetch_add(1, Ordering::Relaxed);
    let provider = route(&method, &path);
    let ids = Ids::new(shared.seed, n, provider.unwrap_or(Provider::Anthropic));
    let raw = String::from_utf8_lossy(&body).into_owned();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let idx = shared.push(Recorded {
        path,
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: json.clone(),
        raw: raw.clone(),
        log_id: ids.log_id.clone(),
        request_id: provider.map(|_| ids.request_id.clone()),
        served: None,
    });

    let Some(provider) = provider else {
        return aig_error(StatusCode::NOT_FOUND, &ids);
    };
    let faults = Faults::parse(&raw);

    // AI Gateway answers for itself before it calls the provider.
    if let Some(status) = faults.aig_error {
        return aig_error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED),
            &ids,
        );
    }
    if faults.hang {
        tokio::time::sleep(HANG).await;
        return aig_error(StatusCode::GATEWAY_TIMEOUT, &ids);
    }
    if let Some(status) = faults.status {
        return provider_error(provider, status, &ids, None);
    }
    // The first time this exact body arrives it fails; the SDK's retry (same body) succeeds.
    if let Some(status) = faults.fail_first {
        let first = shared.failed_once.lock().unwrap_or_else(|e| e.into_inner()).insert(raw.clone());
        if first {
            return provider_error(provider, status, &ids, None);
        }
    }
    let ask = match Ask::parse(provider, &json, &faults) {
        Ok(ask) => ask,
        Err(message) => return provider_error(provider, 400, &ids, Some(&message)),
    };
    let reply = Reply::new(provider, &ask, &faults, ids);

    if ask.stream {
        let events = match provider {
            Provider::Anthropic => anthropic_stream(&reply, &faults),
            Provider::OpenAi => openai_stream(&reply, &faults, ask.include_usage),
        };
        let steps = plan_stream(events, reply.served_base(), &faults);
        let body = play(steps, Arc::clone(&shared), idx);
        let mut headers = reply.provider_headers();
        headers.push(("cache-control", "no-cache".to_owned()));
        respond(
            StatusCode::OK,
            "text/event-stream; charset=utf-8",
            headers,
            body,
        )
    } else {
        let bytes = match provider {
            Provider::Anthropic => anthropic_json(&reply, &faults).compact(),
            Provider::OpenAi => openai_json(&reply, &faults).pretty() + "\n",
        }
        .into_bytes();
        let broken = faults.cut || faults.hang_body;
        let served = Served {
            output: if broken { 0 } else { reply.usage.output },
            reported: !broken && !faults.no_usage,
            ..reply.served_base()
        };
        shared.set_served(idx, served);
        let body = if broken {
            let half = bytes.len() / 2;
            let (head, _) = bytes.split_at(half);
            let mut steps =
                VecDeque::from([Step::Write(Bytes::copy_from_slice(head)), Step::Yield]);
            steps.push_back(if faults.cut { Step::Fail } else { Step::Hang });
            play(steps, Arc::clone(&shared), None)
        } else {
            if let Some(ms) = faults.slow {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            Body::from(bytes)
        };
        respond(
            StatusCode::OK,
            "application/json",
            reply.provider_headers(),
            body,
        )
    }
}

fn respond(
    status: StatusCode,
    content_type: &str,
    headers: Vec<(&'static str, String)>,
    body: Body,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let map = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        map.insert(axum::http::header::CONTENT_TYPE, v);
    }
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            map.append(HeaderName::from_static(name), v);
        }
    }
    response
}

/// AI Gateway's own error body (it never reached the provider): no provider request id.
fn aig_error(status: StatusCode, ids: &Ids) -> Response {
    let (code, message) = match status.as_u16() {
        401 => (2009, "Unauthorized"),
        404 => (2001, "Not Found"),
        504 => (2011, "Gateway Timeout"),
        _ => (2008, "Bad Request"),
    };
    let body = obj([
        ("success", J::Bool(false)),
        ("result", J::Arr(vec![])),
        ("messages", J::Arr(vec![])),
        (
            "error",
            J::Arr(vec![obj([("code", J::Num(code)), ("message", s(message))])]),
        ),
    ]);
    respond(
        status,
        "application/json",
        vec![("cf-aig-log-id", ids.log_id.clone())],
        Body::from(body.compact()),
    )
}

/// The provider's real error body for `status` (fixtures where recorded), with this request's id.
fn provider_error(provider: Provider, status: u16, ids: &Ids, message: Option<&str>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match provider {
        Provider::Anthropic => anthropic_error_body(status, &ids.request_id, message),
        Provider::OpenAi => openai_error_body(status, message),
    };
    let mut headers = vec![("cf-aig-log-id", ids.log_id.clone())];
    match provider {
        Provider::Anthropic => {
            headers.push(("request-id", ids.request_id.clone()));
            let retry = status == 408 || status == 409 || status == 429 || status >= 500;
            headers.push(("x-should-retry", retry.to_string()));
        }
        Provider::OpenAi => headers.push(("x-request-id", ids.request_id.clone())),
    }
    if status == 429 {
        headers.push(("retry-after", "1".to_owned()));
    }
    respond(code, "application/json", headers, Body::from(body))
}

fn anthropic_error_body(status: u16, request_id: &str, message: Option<&str>) -> String {
    let recorded = match (status, message) {
        (400, None) => Some(include_str!("../fixtures/anthropic/error-400.json")),
        (401, None) => Some(include_str!("../fixtures/anthropic/error-401.json")),
        (429, None) => Some(include_str!("../fixtures/anthropic/error-429.json")),
        (529, None) => Some(include_str!("../fixtures/anthropic/error-529.json")),
        _ => None,
    };
    if let Some(fixture) = recorded {
        return replace_request_id(fixture, request_id);
    }
    let (kind, default_message) = match status {
        400 => ("invalid_request_error", "Invalid request"),
        401 => ("authentication_error", "invalid x-api-key"),
        402 => (
            "billing_error",
            "Your credit balance is too low to access the Anthropic API.",
        ),
        403 => (
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        404 => ("not_found_error", "Not found"),
        413 => (
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
        ),
        429 => (
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        ),
        504 => ("timeout_error", "Request timed out"),
        529 => ("overloaded_error", "Overloaded"),
        s if s >= 500 => ("api_error", "Internal server error"),
        _ => ("invalid_request_error", "Invalid request"),
    };
    obj([
        ("type", s("error")),
        (
            "error",
            obj([
                ("type", s(kind)),
                ("message", s(message.unwrap_or(default_message))),
            ]),
        ),
        ("request_id", s(request_id)),
    ])
    .compact()
}

fn replace_request_id(fixture: &str, request_id: &str) -> String {
    const KEY: &str = "\"request_id\":\"";
    let Some(start) = fixture.find(KEY).map(|i| i + KEY.len()) else {
        return fixture.to_owned();
    };
    let Some(len) = fixture.get(start..).and_then(|rest| rest.find('"')) else {
        return fixture.to_owned();
    };
    match (fixture.get(..start), fixture.get(start + len..)) {
        (Some(head), Some(tail)) => format!("{head}{request_id}{tail}"),
        _ => fixture.to_owned(),
    }
}

fn openai_error_body(status: u16, message: Option<&str>) -> String {
    match (status, message) {
        (400, None) => return include_str!("../fixtures/openai/error-400.json").to_owned(),
        (401, None) => return include_str!("../fixtures/openai/error-401.json").to_owned(),
        (429, None) => return include_str!("../fixtures/openai/error-429.json").to_owned(),
        _ => {}
    }
    let (kind, default_message, code) = match status {
        403 => (
            "invalid_request_error",
            "You are not allowed to sample from this model",
            J::Null,
        ),
        404 => (
            "invalid_request_error",
            "The model does not exist or you do not have access to it.",
            s("model_not_found"),
        ),
        503 => (
            "server_error",
            "The engine is currently overloaded, please try again later.",
            J::Null,
        ),
        s if s >= 500 => (
            "server_error",
            "The server had an error while processing your request. Sorry about that!",
            J::Null,
        ),
        _ => ("invalid_request_error", "Invalid request", J::Null),
    };
    obj([(
        "error",
        obj([
            ("message", s(message.unwrap_or(default_message))),
            ("type", s(kind)),
            ("param", J::Null),
            ("code", code),
        ]),
    )])
    .pretty()
        + "\n"
}

// ---------------------------------------------------------------------------------------------
// What the request asks for, and the reply
// ---------------------------------------------------------------------------------------------

struct Ask {
    model: String,
    messages: u64,
    max_tokens: Option<u64>,
    stream: bool,
    include_usage: bool,
    /// The tool to call, when `[stub:tool]` asks for one and the request allows it.
    tool: Option<(String, J)>,
}

impl Ask {
    /// Err: the message of a provider-shaped 400.
    fn parse(provider: Provider, body: &Value, faults: &Faults) -> Result<Ask, String> {
        let Some(body) = body.as_object() else {
            return Err("stub: the request body is not a JSON object".to_owned());
        };
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .ok_or("model: Field required")?
            .to_owned();
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .ok_or("messages: Field required")?;
        let max_tokens = match provider {
            Provider::Anthropic => Some(
                body.get("max_tokens")
                    .and_then(Value::as_u64)
                    .ok_or("max_tokens: Field required")?,
            ),
            Provider::OpenAi => body
                .get("max_completion_tokens")
                .or_else(|| body.get("max_tokens"))
                .and_then(Value::as_u64),
        };
        let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
        let include_usage = body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let last_is_tool_result = messages.last().is_some_and(|m| match provider {
            Provider::Anthropic => {
                m.get("role").and_then(Value::as_str) == Some("user")
                    && m.get("content")
                        .and_then(Value::as_array)
                        .is_some_and(|blocks| {
                            blocks.iter().any(|b| {
                                b.get("type").and_then(Value::as_str) == Some("tool_result")
                            })
                        })
            }
            Provider::OpenAi => m.get("role").and_then(Value::as_str) == Some("tool"),
        });
        let first_tool = body
            .get("tools")
            .and_then(Value::as_array)
            .and_then(|tools| tools.first());
        let tool = match first_tool {
            Some(tool) if faults.tool && !last_is_tool_result => {
                let (name, schema) = match provider {
                    Provider::Anthropic => (tool.get("name"), tool.get("input_schema")),
                    Provider::OpenAi => {
                        let f = tool.get("function");
                        (
                            f.and_then(|f| f.get("name")),
                            f.and_then(|f| f.get("parameters")),
                        )
                    }
                };
                name.and_then(Value::as_str)
                    .map(|name| (name.to_owned(), fill_arguments(schema)))
            }
            _ => None,
        };
        Ok(Ask {
            model,
            messages: messages.len() as u64,
            max_tokens,
            stream,
            include_usage,
            tool,
        })
    }
}

/// The schema's required fields filled with placeholder values ("x" for strings), else `{}`.
fn fill_arguments(schema: Option<&Value>) -> J {
    let required = schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    J::Obj(
        required
            .into_iter()
            .map(|name| {
                let kind = schema
                    .and_then(|s| s.get("properties"))
                    .and_then(|p| p.get(name))
                    .and_then(|p| p.get("type"))
                    .and_then(Value::as_str);
                let value = match kind {
                    Some("integer") | Some("number") => J::Num(1),
                    Some("boolean") => J::Bool(true),
                    Some("array") => J::Arr(vec![]),
                    Some("object") => J::Obj(vec![]),
                    _ => s("x"),
                };
                (name.to_owned(), value)
            })
            .collect(),
    )
}

#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    EndTurn,
    MaxTokens,
    ToolUse,
}

struct Delta {
    text: String,
    tokens: u64,
}

struct Reply {
    model: String,
    usage: Usage,
    deltas: Vec<Delta>,
    /// (id, name, arguments as compact JSON)
    tool: Option<(String, String, String)>,
    stop: Stop,
    ids: Ids,
    provider: Provider,
}

impl Reply {
    fn new(provider: Provider, ask: &Ask, faults: &Faults, ids: Ids) -> Reply {
        let (input, output, truncated) = match faults.usage {
            Some((input, output)) => (input, output, ask.max_tokens.is_some_and(|m| output >= m)),
            None => {
                let output = ask.max_tokens.map_or(20, |m| m.min(20));
                (
                    100 + ask.messages,
                    output,
                    ask.max_tokens.is_some_and(|m| m < 20),
                )
            }
        };
        let (cache_read, cache_write) = faults.cache.unwrap_or((0, 0));
        let usage = Usage {
            input,
            output,
            cache_read,
            cache_write: if provider == Provider::OpenAi {
                0
            } else {
                cache_write
            },
        };
        let tool = ask
            .tool
            .as_ref()
            .map(|(name, args)| (ids.tool_id.clone(), name.clone(), args.compact()));
        let mut texts: Vec<String> = match (&tool, provider) {
            (Some(_), Provider::OpenAi) => vec![],
            (Some((_, name, _)), Provider::Anthropic) => {
                vec!["Calling".to_owned(), format!(" {name}.")]
            }
            (None, _) => words(output),
        };
        if faults.usage_text && tool.is_none() {
            texts.insert(texts.len() / 2, FAKE_USAGE_TEXT.to_owned());
        }
        let real = texts
            .iter()
            .filter(|t| t.as_str() != FAKE_USAGE_TEXT)
            .count() as u64;
        let mut given = 0;
        let deltas = texts
            .into_iter()
            .map(|text| {
                let tokens = if text == FAKE_USAGE_TEXT || real == 0 {
                    0
                } else {
                    let share = output / real + u64::from(given < output % real);
                    given += 1;
                    share
                };
                Delta { text, tokens }
            })
            .collect();
        let stop = if tool.is_some() {
            Stop::ToolUse
        } else if truncated {
            Stop::MaxTokens
        } else {
            Stop::EndTurn
        };
        Reply {
            model: ask.model.clone(),
            usage,
            deltas,
            tool,
            stop,
            ids,
            provider,
        }
    }

    fn text(&self) -> String {
        self.deltas.iter().map(|d| d.text.as_str()).collect()
    }

    fn served_base(&self) -> Served {
        Served {
            input: self.usage.input,
            output: 0,
            cache_read: self.usage.cache_read,
            cache_write: self.usage.cache_write,
            reported: false,
        }
    }

    fn provider_headers(&self) -> Vec<(&'static str, String)> {
        let id_header = match self.provider {
            Provider::Anthropic => "request-id",
            Provider::OpenAi => "x-request-id",
        };
        vec![
            ("cf-aig-log-id", self.ids.log_id.clone()),
            (id_header, self.ids.request_id.clone()),
        ]
    }

    fn anthropic_usage(&self, full: bool) -> J {
        let u = &self.usage;
        let mut fields = vec![
            ("input_tokens", J::Num(u.input)),
            ("cache_creation_input_tokens", J::Num(u.cache_write)),
            ("cache_read_input_tokens", J::Num(u.cache_read)),
        ];
        if full {
            fields.push((
                "cache_creation",
                obj([
                    ("ephemeral_5m_input_tokens", J::Num(u.cache_write)),
                    ("ephemeral_1h_input_tokens", J::Num(0)),
                ]),
            ));
        }
        fields.push(("output_tokens", J::Num(u.output)));
        if full {
            fields.push(("service_tier", s("standard")));
            fields.push(("inference_geo", s("not_available")));
        }
        obj(fields)
    }

    fn openai_usage(&self) -> J {
        let u = &self.usage;
        let prompt = u.input + u.cache_read;
        obj([
            ("prompt_tokens", J::Num(prompt)),
            ("completion_tokens", J::Num(u.output)),
            ("total_tokens", J::Num(prompt + u.output)),
            (
                "prompt_tokens_details",
                obj([
                    ("cached_tokens", J::Num(u.cache_read)),
                    ("audio_tokens", J::Num(0)),
                ]),
            ),
            (
                "completion_tokens_details",
                obj([
                    ("reasoning_tokens", J::Num(0)),
                    ("audio_tokens", J::Num(0)),
                    ("accepted_prediction_tokens", J::Num(0)),
                    ("rejected_prediction_tokens", J::Num(0)),
                ]),
            ),
        ])
    }

    fn anthropic_stop(&self) -> &'static str {
        match self.stop {
            Stop::EndTurn => "end_turn",
            Stop::MaxTokens => "max_tokens",
            Stop::ToolUse => "tool_use",
        }
    }

    fn openai_finish(&self) -> &'static str {
        match self.stop {
            Stop::EndTurn => "stop",
            Stop::MaxTokens => "length",
            Stop::ToolUse => "tool_calls",
        }
    }
}

/// About one word per output token, at most `MAX_WORDS`, grouped into about `DELTAS` deltas.
fn words(output: u64) -> Vec<String> {
    let count = output.min(MAX_WORDS) as usize;
    if count == 0 {
        return vec![];
    }
    let per_delta = count.div_ceil(DELTAS as usize).max(1);
    let all: Vec<&str> = VOCABULARY.iter().copied().cycle().take(count).collect();
    let groups = all.chunks(per_delta).count();
    all.chunks(per_delta)
        .enumerate()
        .map(|(i, group)| {
            let mut text = group.join(" ");
            if i > 0 {
                text.insert(0, ' ');
            }
            if i + 1 == groups {
                text.push('.');
            }
            text
        })
        .collect()
}

/// Splits `text` at char boundaries into about `pieces` fragments.
fn fragments(text: &str, pieces: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(pieces.max(1)).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

fn anthropic_json(r: &Reply, f: &Faults) -> J {
    let mut content = vec![];
    let text = r.text();
    if !(r.tool.is_some() && text.is_empty()) {
        content.push(obj([("type", s("text")), ("text", s(text))]));
    }
    if let Some((id, name, args)) = &r.tool {
        content.push(obj([
            ("type", s("tool_use")),
            ("id", s(id)),
            ("name", s(name)),
            ("input", J::Raw(args.clone())),
            ("caller", obj([("type", s("direct"))])),
        ]));
    }
    let mut fields = vec![
        ("model", s(&r.model)),
        ("id", s(&r.ids.message_id)),
        ("type", s("message")),
        ("role", s("assistant")),
        ("content", J::Arr(content)),
        ("stop_reason", s(r.anthropic_stop())),
        ("stop_sequence", J::Null),
    ];
    if !f.no_usage {
        fields.push(("usage", r.anthropic_usage(true)));
    }
    obj(fields)
}

fn openai_json(r: &Reply, f: &Faults) -> J {
    let mut message = vec![("role", s("assistant"))];
    match &r.tool {
        Some((id, name, args)) => {
            message.push(("content", J::Null));
            message.push((
                "tool_calls",
                J::Arr(vec![obj([
                    ("id", s(id)),
                    ("type", s("function")),
                    ("function", obj([("name", s(name)), ("arguments", s(args))])),
                ])]),
            ));
        }
        None => message.push(("content", s(r.text()))),
    }
    message.push(("refusal", J::Null));
    message.push(("annotations", J::Arr(vec![])));
    let mut fields = vec![
        ("id", s(&r.ids.message_id)),
        ("object", s("chat.completion")),
        ("created", J::Num(r.ids.created)),
        ("model", s(&r.model)),
        (
            "choices",
            J::Arr(vec![obj([
                ("index", J::Num(0)),
                ("message", obj(message)),
                ("logprobs", J::Null),
                ("finish_reason", s(r.openai_finish())),
            ])]),
        ),
    ];
    if !f.no_usage {
        fields.push(("usage", r.openai_usage()));
    }
    fields.push(("service_tier", s("default")));
    fields.push(("system_fingerprint", s(FINGERPRINT)));
    obj(fields)
}

/// One SSE event of a stream and what it adds to the served usage.
struct Event {
    bytes: Vec<u8>,
    tokens: u64,
    /// Sending this event makes the usage final (`message_stop` / `[DONE]` after a usage).
    completes: bool,
}

impl Event {
    fn new(bytes: String) -> Event {
        Event {
            bytes: bytes.into_bytes(),
            tokens: 0,
            completes: false,
        }
    }
}

/// `event:` + `data:` with Anthropic's padding before the closing brace (legal JSON whitespace).
fn anthropic_event(name: &str, data: &J, pad: usize) -> Event {
    let mut json = data.compact();
    if json.ends_with('}') {
        json.pop();
        json.push_str(&" ".repeat(pad % 13));
        json.push('}');
    }
    Event::new(format!("event: {name}\ndata: {json}\n\n"))
}

fn anthropic_stream(r: &Reply, f: &Faults) -> Vec<Event> {
    let mut events = vec![];
    let mut push = |name: &str, data: J| {
        let pad = events.len() * 5;
        events.push(anthropic_event(name, &data, pad));
    };
    let start_usage = {
        let mut u = r.anthropic_usage(true);
        if let J::Obj(fields) = &mut u {
            for (k, v) in fields.iter_mut() {
                if k == "output_tokens" {
                    *v = J::Num(1);
                }
            }
        }
        u
    };
    push(
        "message_start",
        obj([
            ("type", s("message_start")),
            (
                "message",
                obj([
                    ("model", s(&r.model)),
                    ("id", s(&r.ids.message_id)),
                    ("type", s("message")),
                    ("role", s("assistant")),
                    ("content", J::Arr(vec![])),
                    ("stop_reason", J::Null),
                    ("stop_sequence", J::Null),
                    ("usage", start_usage),
                ]),
            ),
        ]),
    );
    push(
        "content_block_start",
        obj([
            ("type", s("content_block_start")),
            ("index", J::Num(0)),
            ("content_block", obj([("type", s("text")), ("text", s(""))])),
        ]),
    );
    events.push(Event::new(
        "event: ping\ndata: {\"type\": \"ping\"}\n\n".to_owned(),
    ));
    for d in &r.deltas {
        let mut e = anthropic_event(
            "content_block_delta",
            &obj([
                ("type", s("content_block_delta")),
                ("index", J::Num(0)),
                (
                    "delta",
                    obj([("type", s("text_delta")), ("text", s(&d.text))]),
                ),
            ]),
            events.len() * 5,
        );
        e.tokens = d.tokens;
        events.push(e);
    }
    let mut push = |name: &str, data: J| {
        let pad = events.len() * 5;
        events.push(anthropic_event(name, &data, pad));
    };
    push(
        "content_block_stop",
        obj([("type", s("content_block_stop")), ("index", J::Num(0))]),
    );
    if let Some((id, name, args)) = &r.tool {
        push(
            "content_block_start",
            obj([
                ("type", s("content_block_start")),
                ("index", J::Num(1)),
                (
                    "content_block",
                    obj([
                        ("type", s("tool_use")),
                        ("id", s(id)),
                        ("name", s(name)),
                        ("input", J::Obj(vec![])),
                        ("caller", obj([("type", s("direct"))])),
                    ]),
                ),
            ]),
        );
        let pieces = std::iter::once(String::new()).chain(fragments(args, 3));
        for piece in pieces {
            push(
                "content_block_delta",
                obj([
                    ("type", s("content_block_delta")),
                    ("index", J::Num(1)),
                    (
                        "delta",
                        obj([("type", s("input_json_delta")), ("partial_json", s(piece))]),
                    ),
                ]),
            );
        }
        push(
            "content_block_stop",
            obj([("type", s("content_block_stop")), ("index", J::Num(1))]),
        );
    }
    let mut delta_fields = vec![
        ("type", s("message_delta")),
        (
            "delta",
            obj([
                ("stop_reason", s(r.anthropic_stop())),
                ("stop_sequence", J::Null),
            ]),
        ),
    ];
    if !f.no_usage {
        delta_fields.push(("usage", r.anthropic_usage(false)));
    }
    push("message_delta", obj(delta_fields));
    let sent: u64 = events.iter().map(|e| e.tokens).sum();
    if let Some(e) = events.last_mut() {
        e.tokens = r.usage.output.saturating_sub(sent);
    }
    let mut stop = anthropic_event(
        "message_stop",
        &obj([("type", s("message_stop"))]),
        events.len() * 5,
    );
    stop.completes = !f.no_usage;
    events.push(stop);
    events
}

fn openai_stream(r: &Reply, f: &Faults, include_usage: bool) -> Vec<Event> {
    let usage_field = include_usage && !f.no_usage;
    let mut events = vec![];
    let mut rng = Rng(r.ids.seed);
    let chunk = |choices: J, usage: Option<J>, rng: &mut Rng| {
        let mut fields = vec![
            ("id", s(&r.ids.message_id)),
            ("object", s("chat.completion.chunk")),
            ("created", J::Num(r.ids.created)),
            ("model", s(&r.model)),
            ("service_tier", s("default")),
            ("system_fingerprint", s(FINGERPRINT)),
            ("choices", choices),
        ];
        if let Some(usage) = usage {
            fields.push(("usage", usage));
        } else if !usage_field {
            // Since 2025, streams without `include_usage` carry random-length padding.
            let len = (rng.next() % 16) as usize;
            fields.push(("obfuscation", s(rng.string(ALNUM, len))));
        }
        Event::new(format!("data: {}\n\n", obj(fields).compact()))
    };
    let null_usage = || usage_field.then_some(J::Null);
    let choice = |delta: J, finish: J| {
        J::Arr(vec![obj([
            ("index", J::Num(0)),
            ("delta", delta),
            ("logprobs", J::Null),
            ("finish_reason", finish),
        ])])
    };
    match &r.tool {
        Some((id, name, args)) => {
            let first = obj([
                ("role", s("assistant")),
                ("content", J::Null),
                (
                    "tool_calls",
                    J::Arr(vec![obj([
                        ("index", J::Num(0)),
                        ("id", s(id)),
                        ("type", s("function")),
                        ("function", obj([("name", s(name)), ("arguments", s(""))])),
                    ])]),
                ),
                ("refusal", J::Null),
            ]);
            events.push(chunk(choice(first, J::Null), null_usage(), &mut rng));
            for piece in fragments(args, 4) {
                let delta = obj([(
                    "tool_calls",
                    J::Arr(vec![obj([
                        ("index", J::Num(0)),
                        ("function", obj([("arguments", s(piece))])),
                    ])]),
                )]);
                events.push(chunk(choice(delta, J::Null), null_usage(), &mut rng));
            }
        }
        None => {
            let first = obj([
                ("role", s("assistant")),
                ("content", s("")),
                ("refusal", J::Null),
            ]);
            events.push(chunk(choice(first, J::Null), null_usage(), &mut rng));
            for d in &r.deltas {
                let mut e = chunk(
                    choice(obj([("content", s(&d.text))]), J::Null),
                    null_usage(),
                    &mut rng,
                );
                e.tokens = d.tokens;
                events.push(e);
            }
        }
    }
    events.push(chunk(
        choice(J::Obj(vec![]), s(r.openai_finish())),
        null_usage(),
        &mut rng,
    ));
    if usage_field {
        events.push(chunk(J::Arr(vec![]), Some(r.openai_usage()), &mut rng));
    }
    let sent: u64 = events.iter().map(|e| e.tokens).sum();
    if let Some(e) = events.last_mut() {
        e.tokens += r.usage.output.saturating_sub(sent);
    }
    let mut done = Event::new("data: [DONE]\n\n".to_owned());
    done.completes = usage_field;
    events.push(done);
    events
}

// ---------------------------------------------------------------------------------------------
// Sending: a plan of steps, played as the response body
// ---------------------------------------------------------------------------------------------

enum Step {
    Write(Bytes),
    /// Let hyper flush what it has: the next write goes out separately.
    Yield,
    Sleep(Duration),
    Serve(Served),
    /// Break the connection: the body ends with an error, not a clean end.
    Fail,
    Hang,
}

/// Where to split an event: inside its first multi-byte character if it has one, else halfway.
fn split_point(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| b >= 0xC0)
        .map_or(bytes.len() / 2, |i| i + 1)
}

fn plan_stream(mut events: Vec<Event>, base: Served, f: &Faults) -> VecDeque<Step> {
    if f.malformed {
        let at = events.len().min(2);
        events.insert(at, Event::new("data: {not json\n\n".to_owned()));
    }
    // The usage served once each event is out.
    let mut served = Vec::with_capacity(events.len());
    let mut now = base;
    for e in &events {
        now.output += e.tokens;
        now.reported |= e.completes;
        served.push(now);
    }

    let full = if f.hang_body {
        1
    } else if f.cut {
        (events.len() / 2).max(1)
    } else {
        events.len()
    };
    let partial: Vec<u8> = if f.cut {
        events
            .get(full)
            .map(|e| {
                e.bytes
                    .get(..split_point(&e.bytes))
                    .unwrap_or_default()
                    .to_vec()
            })
            .unwrap_or_default()
    } else {
        vec![]
    };

    let mut steps = VecDeque::new();
    let sent = events.iter().zip(served).take(full);
    if f.slow.is_some() || f.hang_body {
        // Whole events (each in two writes), then the pause.
        let pause = Duration::from_millis(f.slow.unwrap_or(0));
        for (i, (e, served)) in sent.enumerate() {
            if i > 0 && !pause.is_zero() {
                steps.push_back(Step::Sleep(pause));
            }
            let (head, tail) = e.bytes.split_at(split_point(&e.bytes));
            steps.push_back(Step::Write(Bytes::copy_from_slice(head)));
            steps.push_back(Step::Yield);
            steps.push_back(Step::Write(Bytes::copy_from_slice(tail)));
            steps.push_back(Step::Serve(served));
            steps.push_back(Step::Yield);
        }
        if !partial.is_empty() {
            steps.push_back(Step::Write(Bytes::from(partial)));
            steps.push_back(Step::Yield);
        }
    } else {
        // Every write is the tail of one event and the head of the next: each boundary a
        // reader sees falls inside an event.
        let mut carry: Vec<u8> = vec![];
        let mut last_served = None;
        for (e, served) in sent {
            let (head, tail) = e.bytes.split_at(split_point(&e.bytes));
            carry.extend_from_slice(head);
            steps.push_back(Step::Write(Bytes::from(std::mem::take(&mut carry))));
            if let Some(s) = last_served.take() {
                steps.push_back(Step::Serve(s));
            }
            steps.push_back(Step::Yield);
            carry.extend_from_slice(tail);
            last_served = Some(served);
        }
        carry.extend_from_slice(&partial);
        steps.push_back(Step::Write(Bytes::from(carry)));
        if let Some(s) = last_served {
            steps.push_back(Step::Serve(s));
        }
        steps.push_back(Step::Yield);
    }
    if f.hang_body {
        steps.push_back(Step::Hang);
    } else if f.cut {
        steps.push_back(Step::Fail);
    }
    steps
}

fn play(steps: VecDeque<Step>, shared: Arc<Shared>, idx: Option<usize>) -> Body {
    let stream =
        futures_util::stream::unfold((steps, shared), move |(mut steps, shared)| async move {
            loop {
                match steps.pop_front()? {
                    Step::Write(bytes) if bytes.is_empty() => {}
                    Step::Write(bytes) => return Some((Ok(bytes), (steps, shared))),
                    Step::Yield => tokio::task::yield_now().await,
                    Step::Sleep(d) => tokio::time::sleep(d).await,
                    Step::Serve(served) => shared.set_served(idx, served),
                    Step::Fail => {
                        steps.clear();
                        let err = std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "stub AI Gateway: connection cut ([stub:cut])",
                        );
                        return Some((Err(err), (steps, shared)));
                    }
                    Step::Hang => {
                        tokio::time::sleep(HANG).await;
                        steps.clear();
                        steps.push_back(Step::Fail);
                    }
                }
            }
        });
    Body::from_stream(stream)
}

// ---------------------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------------------

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ALNUM: &[u8] = BASE62;
const HEX: &[u8] = b"0123456789abcdef";
const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

struct Ids {
    seed: u64,
    log_id: String,
    request_id: String,
    message_id: String,
    tool_id: String,
    created: u64,
}

impl Ids {
    fn new(process_seed: u64, n: u64, provider: Provider) -> Ids {
        let seed = mix(process_seed ^ mix(n));
        let mut rng = Rng(seed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        // A ULID, as AI Gateway's log ids are: 48 bits of milliseconds, then 80 random bits.
        // The request number is folded into the random part, so ids never repeat in a process.
        let millis = now.as_millis() as u64;
        let mut log_id: String = (0..10)
            .rev()
            .map(|i| crockford_digit(millis >> (5 * i)))
            .collect();
        let low = mix(process_seed) ^ n;
        log_id.extend((0..13).rev().map(|i| crockford_digit(low >> (5 * i))));
        log_id.push_str(&rng.string(CROCKFORD, 3));
        let (request_id, message_id, tool_id) = match provider {
            Provider::Anthropic => (
                format!("req_011C{}", rng.string(BASE62, 20)),
                format!("msg_01{}", rng.string(BASE62, 22)),
                format!("toolu_01{}", rng.string(BASE62, 22)),
            ),
            Provider::OpenAi => (
                format!("req_{}", rng.string(HEX, 32)),
                format!("chatcmpl-{}", rng.string(ALNUM, 29)),
                format!("call_{}", rng.string(ALNUM, 24)),
            ),
        };
        Ids {
            seed,
            log_id,
            request_id,
            message_id,
            tool_id,
            created: now.as_secs(),
        }
    }
}

fn crockford_digit(v: u64) -> char {
    CROCKFORD
        .get((v & 31) as usize)
        .map_or('0', |&b| char::from(b))
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// splitmix64: deterministic ids from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    fn string(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| {
                let i = (self.next() % alphabet.len().max(1) as u64) as usize;
                alphabet.get(i).map_or('0', |&b| char::from(b))
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// JSON with the providers' key order (serde_json's map would sort the keys)
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum J {
    Null,
    Bool(bool),
    Num(u64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
    /// Already-serialized compact JSON.
    Raw(String),
}

fn s(text: impl Into<String>) -> J {
    J::Str(text.into())
}

fn obj<'a>(fields: impl IntoIterator<Item = (&'a str, J)>) -> J {
    J::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn quote(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

impl J {
    fn compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None);
        out
    }

    /// serde_json's pretty style: two spaces, `"key": value`, `[]` and `{}` when empty.
    fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(0));
        out
    }

    fn write(&self, out: &mut String, depth: Option<usize>) {
        let newline = |out: &mut String, d: usize| {
            out.push('\n');
            out.push_str(&"  ".repeat(d));
        };
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => out.push_str(&n.to_string()),
            J::Str(text) => out.push_str(&quote(text)),
            J::Raw(json) => out.push_str(json),
            J::Arr(items) if items.is_empty() => out.push_str("[]"),
            J::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if let Some(d) = depth {
                        newline(out, d + 1);
                    }
                    item.write(out, depth.map(|d| d + 1));
                }
                if let Some(d) = depth {
                    newline(out, d);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if let Some(d) = depth {
                        newline(out, d + 1);
                    }
                    out.push_str(&quote(key));
                    out.push_str(if depth.is_some() { ": " } else { ":" });
                    value.write(out, depth.map(|d| d + 1));
                }
                if let Some(d) = depth {
                    newline(out, d);
                }
                out.push('}');
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Self-tests: the stub speaks the fixtures' formats and fails as asked
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[cfg(test)]
fn anthropic_url() -> String {
    format!("{}/anthropic/v1/messages", stub().base_url())
}

#[cfg(test)]
fn openai_url() -> String {
    format!("{}/openai/chat/completions", stub().base_url())
}

/// A unique needle for one self-test.
#[cfg(test)]
fn needle(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "selftest-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// (event name, data) pairs of a whole SSE body.
#[cfg(test)]
fn sse_events(body: &str) -> Vec<(Option<String>, String)> {
    assert!(
        body.ends_with("\n\n"),
        "an SSE body ends with a blank line: {body:?}"
    );
    body.split("\n\n")
        .filter(|block| !block.is_empty())
        .map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            (name, data)
        })
        .collect()
}

#[tokio::test]
async fn stub_answers_healthz_and_unknown_paths() {
    let c = client();
    let ok = c
        .get(format!("{}/healthz", stub().origin()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "ok");

    let missing = c
        .post(format!("{}/openai/v1/nothing", stub().base_url()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(body["error"][0]["code"].is_u64());
}

#[tokio::test]
async fn stub_answers_an_anthropic_message_with_the_default_usage() {
    let id = needle("anthropic-json");
    let res = client()
        .post(anthropic_url())
        .header("x-api-key", "sk-ant-test")
        .json(&serde_json::json!({
            "model": "claude-haiku-4-5-20251001",
            "max_tokens": 50,
            "system": "be brief",
            "messages": [{"role": "user", "content": format!("hello {id}")}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let log_id = res.headers()["cf-aig-log-id"].to_str().unwrap().to_owned();
    assert_eq!(log_id.len(), 26);
    let request_id = res.headers()["request-id"].to_str().unwrap().to_owned();
    assert!(request_id.starts_with("req_011C"));
    let text = res.text().await.unwrap();
    assert!(
        text.starts_with("{\"model\":") && text.ends_with('}'),
        "compact, no newline"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["model"], "claude-haiku-4-5-20251001");
    assert_eq!(body["type"], "message");
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["usage"]["input_tokens"], 101);
    assert_eq!(body["usage"]["output_tokens"], 20);
    assert_eq!(body["usage"]["cache_read_input_tokens"], 0);
    let words = body["content"][0]["text"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .count();
    assert_eq!(words, 20);

    let seen = stub().requests_containing(&id);
    assert_eq!(seen.len(), 1);
    assert_eq!(stub().count_containing(&id), 1);
    let rec = &seen[0];
    assert_eq!(
        rec.path,
        "/v1/test-account/test-gateway/anthropic/v1/messages"
    );
    assert_eq!(rec.header("X-Api-Key"), Some("sk-ant-test"));
    assert_eq!(rec.body["max_tokens"], 50);
    assert_eq!(rec.log_id, log_id);
    assert_eq!(rec.request_id.as_deref(), Some(request_id.as_str()));
    let served = rec.served.unwrap();
    assert_eq!(served.pair(), (101, 20));
    assert!(served.reported);
    assert_eq!(stub().count_containing(&needle("never-sent")), 0);
}

#[tokio::test]
async fn stub_honours_usage_cache_and_max_tokens() {
    let c = client();
    let marked = "[stub:usage=1234,7] [stub:cache=50,60]";
    let a: Value = c
        .post(anthropic_url())
        .json(&serde_json::json!({
            "model": "m", "max_tokens": 100,
            "messages": [{"role": "user", "content": marked}],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a["usage"]["input_tokens"], 1234);
    assert_eq!(a["usage"]["output_tokens"], 7);
    assert_eq!(a["usage"]["cache_read_input_tokens"], 50);
    assert_eq!(a["usage"]["cache_creation_input_tokens"], 60);
    assert_eq!(
        a["usage"]["cache_creation"]["ephemeral_5m_input_tokens"],
        60
    );

    let res = c
        .post(openai_url())
        .json(&serde_json::json!({
            "model": "gpt-4o-2024-08-06", "max_completion_tokens": 100,
            "messages": [{"role": "user", "content": marked}],
        }))
        .send()
        .await
        .unwrap();
    assert!(res.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .starts_with("req_"));
    let text = res.text().await.unwrap();
    assert!(text.starts_with("{\n  \"id\": \"chatcmpl-") && text.ends_with("}\n"));
    let o: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(o["usage"]["prompt_tokens"], 1284);
    assert_eq!(o["usage"]["prompt_tokens_details"]["cached_tokens"], 50);
    assert_eq!(o["usage"]["completion_tokens"], 7);
    assert_eq!(o["usage"]["total_tokens"], 1291);
    assert_eq!(o["choices"][0]["finish_reason"], "stop");

    let short: Value = c
        .post(openai_url())
        .json(&serde_json::json!({
            "model": "gpt-4o", "max_completion_tokens": 5,
            "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "hi"}],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(short["usage"]["prompt_tokens"], 102);
    assert_eq!(short["usage"]["completion_tokens"], 5);
    assert_eq!(short["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn stub_streams_anthropic_events_split_across_chunks() {
    use futures_util::StreamExt;
    let id = needle("anthropic-sse");
    let res = client()
        .post(anthropic_url())
        .json(&serde_json::json!({
            "model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": true,
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": format!("{id} [stub:cache=10,0]")},
            ],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut stream = res.bytes_stream();
    let mut body = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.unwrap());
        chunks += 1;
    }
    assert!(chunks > 1, "several chunks");
    let body = String::from_utf8(body).unwrap();
    let events = sse_events(&body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
    assert_eq!(
        names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let mut text = String::new();
    for (name, data) in &events {
        let data: Value = serde_json::from_str(data).unwrap();
        assert_eq!(data["type"], name.as_deref().unwrap());
        if data["delta"]["type"] == "text_delta" {
            text.push_str(data["delta"]["text"].as_str().unwrap());
        }
    }
    assert_eq!(text.split_whitespace().count(), 20);
    let start: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(start["message"]["usage"]["input_tokens"], 103);
    assert_eq!(start["message"]["usage"]["cache_read_input_tokens"], 10);
    assert_eq!(start["message"]["usage"]["output_tokens"], 1);
    let delta: Value = serde_json::from_str(&events[events.len() - 2].1).unwrap();
    assert_eq!(delta["usage"]["output_tokens"], 20);
    assert_eq!(delta["usage"]["input_tokens"], 103);
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    let served = stub().requests_containing(&id)[0].served.unwrap();
    assert_eq!(
        served,
        Served {
            input: 103,
            output: 20,
            cache_read: 10,
            cache_write: 0,
            reported: true
        }
    );
}

#[tokio::test]
async fn stub_streams_openai_chunks_with_usage_only_when_asked() {
    let c = client();
    let ask = |include_usage: bool| {
        let mut body = serde_json::json!({
            "model": "gpt-4o-mini-2024-07-18", "max_completion_tokens": 64, "stream": true,
            "messages": [{"role": "user", "content": "[stub:usage=83,10]"}],
        });
        if include_usage {
            body["stream_options"] = serde_json::json!({"include_usage": true});
        }
        c.post(openai_url()).json(&body).send()
    };

    let with = ask(true).await.unwrap().text().await.unwrap();
    assert!(with.ends_with("data: [DONE]\n\n"));
    assert!(!with.contains("event:"));
    let events = sse_events(&with);
    let (done, chunks) = events.split_last().unwrap();
    assert_eq!(done.1, "[DONE]");
    let chunks: Vec<Value> = chunks
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    let (last, rest) = chunks.split_last().unwrap();
    assert_eq!(last["choices"], serde_json::json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 83);
    assert_eq!(last["usage"]["completion_tokens"], 10);
    assert_eq!(last["usage"]["total_tokens"], 93);
    assert!(rest
        .iter()
        .all(|c| c["usage"].is_null() && c.get("usage").is_some()));
    assert_eq!(rest.last().unwrap()["choices"][0]["finish_reason"], "stop");
    assert_eq!(rest[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(rest[0]["model"], "gpt-4o-mini-2024-07-18");

    let without = ask(false).await.unwrap().text().await.unwrap();
    assert!(without.ends_with("data: [DONE]\n\n"));
    assert!(!without.contains("\"usage\""));
}

#[tokio::test]
async fn stub_answers_a_tool_call_when_asked_and_not_after_a_tool_result() {
    let c = client();
    let tools_a = serde_json::json!([{"name": "get_weather", "description": "w",
        "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}]);
    let a: Value = c
        .post(anthropic_url())
        .json(
            &serde_json::json!({"model": "m", "max_tokens": 100, "tools": tools_a,
            "messages": [{"role": "user", "content": "weather? [stub:tool]"}]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a["stop_reason"], "tool_use");
    assert_eq!(a["content"][1]["type"], "tool_use");
    assert_eq!(a["content"][1]["name"], "get_weather");
    assert_eq!(
        a["content"][1]["input"],
        serde_json::json!({"location": "x"})
    );

    let after: Value = c
        .post(anthropic_url())
        .json(&serde_json::json!({"model": "m", "max_tokens": 100, "tools": tools_a,
            "messages": [
                {"role": "user", "content": "weather? [stub:tool]"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
            ]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after["stop_reason"], "end_turn");

    let tools_o = serde_json::json!([{"type": "function", "function": {"name": "add",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}}]);
    let body = c
        .post(openai_url())
        .json(
            &serde_json::json!({"model": "gpt-4o", "stream": true, "tools": tools_o,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "add [stub:tool]"}]}),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = sse_events(&body);
    let mut args = String::new();
    let mut finish = None;
    for (_, data) in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(data).unwrap();
        if let Some(call) = chunk["choices"][0]["delta"]["tool_calls"].get(0) {
            if let Some(name) = call["function"]["name"].as_str() {
                assert_eq!(name, "add");
                assert!(call["id"].as_str().unwrap().starts_with("call_"));
            }
            args.push_str(call["function"]["arguments"].as_str().unwrap());
        }
        if let Some(f) = chunk["choices"][0]["finish_reason"].as_str() {
            finish = Some(f.to_owned());
        }
    }
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        serde_json::json!({"a": 1})
    );
    assert_eq!(finish.as_deref(), Some("tool_calls"));
}

#[tokio::test]
async fn stub_fails_with_the_provider_error_asked_for() {
    let c = client();
    let res = c
        .post(anthropic_url())
        .json(
            &serde_json::json!({"model": "m", "max_tokens": 10, "stream": true,
            "messages": [{"role": "user", "content": "[stub:status=529]"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 529);
    let request_id = res.headers()["request-id"].to_str().unwrap().to_owned();
    assert!(res.headers().contains_key("cf-aig-log-id"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "overloaded_error");
    assert_eq!(body["request_id"], request_id.as_str());

    let res = c
        .post(openai_url())
        .json(&serde_json::json!({"model": "gpt-4o",
            "messages": [{"role": "user", "content": "[stub:status=429]"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "1");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");

    let res = c
        .post(openai_url())
        .json(&serde_json::json!({"model": "gpt-4o",
            "messages": [{"role": "user", "content": "[stub:status=500]"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["type"], "server_error");

    let res = c
        .post(anthropic_url())
        .json(&serde_json::json!({"model": "m", "max_tokens": 10,
            "messages": [{"role": "user", "content": "[stub:aig-error]"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("request-id").is_none());
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"success":false,"result":[],"messages":[],"error":[{"code":2009,"message":"Unauthorized"}]})
    );

    let res = c
        .post(anthropic_url())
        .json(
            &serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "no max"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "Anthropic requires max_tokens");
}

#[tokio::test]
async fn stub_cuts_a_stream_with_a_body_error() {
    use futures_util::StreamExt;
    let id = needle("cut");
    let res = client()
        .post(anthropic_url())
        .json(
            &serde_json::json!({"model": "m", "max_tokens": 100, "stream": true,
            "messages": [{"role": "user", "content": format!("{id} [stub:cut]")}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut stream = res.bytes_stream();
    let mut body = Vec::new();
    let mut failed = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => body.extend_from_slice(&bytes),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "a cut stream ends with an error, not a clean end");
    let body = String::from_utf8_lossy(&body);
    assert!(body.starts_with("event: message_start\n"));
    assert!(body.contains("text_delta"));
    assert!(!body.contains("message_stop"));
    let served = stub().requests_containing(&id)[0].served.unwrap();
    assert_eq!(served.input, 101);
    assert!(!served.reported);
    assert!(served.output > 0 && served.output < 20, "{served:?}");
}

#[tokio::test]
async fn stub_sends_malformed_events_and_fake_usage_text_when_asked() {
    let c = client();
    let body = c
        .post(openai_url())
        .json(&serde_json::json!({"model": "gpt-4o", "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "[stub:malformed] [stub:usage-text]"}]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("\n\ndata: {not json\n\n"));
    assert!(body.ends_with("data: [DONE]\n\n"));
    let mut text = String::new();
    for (_, data) in sse_events(&body) {
        if let Ok(chunk) = serde_json::from_str::<Value>(&data) {
            if let Some(t) = chunk["choices"][0]["delta"]["content"].as_str() {
                text.push_str(t);
            }
        }
    }
    assert!(text.contains(FAKE_USAGE_TEXT));

    let body = c
        .post(openai_url())
        .json(&serde_json::json!({"model": "gpt-4o", "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "[stub:no-usage]"}]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.ends_with("data: [DONE]\n\n"));
    assert!(!body.contains("\"usage\""));
}
