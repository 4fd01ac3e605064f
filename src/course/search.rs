//! Lesson search: BM25F over the index `build.rs` computed (lesson title, section heading and
//! body, with field weights), plus prefix matching for words still being typed, and snippets
//! with the matched words marked.
//!
//! Pure. Snippets are escaped here; the only markup added is `<mark>`.

use super::catalogue::{Doc, Term, AVG_LEN, DOCS, LESSONS, ROADMAP, TERMS};
use super::text;

const K1: f32 = 1.2;
const B: f32 = 0.75;
/// Longest query considered (bytes) and most terms used from it.
pub const MAX_QUERY_BYTES: usize = 200;
const MAX_TERMS: usize = 12;
/// How many index terms one typed prefix may expand to, and what each is worth.
const MAX_EXPANSIONS: usize = 8;
const PREFIX_WEIGHT: f32 = 0.5;
const SNIPPET_WORDS: usize = 36;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Hit {
    pub lesson: Option<&'static str>,
    pub title: &'static str,
    pub section: &'static str,
    pub url: String,
    pub score: f32,
    /// Plain text around the first match.
    pub snippet: String,
    /// The same, HTML-escaped, with matches in `<mark>`.
    #[serde(skip)]
    pub snippet_html: String,
}

/// The terms a query searches for: (term, weight), exact terms first, then prefix expansions.
fn expand(query: &str) -> Vec<Term> {
    let query = crate::http::error::truncate(query, MAX_QUERY_BYTES);
    let mut wanted = text::terms(query);
    wanted.dedup();
    wanted.truncate(MAX_TERMS);
    let mut out = Vec::new();
    for t in &wanted {
        if let Ok(i) = TERMS.binary_search_by(|(term, _, _)| (*term).cmp(t.as_str())) {
            if let Some((term, idf, postings)) = TERMS.get(i) {
                out.push((*term, *idf, *postings));
            }
        }
        if t.chars().count() >= 3 {
            let start = TERMS.partition_point(|(term, _, _)| *term < t.as_str());
            let expansions = TERMS
                .iter()
                .skip(start)
                .take_while(|(term, _, _)| term.starts_with(t.as_str()))
                .filter(|(term, _, _)| *term != t.as_str())
                .take(MAX_EXPANSIONS);
            for (term, idf, postings) in expansions {
                out.push((*term, idf * PREFIX_WEIGHT, *postings));
            }
        }
    }
    out
}

/// Ranked sections for `query`, at most `limit`.
pub fn search(query: &str, limit: usize) -> Vec<Hit> {
    let terms = expand(query);
    if terms.is_empty() {
        return Vec::new();
    }
    let mut scores = vec![0.0f32; DOCS.len()];
    for (_, idf, postings) in &terms {
        for &(doc, tf) in postings.iter() {
            let tf = f32::from(tf);
            let Some(d) = DOCS.get(usize::from(doc)) else { continue };
            let norm = K1 * (1.0 - B + B * d.len / AVG_LEN.max(1.0));
            if let Some(s) = scores.get_mut(usize::from(doc)) {
                *s += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
    }
    let mut ranked: Vec<(usize, f32)> = scores.into_iter().enumerate().filter(|(_, s)| *s > 0.0).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let matched: Vec<&str> = terms.iter().map(|(t, _, _)| *t).collect();
    ranked
        .into_iter()
        .take(limit)
        .filter_map(|(i, score)| DOCS.get(i).map(|d| hit(d, score, &matched)))
        .collect()
}

fn hit(d: &'static Doc, score: f32, matched: &[&str]) -> Hit {
    let (lesson, title, base) = match d.lesson.and_then(|i| LESSONS.get(i)) {
        Some(l) => (Some(l.id), l.title, format!("/lessons/{}", l.id)),
        None => (None, ROADMAP.title, "/roadmap".to_string()),
    };
    let url = if d.anchor.is_empty() { base } else { format!("{base}#{}", d.anchor) };
    let (snippet, snippet_html) = snippet(d.text, matched);
    Hit { lesson, title, section: d.heading, url, score, snippet, snippet_html }
}

/// A window of words around the first match, plain and marked.
pub fn snippet(body: &str, matched: &[&str]) -> (String, String) {
    let words = text::words(body);
    let is_match = |w: &str| text::term(w).is_some_and(|t| matched.contains(&t.as_str()));
    let first = words.iter().position(|(_, w)| is_match(w)).unwrap_or(0);
    let start = first.saturating_sub(SNIPPET_WORDS / 3);
    let end = (start + SNIPPET_WORDS).min(words.len());
    let (Some((from, _)), Some((last_pos, last))) = (words.get(start), words.get(end.saturating_sub(1))) else {
        return (String::new(), String::new());
    };
    let to = last_pos + last.len();
    let mut plain = String::new();
    let mut html = String::new();
    if start > 0 {
        plain.push('…');
        html.push('…');
    }
    let mut cursor = *from;
    for (pos, w) in words.get(start..end).unwrap_or_default() {
        let gap = body.get(cursor..*pos).unwrap_or("");
        plain.push_str(gap);
        html.push_str(&escape(gap));
        plain.push_str(w);
        if is_match(w) {
            html.push_str("<mark>");
            html.push_str(&escape(w));
            html.push_str("</mark>");
        } else {
            html.push_str(&escape(w));
        }
        cursor = pos + w.len();
    }
    if to < body.len() {
        plain.push('…');
        html.push('…');
    }
    (plain, html)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lessons_own_topic_ranks_it_first() {
        let hits = search("stop_reason max_tokens streaming", 5);
        assert_eq!(hits.first().and_then(|h| h.lesson), Some("model-api"));
        let hits = search("prompt injection lethal trifecta", 5);
        assert_eq!(hits.first().and_then(|h| h.lesson), Some("trust-boundary"));
    }

    #[test]
    fn prefixes_find_words_still_being_typed() {
        assert!(!search("embedd", 5).is_empty());
        assert!(!search("hybr", 5).is_empty());
    }

    #[test]
    fn empty_stopword_and_hostile_queries_find_nothing_and_never_panic() {
        for q in ["", "   ", "the and of", "\u{0}\u{202e}", "<script>", &"a".repeat(100_000), "🦀🦀🦀"] {
            let _ = search(q, 10);
        }
        assert!(search("", 10).is_empty());
        assert!(search("the and of", 10).is_empty());
    }

    #[test]
    fn snippets_mark_matches_and_escape_everything_else() {
        let (plain, html) = snippet("use <b>tools</b> and a tool carefully", &["tool"]);
        assert!(plain.contains("<b>tools</b>"));
        assert!(html.contains("&lt;b&gt;<mark>tools</mark>&lt;/b&gt;"));
        assert!(html.contains("<mark>tool</mark>"));
        assert!(!html.contains("<b>"));
    }

    #[test]
    fn hits_link_to_their_section() {
        let hits = search("agentic loop", 3);
        assert!(hits.iter().all(|h| h.url.starts_with("/lessons/") || h.url.starts_with("/roadmap")));
        assert!(hits.iter().any(|h| h.url.contains('#')));
    }
}
