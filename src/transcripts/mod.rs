//! Transcripts (issue 6): every model exchange through the gateway kept as evidence, one JSON
//! document per request in R2 (`TRANSCRIPTS`), redacted before storage, listed through the D1
//! usage rows and shown to the learner it belongs to.
//!
//! Pure modules (native-tested): `build` (the document, stream reassembly, the size cap, the
//! R2 key and custom metadata), `redact` (credentials replaced by `[REDACTED:<kind>]`) and
//! `view` (the HTML pages). The R2 adapter and the routes come with the wasm32 build.
//!
//! The order on the way to storage is fixed: `build::transcript` → `redact::redact` →
//! `build::to_bytes` (cutting after redaction, so a cut never leaves half a credential).
//! Transcripts never drive metering: they record what the gateway already decided.

pub mod build;
pub mod redact;
pub mod view;
#[cfg(target_arch = "wasm32")]
pub mod routes;
#[cfg(target_arch = "wasm32")]
pub mod store;
