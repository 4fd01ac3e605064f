//! `GET /healthz`: a trivial D1 query and an R2 head, so an operator (and a load balancer) can
//! tell whether the academy can serve. 200 when every check is ok, 503 naming what failed.

use crate::env::{self, Config};
use crate::http::{respond, ApiError};
use serde_json::json;
use worker::{Env, Response};

pub async fn check(env: &Env, config: &Config) -> Result<Response, ApiError> {
    let d1 = match env::db(env) {
        Err(_) => format!("missing binding {}", env::DB),
        Ok(db) => match db.prepare("SELECT 1 AS one").first::<serde_json::Value>(None).await {
            Ok(Some(_)) => "ok".to_string(),
            Ok(None) => "no row".to_string(),
            Err(e) => {
                worker::console_error!("healthz d1: {e}");
                "query failed".to_string()
            }
        },
    };
    let r2 = match env::transcripts(env) {
        Err(_) => format!("missing binding {}", env::TRANSCRIPTS),
        Ok(bucket) => match bucket.head("healthz").await {
            Ok(_) => "ok".to_string(),
            Err(e) => {
                worker::console_error!("healthz r2: {e}");
                "head failed".to_string()
            }
        },
    };
    let missing = config.missing_secrets();
    let secrets = if missing.is_empty() { "ok".to_string() } else { format!("missing {}", missing.join(", ")) };
    let ok = d1 == "ok" && r2 == "ok" && secrets == "ok";
    let body = json!({
        "ok": ok,
        "version": env!("CARGO_PKG_VERSION"),
        "deployment": env::version_id(env),
        "checks": { "d1": d1, "r2": r2, "secrets": secrets },
    });
    let mut response = respond::json(if ok { 200 } else { 503 }, &body)?;
    respond::set(response.headers_mut(), "cache-control", "no-store")?;
    Ok(response)
}
