//! The harness: `spawn_app()` for a worker, plus the named configurations it runs under.
//!
//! The worker is built once by the README's test command (`scripts/test.sh`) before `cargo test`;
//! here each named configuration gets one `wrangler dev`, started lazily on first use, from a
//! config without a `[build]` step, bound to 127.0.0.1 on free ports, with its own fresh
//! persistence directory and every migration applied. Each runs in its own process group under
//! `scripts/supervise.sh`, which kills the group when this process ends, pass or fail.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// The academy's provider keys in the test configurations (what the stub must receive).
pub const ANTHROPIC_KEY: &str = "sk-ant-api03-academy0test0key0123456789abcdef";
pub const OPENAI_KEY: &str = "sk-proj-academy0test0key0123456789abcdef";
pub const SESSION_SECRET: &str = "test-session-secret-0123456789abcdef0123456789abcdef";

/// The configurations `wrangler dev` runs under; each is started at most once per test run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setup {
    /// Everything bound, generous limits, the stub gateway as `AI_GATEWAY_URL`.
    Default,
    /// No `AI_GATEWAY_URL`: only the offline demo model.
    Offline,
    /// The R2 binding removed and no secrets set, to see /healthz and the routes that need
    /// them fail cleanly.
    NoR2,
    /// Enrollment by invitation only.
    Invite,
    /// The shipped per-address limits (5 enrollments / sign-ins per minute), for their test.
    Tight,
    /// The shipped per-key request rate (60 per minute), for its test.
    TightKey,
    /// An upstream timeout of 300 ms, for the hang tests.
    Timeout,
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::Default => "default",
            Setup::Offline => "offline",
            Setup::NoR2 => "no-r2",
            Setup::Invite => "invite",
            Setup::Tight => "tight",
            Setup::TightKey => "tight-key",
            Setup::Timeout => "timeout",
        }
    }

    /// Top-level wrangler.toml tables this configuration drops (besides `[build]`).
    fn dropped(self) -> &'static [&'static str] {
        match self {
            Setup::NoR2 => &["r2_buckets"],
            _ => &[],
        }
    }

    fn vars(self) -> Vec<(String, String)> {
        let mut vars = vec![("COOKIE_SECURE".to_string(), "false".to_string())];
        if self != Setup::NoR2 {
            vars.push(("SESSION_SECRET".to_string(), SESSION_SECRET.to_string()));
            vars.push(("ADMIN_TOKEN".to_string(), ADMIN_TOKEN.to_string()));
        }
        if matches!(self, Setup::Default | Setup::NoR2 | Setup::Timeout | Setup::Tight | Setup::TightKey) {
            vars.push(("AI_GATEWAY_URL".to_string(), crate::stub::stub().base_url()));
            vars.push(("ANTHROPIC_API_KEY".to_string(), ANTHROPIC_KEY.to_string()));
            vars.push(("OPENAI_API_KEY".to_string(), OPENAI_KEY.to_string()));
        }
        if self == Setup::Timeout {
            vars.push(("UPSTREAM_TIMEOUT_MS".to_string(), "300".to_string()));
        }
        if self == Setup::Invite {
            vars.push(("ENROLLMENT".to_string(), "invite".to_string()));
        }
        vars
    }

    /// The config text: tests from one address enroll many learners, so every configuration
    /// but `Tight` raises the per-IP limits.
    fn config(self, shipped: String) -> String {
        let per_address = "simple = { limit = 5, period = 60 }";
        if self == Setup::Tight {
            shipped
        } else if self == Setup::TightKey {
            shipped.replace(per_address, "simple = { limit = 100000, period = 60 }")
        } else {
            shipped
                .replace("simple = { limit = 5, period = 60 }", "simple = { limit = 100000, period = 60 }")
                .replace("simple = { limit = 60, period = 60 }", "simple = { limit = 100000, period = 60 }")
        }
    }
}

/// One running `wrangler dev`.
pub struct Instance {
    pub base: String,
    pub state: PathBuf,
    /// Holding the supervisor's stdin keeps it alive; dropping it (or exiting) stops the group.
    _supervisor: Mutex<Child>,
}

