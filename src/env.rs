//! The only file that names bindings, vars and secrets. Everything else receives typed values.
//!
//! Vars have defaults (documented in README's configuration reference and wrangler.toml);
//! a malformed var falls back to its default and is logged, never a panic.

use worker::{Bucket, D1Database, Env};

pub const DB: &str = "DB";
pub const TRANSCRIPTS: &str = "TRANSCRIPTS";
pub const VERSION_METADATA: &str = "CF_VERSION_METADATA";


/// Typed configuration read from vars, once per request.
#[derive(Debug, Clone)]
pub struct Config {
    /// `…/v1/{account}/{gateway}`; empty → only the offline `demo` model answers.
    pub ai_gateway_url: String,
}

impl Config {
    pub fn from_env(env: &Env) -> Config {
        Config { ai_gateway_url: var(env, "AI_GATEWAY_URL").unwrap_or_default() }
    }
}

/// A var's value, if set and non-empty.
fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string()).filter(|v| !v.trim().is_empty())
}

pub fn db(env: &Env) -> worker::Result<D1Database> {
    env.d1(DB)
}

pub fn transcripts(env: &Env) -> worker::Result<Bucket> {
    env.bucket(TRANSCRIPTS)
}

/// The deployed version's id, when the version metadata binding is present.
pub fn version_id(env: &Env) -> Option<String> {
    env.get_binding::<worker::WorkerVersionMetadata>(VERSION_METADATA).ok().map(|m| m.id())
}
