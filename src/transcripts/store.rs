//! The transcripts' R2 adapter: write one object per exchange (after redaction and the size
//! cap), read one back, and delete a learner's objects page by page.

use super::build::{self, Exchange};
use super::redact;
use std::collections::HashMap;
use worker::{Bucket, HttpMetadata};

/// Largest stored transcript; longer texts are cut with a visible marker, never dropped.
pub const MAX_TRANSCRIPT_BYTES: usize = 1024 * 1024;

/// Builds, redacts, caps and stores the transcript of one exchange.
pub async fn write(bucket: &Bucket, key: &str, exchange: &Exchange<'_>, secrets: &[&str]) -> worker::Result<()> {
    let mut doc = build::transcript(exchange);
    redact::redact(&mut doc, secrets);
    let bytes = build::to_bytes(&doc, MAX_TRANSCRIPT_BYTES);
    let meta: HashMap<String, String> = build::custom_metadata(&doc).into_iter().collect();
    bucket
        .put(key, bytes)
        .http_metadata(HttpMetadata { content_type: Some("application/json".into()), ..HttpMetadata::default() })
        .custom_metadata(meta)
        .execute()
        .await?;
    Ok(())
}

/// The stored bytes of a transcript, if the object exists.
pub async fn read(bucket: &Bucket, key: &str) -> worker::Result<Option<Vec<u8>>> {
    match bucket.get(key).execute().await? {
        Some(object) => match object.body() {
            Some(body) => Ok(Some(body.bytes().await?)),
            None => Ok(None),
        },
        None => Ok(None),
    }
}

/// Deletes every object under `transcripts/{learner_id}/`, a page at a time.
pub async fn delete_all(bucket: &Bucket, learner_id: &str) -> worker::Result<usize> {
    let prefix = format!("transcripts/{learner_id}/");
    let mut deleted = 0;
    loop {
        let page = bucket.list().prefix(prefix.clone()).limit(1000).execute().await?;
        let keys: Vec<String> = page.objects().iter().map(|o| o.key()).collect();
        if keys.is_empty() {
            break;
        }
        deleted += keys.len();
        bucket.delete_multiple(keys).await?;
        if !page.truncated() {
            break;
        }
    }
    Ok(deleted)
}
