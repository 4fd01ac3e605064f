//! Text normalisation shared by the search index (built at build time by `build.rs`, which
//! includes this file) and the query side at run time, so both tokenise identically.
//!
//! Pure and dependency-free.

/// Words too common to rank by.
const STOP: [&str; 40] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "for", "from", "has",
    "have", "how", "i", "if", "in", "into", "is", "it", "its", "not", "of", "on", "or", "so",
    "that", "the", "their", "then", "this", "to", "was", "we", "what", "when", "with", "you",
];

/// Lower-cased terms of `text`: runs of letters and digits (`_` and inner `-` kept, so
/// `max_tokens` and `tool-use` stay whole), stop words dropped, plural/-ing/-ed endings trimmed.
pub fn terms(text: &str) -> Vec<String> {
    words(text).into_iter().filter_map(|(_, w)| term(w)).collect()
}

/// The searchable form of one word, or `None` for stop words and noise.
pub fn term(word: &str) -> Option<String> {
    let w = word.to_lowercase();
    if w.is_empty() || w.chars().count() > 40 || STOP.contains(&w.as_str()) {
        return None;
    }
    Some(stem(&w))
}

/// Words of `text` with their byte offsets (slices of `text`: no allocation per word).
pub fn words(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(pos, c)) in chars.iter().enumerate() {
        let inner_dash = c == '-'
            && start.is_some()
            && chars.get(i + 1).is_some_and(|&(_, n)| is_word(n));
        if is_word(c) || inner_dash {
            start.get_or_insert(pos);
        } else if let Some(s) = start.take() {
            out.push((s, text.get(s..pos).unwrap_or_default()));
        }
    }
    if let Some(s) = start {
        out.push((s, text.get(s..).unwrap_or_default()));
    }
    out
}

/// A light suffix-stripper: enough that "tools"/"tool", "streaming"/"stream" and
/// "retries"/"retry" meet, without a full stemmer's surprises.
fn stem(w: &str) -> String {
    let mut w = w.to_string();
    if w.chars().count() > 4 {
        if let Some(s) = w.strip_suffix("ies") {
            w = format!("{s}y");
        } else if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
            w.pop();
        }
    }
    if w.chars().count() > 5 {
        for suffix in ["ing", "ed"] {
            if let Some(s) = w.strip_suffix(suffix) {
                return s.to_string();
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_and_verb_forms_meet() {
        assert_eq!(terms("Tools tool"), vec!["tool", "tool"]);
        assert_eq!(terms("streaming streamed stream"), vec!["stream", "stream", "stream"]);
        assert_eq!(terms("retries"), vec!["retry"]);
        assert_eq!(terms("embeddings embedding"), vec!["embedd", "embedd"]);
    }

    #[test]
    fn identifiers_stay_whole_and_stop_words_go() {
        assert_eq!(terms("the max_tokens of tool-use"), vec!["max_token", "tool-use"]);
    }

    #[test]
    fn odd_unicode_never_breaks_offsets() {
        for (pos, w) in words("naïve — café 👩‍💻 ok") {
            assert!(!w.is_empty());
            assert!(pos < "naïve — café 👩‍💻 ok".len());
        }
        assert!(terms("\u{202e}\u{0}").is_empty());
    }
}
