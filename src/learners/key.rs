//! Academy keys: `aa_` + 32 base62 characters (≥ 190 random bits). Shown once; stored only as
//! the SHA-256 hex digest plus a short display prefix; compared by digest.
//!
//! Pure: the caller supplies the random bytes.

use sha2::{Digest, Sha256};
use std::fmt;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const KEY_CHARS: usize = 32;

/// A syntactically valid academy key. Never logged, never stored in clear.
#[derive(Clone, PartialEq, Eq)]
pub struct AcademyKey(String);

impl fmt::Debug for AcademyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AcademyKey(***)")
    }
}

impl AcademyKey {
    /// A new key from random bytes (rejection sampling keeps the characters uniform).
    pub fn generate(random: &[u8; 64]) -> AcademyKey {
        let mut out = String::from("aa_");
        for b in random.iter().filter(|b| **b < 248) {
            if out.len() == 3 + KEY_CHARS {
                break;
            }
            out.push(char::from(BASE62.get(usize::from(b % 62)).copied().unwrap_or(b'0')));
        }
        // 64 bytes all ≥ 248 has probability 2^-256; pad deterministically rather than fail.
        while out.len() < 3 + KEY_CHARS {
            out.push('0');
        }
        AcademyKey(out)
    }

    /// Parses a presented key; `None` when it cannot be an academy key (no D1 lookup needed).
    pub fn parse(raw: &str) -> Option<AcademyKey> {
        let raw = raw.trim();
        let tail = raw.strip_prefix("aa_")?;
        (tail.len() == KEY_CHARS && tail.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| AcademyKey(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What D1 stores and looks keys up by.
    pub fn hash(&self) -> String {
        hex(&Sha256::digest(self.0.as_bytes()))
    }

    /// `aa_` + the first 6 characters: enough to tell keys apart on a page.
    pub fn prefix(&self) -> String {
        self.0.chars().take(9).collect()
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0xF] {
            s.push(char::from(HEX.get(usize::from(nibble)).copied().unwrap_or(b'0')));
        }
    }
    s
}

/// The key presented with a request: `x-api-key`, else `Authorization: Bearer`.
pub fn presented(x_api_key: Option<&str>, authorization: Option<&str>) -> Option<String> {
    if let Some(k) = x_api_key.map(str::trim).filter(|k| !k.is_empty()) {
        return Some(k.to_string());
    }
    let auth = authorization?.trim();
    let (scheme, token) = auth.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_hide_in_debug() {
        let k = AcademyKey::generate(&[17; 64]);
        assert_eq!(k.as_str().len(), 35);
        assert_eq!(AcademyKey::parse(k.as_str()), Some(k.clone()));
        assert_eq!(format!("{k:?}"), "AcademyKey(***)");
        assert_eq!(k.prefix().len(), 9);
        assert_eq!(k.hash().len(), 64);
    }

    #[test]
    fn bytes_above_the_rejection_bound_are_skipped() {
        let mut r = [250u8; 64];
        r[40..].copy_from_slice(&[1u8; 24]);
        let k = AcademyKey::generate(&r);
        assert_eq!(&k.as_str()[3..], "1".repeat(24) + "00000000");
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        for raw in ["", "aa_", "aa_short", "sk-ant-123", &format!("aa_{}", "é".repeat(32)), &format!("aa_{}!", "a".repeat(31))] {
            assert!(AcademyKey::parse(raw).is_none(), "{raw}");
        }
    }

    #[test]
    fn keys_come_from_x_api_key_or_a_bearer_token() {
        assert_eq!(presented(Some("k1"), Some("Bearer k2")), Some("k1".into()));
        assert_eq!(presented(None, Some("bearer k2")), Some("k2".into()));
        assert_eq!(presented(None, Some("Basic k2")), None);
        assert_eq!(presented(Some(" "), None), None);
        assert_eq!(presented(None, Some("Bearer")), None);
    }
}
