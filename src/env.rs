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
}

impl Config {
    pub fn from_env(env: &Env) -> Config {
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
        }
    }

    pub fn session_secret(&self) -> Result<&str, ApiError> {
        self.session_secret.as_deref().ok_or_else(|| {
            worker::console_error!("SESSION_SECRET is not set (or shorter than 16 characters)");
            ApiError::unavailable("Sign-in is not configured on this academy yet (the operator must set SESSION_SECRET).")
        })
    }

    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
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
