//! The clock and randomness, which exist only at the edge on wasm32 (std's panic there):
//! read once per request and passed into pure code.

use crate::http::ApiError;

pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

pub fn random<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| {
        worker::console_error!("getrandom: {e}");
        ApiError::internal("randomness")
    })?;
    Ok(buf)
}

/// The client's address as Cloudflare reports it, for per-IP rate limits.
pub fn client_ip(req: &worker::Request) -> String {
    req.headers().get("cf-connecting-ip").ok().flatten().unwrap_or_else(|| "unknown".to_string())
}

/// Applies a rate limit binding (absent binding → no limit); a refusal is a 429 saying `refusal`.
pub async fn rate_limit(env: &worker::Env, binding: &str, key: String, refusal: &str) -> Result<(), ApiError> {
    let Some(limiter) = crate::env::rate_limiter(env, binding) else { return Ok(()) };
    match limiter.limit(key).await {
        Ok(outcome) if !outcome.success => Err(ApiError::new(429, "rate_limited", refusal).with_header("retry-after", "60")),
        Ok(_) => Ok(()),
        Err(e) => {
            // Fail open: rate limits protect against abuse, they are not a security boundary.
            worker::console_error!("rate limiter {binding}: {e}");
            Ok(())
        }
    }
}
