//! Redaction of a transcript before it is stored (issue 6): credentials are replaced by
//! `[REDACTED:<kind>]` in every string of the document, object keys included.
//!
//! Replaced, in this order:
//! - each exact secret the caller gives (the learner's academy key, the provider keys) —
//!   `secret`; secrets shorter than 8 bytes are ignored (they would match ordinary text);
//! - academy keys, `aa_` + 32 or more alphanumerics — `academy_key`;
//! - `Bearer <token>` (token of 16+ base64/URL characters with a digit) — `bearer`;
//! - `sk-ant-…` — `anthropic_key`; `sk-…` / `sk-proj-…` (20+ characters after `sk-`, with a
//!   digit, so "sk-learn" stays) — `openai_key`;
//! - AWS access key ids `AKIA`/`ASIA` + 16 of `[0-9A-Z]` — `aws_key`;
//! - GitHub tokens `gh[pousr]_` + 36+ alphanumerics, `github_pat_…` — `github_token`;
//! - Slack tokens `xox[baprs]-…` — `slack_token`;
//! - JWTs `eyJ….eyJ….…` — `jwt`;
//! - PEM private key blocks, BEGIN to END (to the end of the string if END is missing) —
//!   `private_key`;
//! - `password=…`, `password: "…"`, `"password": "…"`, and the same for `passwd` and
//!   `secret` (with suffixes such as `_key`) — the value only, `password` / `secret`; values
//!   that are code (`os.environ[…]`, `getpass()`, `${…}`) are left alone;
//! - the string value of an object member named like a credential (`password`, `api_key`,
//!   `authorization`, `client_secret`, …) — `password` / `secret`.
//!
//! Tokens must start at a word boundary. Redaction is idempotent: markers match no shape.
//! Hand-written scanners instead of a regex crate keep the WASM small. Pure: no worker.

use serde_json::{Map, Value};

/// Exact secrets shorter than this are not looked for.
const MIN_SECRET_LEN: usize = 8;

/// Object member names (lower case, without `-` and `_`) whose string value is a credential.
const SECRET_MEMBERS: [&str; 13] = [
    "password",
    "passwd",
    "secret",
    "clientsecret",
    "apikey",
    "xapikey",
    "accesstoken",
    "refreshtoken",
    "authtoken",
    "privatekey",
    "authorization",
    "proxyauthorization",
    "secretkey",
];

/// Replaces every credential in every string (values and object keys) of `doc`.
pub fn redact(doc: &mut Value, secrets: &[&str]) {
    let secrets: Vec<&str> = secrets.iter().copied().filter(|s| s.len() >= MIN_SECRET_LEN).collect();
    walk(doc, &secrets);
}

fn walk(value: &mut Value, secrets: &[&str]) {
    match value {
        Value::String(s) => {
            if let Some(clean) = redact_text(s, secrets) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk(v, secrets)),
        Value::Object(map) => {
            if map.keys().any(|k| redact_text(k, secrets).is_some()) {
                let old = std::mem::take(map);
                *map = old
                    .into_iter()
                    .map(|(k, v)| (redact_text(&k, secrets).unwrap_or(k), v))
                    .collect::<Map<String, Value>>();
            }
            for (k, v) in map.iter_mut() {
                let credential = matches!(&*v, Value::String(s) if !s.is_empty() && !s.starts_with(MARKER_START));
                match member_kind(k).filter(|_| credential) {
                    Some(kind) => *v = Value::String(marker(kind)),
                    None => walk(v, secrets),
                }
            }
        }
        _ => {}
    }
}

const MARKER_START: &str = "[REDACTED:";

fn marker(kind: &str) -> String {
    format!("{MARKER_START}{kind}]")
}

fn member_kind(name: &str) -> Option<&'static str> {
    let normal: String =
        name.chars().filter(|c| *c != '-' && *c != '_').map(|c| c.to_ascii_lowercase()).collect();
    SECRET_MEMBERS
        .contains(&normal.as_str())
        .then_some(if normal.starts_with("pass") { "password" } else { "secret" })
}

