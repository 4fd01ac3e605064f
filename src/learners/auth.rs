//! Who is asking: an academy key (`x-api-key` or `Authorization: Bearer`) or the session
//! cookie, checked against D1 on every request (a revoked key or a signed-out session stops
//! working at once). Cookie-authenticated writes must also pass the CSRF check.

use super::key::{presented, AcademyKey};
use super::{session, store};
use crate::env::Config;
use crate::http::{csrf, ApiError};
use worker::{D1Database, Request};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Key { key_id: String },
    Cookie,
}

#[derive(Debug, Clone)]
pub struct Learner {
    pub id: String,
    pub via: Via,
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

pub fn unauthenticated() -> ApiError {
    ApiError::new(401, "unauthenticated", "Sign in, or send your academy key as `Authorization: Bearer aa_…` or `x-api-key`.")
}

/// Authenticates the request; `write` additionally requires same-origin for cookie sessions.
pub async fn learner(req: &Request, db: &D1Database, config: &Config, now: u64, write: bool) -> Result<Learner, ApiError> {
    if let Some(raw) = presented(header(req, "x-api-key").as_deref(), header(req, "authorization").as_deref()) {
        let key = AcademyKey::parse(&raw).ok_or_else(|| ApiError::new(401, "invalid_key", "That is not an academy key (they look like `aa_` and 32 letters and digits)."))?;
        let principal = store::by_key_hash(db, &key.hash()).await?.ok_or_else(|| ApiError::new(401, "invalid_key", "This academy key is unknown or revoked."))?;
        if principal.disabled != 0 {
            return Err(ApiError::new(403, "disabled", "This learner account is disabled; ask the academy's operator."));
        }
        let key_id = principal.key_id.unwrap_or_default();
        return Ok(Learner { id: principal.learner_id, via: Via::Key { key_id } });
    }
    let learner = from_cookie(req, db, config, now).await?.ok_or_else(unauthenticated)?;
    if write {
        csrf::require_same_origin(req)?;
    }
    Ok(learner)
}

/// The signed-in learner from the cookie, if any (pages use this: no cookie is not an error).
pub async fn from_cookie(req: &Request, db: &D1Database, config: &Config, now: u64) -> Result<Option<Learner>, ApiError> {
    let Some(cookies) = header(req, "cookie") else { return Ok(None) };
    let Some(value) = session::from_header(&cookies, config.cookie_secure) else { return Ok(None) };
    let Some(s) = session::verify(config.session_secret()?, value, now) else { return Ok(None) };
    let Some(p) = store::by_learner_id(db, &s.learner_id).await? else { return Ok(None) };
    if p.disabled != 0 || p.session_epoch != s.epoch {
        return Ok(None);
    }
    Ok(Some(Learner { id: p.learner_id, via: Via::Cookie }))
}
