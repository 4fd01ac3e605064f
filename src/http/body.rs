//! Reading request bodies with a cap, so an oversized body is a 413 before it is buffered
//! whole, and JSON parsed once into typed values with a clear 400.

use super::ApiError;
use worker::Request;

/// Forms and the academy's own JSON API: small.
pub const FORM_LIMIT: usize = 64 * 1024;

/// The body, at most `limit` bytes (`content-length` checked first, then the bytes read).
pub async fn read(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    let declared = req.headers().get("content-length").ok().flatten().and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::payload_too_large(limit));
    }
    let bytes = req.bytes().await.map_err(|_| ApiError::bad_request("unreadable_body", "The request body could not be read."))?;
    if bytes.len() > limit {
        return Err(ApiError::payload_too_large(limit));
    }
    Ok(bytes)
}

/// A JSON body parsed into `T`, with the parser's complaint as the message.
pub async fn json<T: serde::de::DeserializeOwned>(req: &mut Request, limit: usize) -> Result<T, ApiError> {
    let bytes = read(req, limit).await?;
    super::parse_json(&bytes)
}