static INSTANCES: OnceLock<Mutex<Vec<(Setup, &'static Instance)>>> = OnceLock::new();

/// The instance for `setup`, started on first use.
pub fn instance(setup: Setup) -> &'static Instance {
    let all = INSTANCES.get_or_init(|| Mutex::new(Vec::new()));
    // Held while starting, so concurrent tests wait for one start rather than racing two.
    let mut all = all.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, found)) = all.iter().find(|(s, _)| *s == setup) {
        return found;
    }
    let started: &'static Instance = Box::leak(Box::new(start(setup)));
    all.push((setup, started));
    started
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wrangler(root: &Path) -> Command {
    let mut cmd = Command::new(root.join("node_modules/.bin/wrangler"));
    cmd.current_dir(root)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("WRANGLER_HIDE_BANNER", "true")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("CI", "true")
        .env("NO_COLOR", "1");
    cmd
}

fn start(setup: Setup) -> Instance {
    let root = root();
    assert!(
        root.join("build/worker/shim.mjs").exists(),
        "build/ is missing: build the worker first (scripts/build.sh; the README's test command does it)"
    );
    let name = setup.name();
    // Outside the checkout's root, so a developer's `.dev.vars` (which wrangler reads from the
    // config's folder) never leaks secrets into a test configuration.
    let state = root.join("target/test-state").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state).unwrap();
    let config = state.join("wrangler.toml");
    let out = Command::new(root.join("scripts/nobuild-config.sh"))
        .arg(root.join("wrangler.toml"))
        .args(setup.dropped())
        .output()
        .unwrap();
    assert!(out.status.success(), "nobuild-config failed");
    let text = setup
        .config(String::from_utf8(out.stdout).unwrap())
        .replace("main = \"build/", &format!("main = \"{}/build/", root.display()))
        .replace("migrations_dir = \"migrations\"", &format!("migrations_dir = \"{}/migrations\"", root.display()));
    std::fs::write(&config, text).unwrap();
    let persist = state.join("persist");

    if !setup.dropped().contains(&"d1_databases") {
        let out = wrangler(&root)
            .args(["d1", "migrations", "apply", "DB", "--local", "-c"])
            .arg(&config)
            .arg("--persist-to")
            .arg(&persist)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "migrations failed for {name}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A free port can be taken by another process (another instance's workerd picks its own
    // loopback ports) between our check and wrangler's bind: then start again on new ports.
    for attempt in 1..=5 {
        let port = free_port();
        let inspector = free_port();
        let log_path = state.join("wrangler.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new(root.join("scripts/supervise.sh"));
        cmd.current_dir(&root)
            .arg(root.join("node_modules/.bin/wrangler"))
            .args(["dev", "--local", "--ip", "127.0.0.1", "--show-interactive-dev-session=false"])
            .arg("-c")
            .arg(&config)
            .args(["--port", &port.to_string(), "--inspector-port", &inspector.to_string()])
            .arg("--persist-to")
            .arg(&persist)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("WRANGLER_HIDE_BANNER", "true")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in setup.vars() {
            cmd.arg("--var").arg(format!("{k}:{v}"));
        }
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if text.contains("Address already in use") {
                break; // dropping `child` closes the supervisor's stdin: the group is killed
            }
            if text.contains(&format!("Ready on http://127.0.0.1:{port}")) && is_ours(port) {
                return Instance { base: format!("http://127.0.0.1:{port}"), state, _supervisor: Mutex::new(child) };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("wrangler dev ({name}) exited with {status}:\n{}", log_tail(&state));
            }
            assert!(Instant::now() < deadline, "wrangler dev ({name}) not ready in 90 s:\n{}", log_tail(&state));
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("wrangler dev ({name}): port taken, starting again (attempt {attempt})");
        drop(child);
        std::thread::sleep(Duration::from_millis(1500));
    }
    panic!("wrangler dev ({name}) could not bind a free port in 5 attempts:\n{}", log_tail(&state));
}

/// Whether our worker answers on the port: `/healthz` with its JSON (not some other server
/// that happens to hold the port).
fn is_ours(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).contains("\"checks\"")
}

