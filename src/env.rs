//! The only file that names bindings, vars and secrets. Everything else receives typed values.
//!
//! Vars have defaults (documented in README's configuration reference and wrangler.toml); a
//! malformed var falls back to its default and is logged, never a panic. A missing secret is
//! a clear error at the route that needs it.

use crate::gateway::pricing::MicroUsd;
use crate::http::ApiError;
use worker::{Bucket, D1Database, Env, RateLimiter};

pub const DB: &str = "DB";
pub const TRANSCRIPTS: &str = "TRANSCRIPTS";
pub const VERSION_METADATA: &str = "CF_VERSION_METADATA";

/// Rate limit bindings.
pub const KEY_RATE: &str = "KEY_RATE";
pub const ENROLL_RATE: &str = "ENROLL_RATE";
pub const SIGNIN_RATE: &str = "SIGNIN_RATE";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrollment {
    Open,
    Invite,
}

/// Typed configuration read from vars and secrets, once per request.
#[derive(Debug, Clone)]
pub struct Config {
    /// `…/v1/{account}/{gateway}`; empty → only the offline `demo` model answers.
    pub ai_gateway_url: String,
    pub enrollment: Enrollment,
    pub default_budget: MicroUsd,
    pub default_daily_budget: MicroUsd,
    pub academy_daily_cap: MicroUsd,
    /// `false` only for plain-http local development.
    pub cookie_secure: bool,
    session_secret: Option<String>,
    admin_token: Option<String>,
    /// The gateway's request limits and upstream settings.
    pub gateway: GatewayConfig,
    /// How long transcripts are kept (enforced by the R2 lifecycle rule in README).
    pub transcript_retention_days: u64,
}

/// What the metered gateway reads from configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub max_body_bytes: u64,
    pub max_messages: usize,
    pub max_output_tokens_cap: u64,
    pub upstream_timeout_ms: u64,
    pub collect_log_payload: bool,
    /// `anthropic-beta` values forwarded when a client sends them (default none).
    pub anthropic_betas: Vec<String>,
    /// `MODEL_CATALOGUE_JSON`, replacing the built-in catalogue when set.
    pub catalogue_json: Option<String>,
    pub anthropic_api_key: Option<String>,
    pub openai_api_key: Option<String>,
    pub cf_aig_token: Option<String>,
}

thread_local! {
    static CONFIG: std::cell::RefCell<Option<std::rc::Rc<Config>>> = const { std::cell::RefCell::new(None) };
}

impl Config {
    /// The configuration, read from the environment once per isolate: vars and secrets are
    /// fixed for an isolate's life (a new deployment, or a changed `.dev.vars`, starts a new
    /// one), and reading them costs about twenty JS lookups per request.
    pub fn cached(env: &Env) -> std::rc::Rc<Config> {
        CONFIG.with(|cell| cell.borrow_mut().get_or_insert_with(|| std::rc::Rc::new(Config::from_env(env))).clone())
    }

    fn from_env(env: &Env) -> Config {
        let usd = |name: &str, default: &str| {
            let raw = var(env, name).unwrap_or_else(|| default.to_string());
            MicroUsd::parse_usd(&raw).unwrap_or_else(|_| {
                worker::console_error!("{name}={raw:?} is not a USD amount; using {default}");
                MicroUsd::parse_usd(default).unwrap_or(MicroUsd(0))
            })
        };
        Config {
            ai_gateway_url: var(env, "AI_GATEWAY_URL").unwrap_or_default(),
            enrollment: match var(env, "ENROLLMENT").as_deref() {
                Some("invite") => Enrollment::Invite,
                _ => Enrollment::Open,
            },
            default_budget: usd("DEFAULT_BUDGET_USD", "5"),
            default_daily_budget: usd("DEFAULT_DAILY_BUDGET_USD", "1"),
            academy_daily_cap: usd("ACADEMY_DAILY_CAP_USD", "50"),
            cookie_secure: var(env, "COOKIE_SECURE").as_deref() != Some("false"),
            session_secret: var(env, "SESSION_SECRET").filter(|s| s.len() >= 16),
            admin_token: var(env, "ADMIN_TOKEN").filter(|s| s.len() >= 16),
            transcript_retention_days: number(env, "TRANSCRIPT_RETENTION_DAYS", 90),
            gateway: GatewayConfig {
                max_body_bytes: number(env, "MAX_BODY_BYTES", 1_048_576),
                max_messages: usize::try_from(number(env, "MAX_MESSAGES", 1_000)).unwrap_or(1_000),
                max_output_tokens_cap: number(env, "MAX_OUTPUT_TOKENS_CAP", 16_384),
                upstream_timeout_ms: number(env, "UPSTREAM_TIMEOUT_MS", 60_000),
                collect_log_payload: var(env, "COLLECT_LOG_PAYLOAD").as_deref() == Some("true"),
                anthropic_betas: var(env, "ANTHROPIC_BETAS")
                    .map(|v| v.split(',').map(|b| b.trim().to_string()).filter(|b| !b.is_empty()).collect())
                    .unwrap_or_default(),
                catalogue_json: var(env, "MODEL_CATALOGUE_JSON"),
                anthropic_api_key: var(env, "ANTHROPIC_API_KEY"),
                openai_api_key: var(env, "OPENAI_API_KEY"),
                cf_aig_token: var(env, "CF_AIG_TOKEN"),
            },
        }
    }

    pub fn session_secret(&self) -> Result<&str, ApiError> {
        self.session_secret.as_deref().ok_or_else(|| {
            worker::console_error!("SESSION_SECRET is not set (or shorter than 16 characters)");
            ApiError::unavailable("Sign-in is not configured on this academy yet (the operator must set SESSION_SECRET).")
        })
    }

    /// Required secrets that are not set (for `/healthz`).
    pub fn missing_secrets(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.session_secret.is_none() {
            missing.push("SESSION_SECRET");
        }
        if self.admin_token.is_none() {
            missing.push("ADMIN_TOKEN");
        }
        missing
    }

    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }
}

/// A positive integer var, or its default (logged when malformed).
fn number(env: &Env, name: &str, default: u64) -> u64 {
    match var(env, name) {
        None => default,
        Some(raw) => raw.trim().parse::<u64>().ok().filter(|n| *n > 0).unwrap_or_else(|| {
            worker::console_error!("{name}={raw:?} is not a positive integer; using {default}");
            default
        }),
    }
}

/// A var's (or secret's) value, if set and non-empty.
fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string()).or_else(|| env.secret(name).ok().map(|v| v.to_string())).filter(|v| !v.trim().is_empty())
}

pub fn db(env: &Env) -> worker::Result<D1Database> {
    env.d1(DB)
}

/// The database, or a 503 that says which binding is missing.
pub fn require_db(env: &Env) -> Result<D1Database, ApiError> {
    db(env).map_err(|_| ApiError::unavailable("The academy's database (binding DB) is not configured."))
}

pub fn transcripts(env: &Env) -> worker::Result<Bucket> {
    env.bucket(TRANSCRIPTS)
}

pub fn rate_limiter(env: &Env, name: &str) -> Option<RateLimiter> {
    env.rate_limiter(name).ok()
}

/// The deployed version's id, when the version metadata binding is present.
pub fn version_id(env: &Env) -> Option<String> {
    env.get_binding::<worker::WorkerVersionMetadata>(VERSION_METADATA).ok().map(|m| m.id())
}
