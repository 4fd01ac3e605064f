//! Identifiers: request ids (`req_` + ULID, time-ordered, so keyset pagination and "newest
//! first" can go by id), learner ids (`lrn_…`), key ids (`key_…`) and tombstones (`del_…`).
//!
//! Pure: the caller passes the time and the random bytes.

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A ULID: 48 bits of milliseconds, then 80 random bits, in 26 Crockford base32 characters.
pub fn ulid(now_ms: u64, random: [u8; 10]) -> String {
    let mut value: u128 = u128::from(now_ms & 0xFFFF_FFFF_FFFF) << 80;
    for (i, b) in random.iter().enumerate() {
        value |= u128::from(*b) << (8 * (9 - i));
    }
    (0..26)
        .rev()
        .map(|i| {
            let idx = ((value >> (5 * i)) & 0x1F) as usize;
            char::from(CROCKFORD.get(idx).copied().unwrap_or(b'0'))
        })
        .collect()
}

pub fn request_id(now_ms: u64, random: [u8; 10]) -> String {
    format!("req_{}", ulid(now_ms, random))
}

/// `prefix` + 20 lower-case base32 characters of randomness (100 bits).
pub fn random_id(prefix: &str, random: &[u8; 20]) -> String {
    let lower = b"0123456789abcdefghjkmnpqrstvwxyz";
    let tail: String = random.iter().map(|b| char::from(lower.get(usize::from(b & 0x1F)).copied().unwrap_or(b'0'))).collect();
    format!("{prefix}{tail}")
}

/// Whether `s` looks like an id with this prefix (cheap check before any query).
pub fn looks_like(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|t| (1..=40).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_sort_by_time() {
        let a = ulid(1_700_000_000_000, [255; 10]);
        let b = ulid(1_700_000_000_001, [0; 10]);
        assert_eq!(a.len(), 26);
        assert!(a < b);
    }

    #[test]
    fn ulid_of_a_known_value() {
        assert_eq!(ulid(0, [0; 10]), "00000000000000000000000000");
        assert_eq!(ulid(1, [0; 10]), "0000000001" .to_string() + "0000000000000000");
    }

    #[test]
    fn ids_have_their_prefix_and_shape() {
        let id = random_id("lrn_", &[7; 20]);
        assert!(looks_like(&id, "lrn_"));
        assert!(!looks_like("lrn_../x", "lrn_"));
        assert!(!looks_like("key_abc", "lrn_"));
        assert!(!looks_like("lrn_", "lrn_"));
    }
}
