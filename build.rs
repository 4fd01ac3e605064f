//! Build-time work: content hashes of the static assets (so their URLs can be cached forever).
//! Later: the lesson catalogue.

use std::{env, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=static");
    let css = fs::read("static/app.css").unwrap_or_default();
    println!("cargo:rustc-env=APP_CSS_HASH={}", hash_hex(&css));
    let _ = Path::new(&env::var("OUT_DIR").unwrap_or_default());
}

/// FNV-1a 64: a stable fingerprint for cache-busting URLs, not a security boundary.
fn hash_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}").chars().take(12).collect()
}