/// The text with every credential replaced, or `None` when it holds none.
pub fn redact_text(text: &str, secrets: &[&str]) -> Option<String> {
    let mut owned: Option<String> = None;
    for secret in secrets {
        let current = owned.as_deref().unwrap_or(text);
        if current.contains(secret) {
            owned = Some(current.replace(secret, &marker("secret")));
        }
    }
    let current = owned.as_deref().unwrap_or(text);
    match scan(current) {
        Some(clean) => Some(clean),
        None => owned,
    }
}

/// A credential found in text: the bytes `start..end` are replaced by the kind's marker.
struct Found {
    start: usize,
    end: usize,
    kind: &'static str,
}

fn scan(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        let Some(found) = match_at(b, i) else {
            i += 1;
            continue;
        };
        // Every match starts and ends at an ASCII byte (or the end), so both are char
        // boundaries; `get` can only fail if that invariant breaks, and then copies nothing.
        let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
        o.push_str(text.get(copied..found.start).unwrap_or_default());
        o.push_str(&marker(found.kind));
        copied = found.end;
        i = found.end.max(i + 1);
    }
    let mut o = out?;
    o.push_str(text.get(copied..).unwrap_or_default());
    Some(o)
}

fn match_at(b: &[u8], i: usize) -> Option<Found> {
    let first = *b.get(i)?;
    match first {
        b'a' => academy_key(b, i).or_else(|| pair(b, i)),
        b'B' | b'b' => bearer(b, i),
        b's' => provider_key(b, i).or_else(|| pair(b, i)),
        b'A' => aws_key(b, i).or_else(|| pair(b, i)),
        b'g' => github_token(b, i),
        b'x' => slack_token(b, i),
        b'e' => jwt(b, i),
        b'-' => pem(b, i),
        b'p' | b'P' | b'S' => pair(b, i),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Byte helpers

fn at(b: &[u8], i: usize) -> Option<u8> {
    b.get(i).copied()
}

fn starts(b: &[u8], i: usize, prefix: &[u8]) -> bool {
    b.get(i..).is_some_and(|rest| rest.starts_with(prefix))
}

fn starts_ci(b: &[u8], i: usize, prefix: &[u8]) -> bool {
    b.get(i..i.saturating_add(prefix.len())).is_some_and(|s| s.eq_ignore_ascii_case(prefix))
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// No word character right before `i`.
fn boundary(b: &[u8], i: usize) -> bool {
    i.checked_sub(1).and_then(|p| at(b, p)).is_none_or(|c| !is_word(c))
}

/// The end of the run of bytes from `from` that satisfy `pred`.
fn run(b: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> usize {
    let mut end = from;
    while at(b, end).is_some_and(&pred) {
        end += 1;
    }
    end
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let hay = b.get(from..)?;
    hay.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

fn has_digit(b: &[u8], from: usize, to: usize) -> bool {
    b.get(from..to).is_some_and(|s| s.iter().any(u8::is_ascii_digit))
}

fn found(start: usize, end: usize, kind: &'static str) -> Option<Found> {
    Some(Found { start, end, kind })
}

// ---------------------------------------------------------------------------------------------
// Shapes

fn academy_key(b: &[u8], i: usize) -> Option<Found> {
    if !boundary(b, i) || !starts(b, i, b"aa_") {
        return None;
    }
    let end = run(b, i + 3, |c| c.is_ascii_alphanumeric());
    (end - (i + 3) >= 32).then_some(())?;
    found(i, end, "academy_key")
}

fn bearer(b: &[u8], i: usize) -> Option<Found> {
    if !boundary(b, i) || !starts_ci(b, i, b"bearer") {
        return None;
    }
    let token = run(b, i + 6, |c| c == b' ' || c == b'\t');
    if token == i + 6 {
        return None;
    }
    let end = run(b, token, |c| c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c));
    (end - token >= 16 && has_digit(b, token, end)).then_some(())?;
    found(token, end, "bearer")
}

fn provider_key(b: &[u8], i: usize) -> Option<Found> {
    if !boundary(b, i) || !starts(b, i, b"sk-") {
        return None;
    }
    let end = run(b, i + 3, is_word);
    (end - (i + 3) >= 20 && has_digit(b, i + 3, end)).then_some(())?;
    let kind = if starts(b, i, b"sk-ant-") { "anthropic_key" } else { "openai_key" };
    found(i, end, kind)
}

fn aws_key(b: &[u8], i: usize) -> Option<Found> {
    if !boundary(b, i) || !(starts(b, i, b"AKIA") || starts(b, i, b"ASIA")) {
        return None;
    }
    let end = run(b, i + 4, |c| c.is_ascii_digit() || c.is_ascii_uppercase());
    (end - (i + 4) == 16 && !at(b, end).is_some_and(is_word)).then_some(())?;
    found(i, end, "aws_key")
}

fn github_token(b: &[u8], i: usize) -> Option<Found> {
    if !boundary(b, i) {
        return None;
    }
    if starts(b, i, b"github_pat_") {
        let end = run(b, i + 11, |c| c.is_ascii_alphanumeric() || c == b'_');
        return (end - (i + 11) >= 22).then_some(Found { start: i, end, kind: "github_token" });
    }
    let kind_ok = starts(b, i, b"gh") && at(b, i + 2).is_some_and(|c| b"pousr".contains(&c)) && at(b, i + 3) == Some(b'_');
    if !kind_ok {
        return None;
    }
    let end = run(b, i + 4, |c| c.is_ascii_alphanumeric());
    (end - (i + 4) >= 36).then_some(())?;
    found(i, end, "github_token")
}

fn slack_token(b: &[u8], i: usize) -> Option<Found> {
    let kind_ok = boundary(b, i)
        && starts(b, i, b"xox")
        && at(b, i + 3).is_some_and(|c| b"baprs".contains(&c))
        && at(b, i + 4) == Some(b'-');
    if !kind_ok {
        return None;
    }
    let end = run(b, i + 5, |c| c.is_ascii_alphanumeric() || c == b'-');
    (end - (i + 5) >= 10).then_some(())?;
    found(i, end, "slack_token")
}

fn jwt(b: &[u8], i: usize) -> Option<Found> {
    if !boundary(b, i) || !starts(b, i, b"eyJ") {
        return None;
    }
    let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    let header_end = run(b, i, b64);
    if at(b, header_end) != Some(b'.') || !starts(b, header_end + 1, b"eyJ") {
        return None;
    }
    let payload_end = run(b, header_end + 1, b64);
    if at(b, payload_end) != Some(b'.') {
        return None;
    }
    let end = run(b, payload_end + 1, b64);
    found(i, end, "jwt")
}

fn pem(b: &[u8], i: usize) -> Option<Found> {
    if !starts(b, i, b"-----BEGIN ") {
        return None;
    }
    let label_end = find(b, i + 11, b"-----").filter(|e| e - i <= 100)?;
    let label = b.get(i + 11..label_end)?;
    if !label.windows(11).any(|w| w == b"PRIVATE KEY") {
        return None;
    }
    let end = match find(b, label_end + 5, b"-----END ") {
        Some(e) => find(b, e + 9, b"-----").filter(|x| x - e <= 100).map_or(b.len(), |x| x + 5),
        None => b.len(),
    };
    found(i, end, "private_key")
}

/// `password=…` / `password: "…"` / `"password": "…"` (and `passwd`, `secret`): the value.
fn pair(b: &[u8], i: usize) -> Option<Found> {
    let (kind, mut j) = if starts_ci(b, i, b"password") {
        ("password", i + 8)
    } else if starts_ci(b, i, b"passwd") {
        ("password", i + 6)
    } else if starts_ci(b, i, b"secret") {
        ("secret", i + 6)
    } else {
        return None;
    };
    // A suffix must be its own word part: `password_hash`, `SECRET_KEY`; not `secretary`.
    match at(b, j) {
        Some(b'_' | b'-') => j = run(b, j, is_word),
        Some(c) if c.is_ascii_alphanumeric() => return None,
        _ => {}
    }
    if matches!(at(b, j), Some(b'"' | b'\'')) {
        j += 1;
    }
    let blank = |c: u8| c == b' ' || c == b'\t';
    j = run(b, j, blank);
    let sep = at(b, j)?;
    if sep != b'=' && sep != b':' {
        return None;
    }
    let v = run(b, j + 1, blank);
    match at(b, v)? {
        q @ (b'"' | b'\'') => {
            let start = v + 1;
            let mut k = start;
            while let Some(c) = at(b, k) {
                if c == q || c == b'\n' {
                    break;
                }
                k += if c == b'\\' { 2 } else { 1 };
            }
            let end = k.min(b.len());
            if end == start || starts(b, start, MARKER_START.as_bytes()) {
                return None;
            }
            found(start, end, kind)
        }
        c if c == b'$' || c == b'%' => None,
        _ => {
            let end = run(b, v, |c| !c.is_ascii_whitespace() && !b"&;,\"'<>()[]{}".contains(&c));
            if end == v || matches!(at(b, end), Some(b'(' | b'[')) {
                return None;
            }
            // `password: value` only when the value ends its line (YAML, .env), so prose like
            // "your password: then press enter" stays.
            if sep == b':' && at(b, run(b, end, blank)).is_some_and(|c| c != b'\n' && c != b'\r') {
                return None;
            }
            found(v, end, kind)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ACADEMY_KEY: &str = "aa_0123456789abcdefghijABCDEFGHIJkl";

    #[track_caller]
    fn case(input: &str, want: &str) {
        assert_eq!(redact_text(input, &[]).as_deref().unwrap_or(input), want);
    }

    #[track_caller]
    fn untouched(input: &str) {
        assert_eq!(redact_text(input, &[]), None, "changed: {input}");
    }

    #[test]
    fn exact_secrets_are_replaced_wherever_they_appear() {
        let secret = "my-provider-key-123";
        let out = redact_text(&format!("x{secret}y and {secret}"), &[secret]).unwrap();
        assert_eq!(out, "x[REDACTED:secret]y and [REDACTED:secret]");
        let mut doc = json!({"a": "short", "b": ["abc"]});
        redact(&mut doc, &["abc", ""]);
        assert_eq!(doc, json!({"a": "short", "b": ["abc"]}), "short secrets are ignored");
    }

    #[test]
    fn academy_keys_are_redacted() {
        case(&format!("key={ACADEMY_KEY}."), "key=[REDACTED:academy_key].");
        case(&format!("export AA=\"{ACADEMY_KEY}\""), "export AA=\"[REDACTED:academy_key]\"");
        untouched("aa_short and baa_0123456789abcdefghijABCDEFGHIJkl");
    }

    #[test]
    fn bearer_tokens_are_redacted_but_the_scheme_stays() {
        case("Authorization: Bearer abc123DEF456ghi789", "Authorization: Bearer [REDACTED:bearer]");
        case("bearer   eyZ0aW1lIjox.MjM0NTY3ODk=", "bearer   [REDACTED:bearer]");
        untouched("Bearer tokens travel in the Authorization header.");
        untouched("headers = {\"Authorization\": f\"Bearer {api_key}\"}");
    }

    #[test]
    fn provider_keys_are_redacted() {
        case("sk-ant-api03-Abc123_def456-GHI789jkl012mno", "[REDACTED:anthropic_key]");
        case("OPENAI_API_KEY=sk-proj-Abc123def456GHI789jkl012", "OPENAI_API_KEY=[REDACTED:openai_key]");
        case("key: sk-1234567890abcdefghijklmn", "key: [REDACTED:openai_key]");
    }

    #[test]
    fn cloud_and_chat_tokens_are_redacted() {
        case("AKIAIOSFODNN7EXAMPLE", "[REDACTED:aws_key]");
        case("id=ASIAIOSFODNN7EXAMPLE;", "id=[REDACTED:aws_key];");
        case("ghp_0123456789abcdefghijABCDEFGHIJ012345", "[REDACTED:github_token]");
        case("token github_pat_11ABCDEFG0123456789_abcdefghij", "token [REDACTED:github_token]");
        case("xoxb-1234567890-abcdefABCDEF", "[REDACTED:slack_token]");
        untouched("AKIA1234 ghp_short xoxb-1 ghx_0123456789abcdefghijABCDEFGHIJ012345");
    }

    #[test]
    fn jwts_are_redacted() {
        case(
            "token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk done",
            "token: [REDACTED:jwt] done",
        );
        untouched("eyJhbGciOiJIUzI1NiJ9 alone");
    }

    #[test]
    fn private_key_blocks_are_redacted_whole() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----";
        case(&format!("key:\n{pem}\nnext"), "key:\n[REDACTED:private_key]\nnext");
        case("-----BEGIN PRIVATE KEY-----\nMIIE cut", "[REDACTED:private_key]");
        untouched("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
    }

    #[test]
    fn password_pairs_keep_their_name_and_lose_their_value() {
        case("db?user=a&password=hunter2&x=1", "db?user=a&password=[REDACTED:password]&x=1");
        case(r#"{"password": "hunter2", "user": "a"}"#, r#"{"password": "[REDACTED:password]", "user": "a"}"#);
        case(r#"{"password":"hun\"ter2"}"#, r#"{"password":"[REDACTED:password]"}"#);
        case("password: hunter2\nuser: a", "password: [REDACTED:password]\nuser: a");
        case("DB_PASSWORD=hunter2", "DB_PASSWORD=[REDACTED:password]");
        case("SECRET_KEY = 'abc def'", "SECRET_KEY = '[REDACTED:secret]'");
        untouched("password = os.environ[\"DB_PASSWORD\"]");
        untouched("password=getpass()");
        untouched("PASSWORD=${DB_PASSWORD}");
        untouched("Enter your password: then press enter.");
        untouched("The secretary: Jane");
    }

    #[test]
    fn credential_members_of_objects_are_redacted() {
        let mut doc = json!({"input": {"password": "hunter2", "api_key": "xyz", "X-Api-Key": "k", "limit": 5, "name": "n"}});
        redact(&mut doc, &[]);
        assert_eq!(
            doc,
            json!({"input": {"password": "[REDACTED:password]", "api_key": "[REDACTED:secret]", "X-Api-Key": "[REDACTED:secret]", "limit": 5, "name": "n"}})
        );
    }

    #[test]
    fn object_keys_and_nested_strings_are_walked() {
        let mut doc = json!({"messages": [{"content": [{"text": format!("use {ACADEMY_KEY}")}]}], ACADEMY_KEY: 1});
        redact(&mut doc, &[]);
        assert_eq!(doc, json!({"messages": [{"content": [{"text": "use [REDACTED:academy_key]"}]}], "[REDACTED:academy_key]": 1}));
    }

    #[test]
    fn ordinary_text_and_code_are_left_alone() {
        for text in [
            "ask the sk-learn docs",
            "import sklearn; from sklearn.linear_model import LinearRegression",
            "the task-runner-1234567890-abcdefghij ran",
            "a an the is to of aa bb",
            "Passwords should be long. Secrets live in a vault.",
            "client = Anthropic(api_key=os.environ[\"ANTHROPIC_API_KEY\"])",
            "fn main() { println!(\"Hello, world!\"); }",
            "The weather in Paris is 68°F — sunny ☀️",
            "eyJ is how base64 JSON starts",
            "",
        ] {
            untouched(text);
        }
    }

    #[test]
    fn redaction_is_idempotent() {
        let mut doc = json!({
            "text": format!("{ACADEMY_KEY} Bearer abc123DEF456ghi789 sk-ant-api03-Abc123_def456-GHI789jkl012mno \
                AKIAIOSFODNN7EXAMPLE password=hunter2 \"password\": \"x\" secret: y\n\
                -----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY----- eyJa.eyJb.c xoxp-1234567890-abc"),
            "password": "hunter2",
        });
        redact(&mut doc, &["provider-secret-1"]);
        let once = doc.clone();
        redact(&mut doc, &["provider-secret-1"]);
        assert_eq!(doc, once);
        let text = once["text"].as_str().unwrap();
        for leaked in ["aa_0123", "abc123DEF", "sk-ant", "AKIA", "hunter2", "BEGIN PRIVATE", "eyJa", "xoxp"] {
            assert!(!text.contains(leaked), "{leaked} in {text}");
        }
    }

    #[test]
    fn scanning_never_panics_on_odd_text() {
        for text in ["a", "-----BEGIN ", "password=", "password:\"", "password=\"\\", "Bearer ", "sk-", "eyJ.", "é-----BEGIN é", "\u{0}aa_"] {
            let _ = redact_text(text, &["password=x"]);
        }
    }
}