pub fn log_tail(state: &Path) -> String {
    let log = std::fs::read_to_string(state.join("wrangler.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A client of one running worker.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub instance: &'static Instance,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Setup::Default).await
}

pub async fn spawn_app_with(setup: Setup) -> TestApp {
    let instance = tokio::task::spawn_blocking(move || instance(setup)).await.unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    TestApp { base: instance.base.clone(), client, instance }
}

/// An enrolled learner: their id, key and session cookie (`name=value`).
#[derive(Debug, Clone)]
pub struct Learner {
    pub id: String,
    pub key: String,
    pub key_id: String,
    pub cookie: String,
}

impl TestApp {
    /// Enrolls a fresh learner through the API.
    pub async fn enroll(&self) -> Learner {
        let resp = self.request("POST", "/api/enroll").json(&serde_json::json!({"name": "Test Learner"})).send().await.unwrap();
        let cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("aa_session="))
            .map(|c| c.split(';').next().unwrap().to_string())
            .unwrap_or_default();
        let (status, body) = json(resp).await;
        assert_eq!(status, 201, "{body}");
        Learner {
            id: body["learner_id"].as_str().unwrap().into(),
            key: body["key"].as_str().unwrap().into(),
            key_id: body["key_id"].as_str().unwrap().into(),
            cookie,
        }
    }

    /// A request authenticated with a learner's key.
    pub fn as_key(&self, method: &str, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.request(method, path).bearer_auth(key)
    }

    /// A request authenticated with a learner's cookie, as our own pages send it.
    pub fn as_cookie(&self, method: &str, path: &str, cookie: &str) -> reqwest::RequestBuilder {
        self.request(method, path).header("cookie", cookie).header("sec-fetch-site", "same-origin")
    }

    /// The learner's usage rows, newest first, once at least `n` exist (settlement runs after
    /// the response, in `wait_until`).
    pub async fn usage_rows(&self, key: &str, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..100 {
            let (status, body) = json(self.as_key("GET", "/api/me/usage?limit=200", key).send().await.unwrap()).await;
            assert_eq!(status, 200, "{body}");
            let rows = body["usage"].as_array().unwrap().clone();
            if rows.len() >= n {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("fewer than {n} usage rows after 10 s\n{}", self.log());
    }

    /// The learner's budget as `/api/me` reports it.
    pub async fn budget(&self, key: &str) -> serde_json::Value {
        let (status, body) = json(self.as_key("GET", "/api/me", key).send().await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        body["budget"].clone()
    }

    /// Waits until the learner has no reservation in flight (every call settled).
    pub async fn settled(&self, key: &str) -> serde_json::Value {
        for _ in 0..100 {
            let b = self.budget(key).await;
            if b["reserved_usd"] == "0.000000" {
                return b;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("a reservation is still open after 10 s\n{}", self.log());
    }

    /// The operator API.
    pub fn as_admin(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        self.request(method, path).bearer_auth(ADMIN_TOKEN)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.client.request(method, self.url(path))
    }

    /// The server's log so far, for assertion messages.
    pub fn log(&self) -> String {
        log_tail(&self.instance.state)
    }
}

/// The JSON body of a response, with the status and body in the panic message if it is not JSON.
pub async fn json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"));
    (status, value)
}

/// `YYYY-MM-DD` (UTC) of a time in milliseconds: the crate's own calendar.
pub fn utc_day(ms: i64) -> String {
    ai_architect_academy::time::day_of(ms)
}

/// Runs SQL on an instance's local D1 with wrangler's own CLI (for state no API can make,
/// such as a reservation left by a worker that died).
pub async fn d1_execute(app: &TestApp, sql: &str) {
    let root = root();
    let config = app.instance.state.join("wrangler.toml");
    let persist = app.instance.state.join("persist");
    let sql = sql.to_string();
    let out = tokio::task::spawn_blocking(move || {
        wrangler(&root).args(["d1", "execute", "DB", "--local", "-c"]).arg(&config).arg("--persist-to").arg(&persist).arg("--command").arg(&sql).stdin(Stdio::null()).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "d1 execute failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
