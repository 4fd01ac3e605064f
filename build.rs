//! Build-time work, so nothing of it happens per request:
//! - the lessons in `lessons/` are parsed, validated (any problem fails the build naming the
//!   file and line) and rendered to HTML with anchors and highlighted code;
//! - the search index (BM25F over lesson title, section heading and body) is computed;
//! - static assets get content hashes for their immutable URLs.
//!
//! The output is `$OUT_DIR/catalogue.rs`, included by `src/course/catalogue.rs`.

// Build-time code over our own files: a panic here fails the build, which is what a bad lesson
// should do, so the request-path lints don't apply.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "buildsrc/highlight.rs"]
mod highlight;
#[path = "buildsrc/lessons.rs"]
mod lessons;
#[path = "buildsrc/markdown.rs"]
mod markdown;
#[path = "src/course/text.rs"]
#[allow(dead_code)]
mod text;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Field weights of the search index: a term in a heading says more than one in the body.
const W_TITLE: f32 = 2.0;
const W_HEADING: f32 = 3.0;
const W_BODY: f32 = 1.0;

fn main() {
    println!("cargo:rerun-if-changed=lessons");
    println!("cargo:rerun-if-changed=static");
    println!("cargo:rerun-if-changed=buildsrc");
    println!("cargo:rerun-if-changed=src/course/text.rs");
    println!("cargo:rerun-if-changed=src/course/pages.rs");
    println!("cargo:rerun-if-changed=src/views");

    let css = std::fs::read("static/app.css").unwrap_or_default();
    let css_hash = hash_hex(&css);
    println!("cargo:rustc-env=APP_CSS_HASH={css_hash}");

    let mut problems = Vec::new();
    let (lessons, roadmap) = lessons::load(Path::new("lessons"), &mut problems);
    lessons::check_all(&lessons, roadmap.as_ref(), &mut problems);
    if lessons.is_empty() {
        problems.push("lessons/:1: no lessons found".to_string());
    }
    let roadmap = match (problems.is_empty(), roadmap) {
        (true, Some(r)) => r,
        (_, _) => {
            for p in &problems {
                eprintln!("error: {p}");
                println!("cargo:warning={p}");
            }
            std::process::exit(1);
        }
    };

    let out = generate(&lessons, &roadmap, &css_hash);
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("catalogue.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        eprintln!("error: writing {}: {e}", dest.display());
        std::process::exit(1);
    }
}

/// FNV-1a 64: a stable fingerprint for cache-busting URLs and ETags, not a security boundary.
pub fn hash_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}").chars().take(12).collect()
}

fn s(v: &str) -> String {
    format!("{v:?}")
}

fn strs(v: &[String]) -> String {
    format!("&[{}]", v.iter().map(|x| s(x)).collect::<Vec<_>>().join(", "))
}

fn toc(entries: &[markdown::TocEntry]) -> String {
    let items: Vec<String> = entries
        .iter()
        .map(|t| format!("TocEntry {{ level: {}, anchor: {}, text: {} }}", t.level, s(&t.anchor), s(&t.text)))
        .collect();
    format!("&[{}]", items.join(", "))
}

struct Doc {
    lesson: Option<usize>,
    anchor: String,
    heading: String,
    text: String,
    title: String,
}

