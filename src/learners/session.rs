//! The session cookie: `learner_id.session_epoch.expires_ms.hmac`, HMAC-SHA256 under
//! `SESSION_SECRET`. Verified here (signature in constant time, then expiry); the epoch is
//! checked against D1 by the caller, so signing out everywhere invalidates every cookie.
//!
//! Pure: the caller passes the secret and the time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const SESSION_DAYS: u64 = 30;
const DAY_MS: u64 = 86_400_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub learner_id: String,
    pub epoch: i64,
    pub expires_ms: u64,
}

/// The cookie's name: `__Host-` needs `Secure`, which plain-http local development can't use.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-aa_session"
    } else {
        "aa_session"
    }
}

fn mac(secret: &str, payload: &str) -> Option<HmacSha256> {
    let mut m = HmacSha256::new_from_slice(secret.as_bytes()).ok()?;
    m.update(payload.as_bytes());
    Some(m)
}

/// The signed cookie value for a session starting now.
pub fn sign(secret: &str, learner_id: &str, epoch: i64, now_ms: u64) -> Option<String> {
    let payload = format!("{learner_id}.{epoch}.{}", now_ms.saturating_add(SESSION_DAYS * DAY_MS));
    let tag = mac(secret, &payload)?.finalize().into_bytes();
    Some(format!("{payload}.{}", super::key::hex(&tag)))
}

/// The session a cookie value carries, if its signature is ours and it has not expired.
pub fn verify(secret: &str, value: &str, now_ms: u64) -> Option<Session> {
    let (payload, tag_hex) = value.rsplit_once('.')?;
    let tag = unhex(tag_hex)?;
    mac(secret, payload)?.verify_slice(&tag).ok()?;
    let mut parts = payload.split('.');
    let (learner_id, epoch, expires) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let session = Session { learner_id: learner_id.to_string(), epoch: epoch.parse().ok()?, expires_ms: expires.parse().ok()? };
    (session.expires_ms > now_ms).then_some(session)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// The `Set-Cookie` value for a session (or, with `value` None, one that clears it).
pub fn set_cookie(secure: bool, value: Option<&str>) -> String {
    let name = cookie_name(secure);
    let secure_attr = if secure { "; Secure" } else { "" };
    match value {
        Some(v) => format!("{name}={v}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure_attr}", SESSION_DAYS * 86_400),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure_attr}"),
    }
}

/// The session cookie's value from a `Cookie` header.
pub fn from_header(header: &str, secure: bool) -> Option<&str> {
    let name = cookie_name(secure);
    header.split(';').filter_map(|c| c.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-long-test-secret-0123456789";

    #[test]
    fn a_signed_session_verifies_until_it_expires() {
        let v = sign(SECRET, "lrn_abc", 3, 1_000).unwrap();
        let s = verify(SECRET, &v, 2_000).unwrap();
        assert_eq!((s.learner_id.as_str(), s.epoch), ("lrn_abc", 3));
        assert!(verify(SECRET, &v, s.expires_ms).is_none());
    }

    #[test]
    fn tampered_or_foreign_cookies_fail() {
        let v = sign(SECRET, "lrn_abc", 0, 1_000).unwrap();
        assert!(verify("another-secret", &v, 2_000).is_none());
        let forged = v.replacen("lrn_abc", "lrn_xyz", 1);
        assert!(verify(SECRET, &forged, 2_000).is_none());
        for junk in ["", ".", "a.b.c.d", "lrn_abc.0.99999999999999.zz", &"x".repeat(5000)] {
            assert!(verify(SECRET, junk, 2_000).is_none(), "{junk}");
        }
    }

    #[test]
    fn cookies_are_found_by_name_among_others() {
        assert_eq!(from_header("a=1; __Host-aa_session=v.1; b=2", true), Some("v.1"));
        assert_eq!(from_header("aa_session=v", true), None);
        assert_eq!(from_header("aa_session=v", false), Some("v"));
    }

    #[test]
    fn set_cookie_has_the_security_attributes() {
        let c = set_cookie(true, Some("v"));
        assert!(c.starts_with("__Host-aa_session=v; Path=/; HttpOnly; SameSite=Lax"));
        assert!(c.ends_with("; Secure"));
        assert!(!set_cookie(false, Some("v")).contains("Secure"));
        assert!(set_cookie(true, None).contains("Max-Age=0"));
    }
}