fn generate(lessons: &[lessons::Lesson], roadmap: &lessons::Roadmap, css_hash: &str) -> String {
    let mut o = String::new();
    let version = env!("CARGO_PKG_VERSION");
    // Everything a page's bytes depend on: its source, the stylesheet and the crate version.
    // The layout code is covered by the version and by `src/views` changes bumping BUILD below.
    let mut all_sources: String = lessons.iter().map(|l| l.source_hash.as_str()).collect::<String>() + &roadmap.source_hash;
    for layout in ["src/course/pages.rs", "src/views/mod.rs"] {
        all_sources.push_str(&hash_hex(&std::fs::read(layout).unwrap_or_default()));
    }
    let catalogue_etag = hash_hex(format!("{all_sources}{css_hash}{version}").as_bytes());

    o.push_str("pub static LESSONS: &[Lesson] = &[\n");
    for l in lessons {
        let f = &l.front;
        let mut quiz = String::new();
        for q in &f.quiz {
            let options: Vec<String> = q
                .options
                .iter()
                .map(|c| format!("Choice {{ id: {}, text: {}, correct: {}, why: {} }}", s(&c.id), s(&c.text), c.correct, s(&c.why)))
                .collect();
            let _ = write!(quiz, "Question {{ id: {}, question: {}, options: &[{}] }}, ", s(&q.id), s(&q.question), options.join(", "));
        }
        let etag = hash_hex(format!("{}{css_hash}{version}{catalogue_etag}", l.source_hash).as_bytes());
        let _ = writeln!(
            o,
            "Lesson {{ id: {}, title: {}, step: {}, order: {}, minutes: {}, objectives: {}, prerequisites: {}, lab: {}, summary: {}, html: {}, toc: {}, quiz: &[{}], etag: {} }},",
            s(&f.id),
            s(&f.title),
            f.step,
            f.order,
            f.minutes,
            strs(&f.objectives),
            strs(&f.prerequisites),
            f.lab.as_ref().map_or("None".to_string(), |x| format!("Some({})", s(x))),
            s(l.body.summary.trim()),
            s(&l.body.html),
            toc(&l.body.toc),
            quiz,
            s(&format!("\"{etag}\"")),
        );
    }
    o.push_str("];\n");
    let _ = writeln!(
        o,
        "pub static ROADMAP: Page = Page {{ title: {}, description: {}, html: {}, toc: {}, etag: {} }};",
        s(&roadmap.front.title),
        s(&roadmap.front.description),
        s(&roadmap.body.html),
        toc(&roadmap.body.toc),
        s(&format!("\"{}\"", hash_hex(format!("{}{css_hash}{version}{catalogue_etag}", roadmap.source_hash).as_bytes()))),
    );
    let _ = writeln!(o, "pub static CATALOGUE_ETAG: &str = {};", s(&format!("\"{catalogue_etag}\"")));

    // Search documents: each `##` section of each lesson and of the roadmap.
    let mut docs = Vec::new();
    let mut push_docs = |lesson: Option<usize>, title: &str, sections: &[markdown::Section]| {
        for sec in sections {
            if sec.text.trim().is_empty() && sec.heading.is_empty() {
                continue;
            }
            docs.push(Doc { lesson, anchor: sec.anchor.clone(), heading: sec.heading.clone(), text: collapse(&sec.text), title: title.to_string() });
        }
    };
    for (i, l) in lessons.iter().enumerate() {
        push_docs(Some(i), &l.front.title, &l.body.sections);
    }
    push_docs(None, &roadmap.front.title, &roadmap.body.sections);

    let mut postings: BTreeMap<String, BTreeMap<usize, f32>> = BTreeMap::new();
    let mut lengths = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        let mut len = 0.0;
        for (field, weight) in [(&doc.title, W_TITLE), (&doc.heading, W_HEADING), (&doc.text, W_BODY)] {
            for t in text::terms(field) {
                *postings.entry(t).or_default().entry(d).or_insert(0.0) += weight;
                len += weight;
            }
        }
        lengths.push(len);
    }
    let n = docs.len() as f32;
    let avg = lengths.iter().sum::<f32>() / n.max(1.0);
    o.push_str("pub static DOCS: &[Doc] = &[\n");
    for (d, doc) in docs.iter().enumerate() {
        let _ = writeln!(
            o,
            "Doc {{ lesson: {}, anchor: {}, heading: {}, text: {}, len: {:?} }},",
            doc.lesson.map_or("None".to_string(), |i| format!("Some({i})")),
            s(&doc.anchor),
            s(&doc.heading),
            s(&doc.text),
            lengths[d]
        );
    }
    o.push_str("];\n");
    let _ = writeln!(o, "pub static AVG_LEN: f32 = {avg:?};");
    o.push_str("pub static TERMS: &[Term] = &[\n");
    for (term, ps) in &postings {
        let df = ps.len() as f32;
        let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
        // Field weights are small integers, so weighted frequencies are too: u16 halves the index.
        let list: Vec<String> = ps.iter().map(|(d, tf)| format!("({d}, {})", tf.round().min(65_535.0) as u16)).collect();
        let _ = writeln!(o, "({}, {idf:?}, &[{}]),", s(term), list.join(", "));
    }
    o.push_str("];\n");
    o
}

fn collapse(t: &str) -> String {
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}
