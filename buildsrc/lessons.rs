//! Build-time lessons: front matter parsed and validated, bodies rendered. Every problem is
//! reported as `file:line: message`, and any problem fails the build.

use crate::markdown::{self, Rendered};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Front {
    pub id: String,
    pub title: String,
    pub step: u8,
    pub order: u16,
    pub minutes: u16,
    pub objectives: Vec<String>,
    pub prerequisites: Vec<String>,
    pub lab: Option<String>,
    #[serde(default)]
    pub quiz: Vec<Question>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub question: String,
    pub options: Vec<Choice>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub id: String,
    pub text: String,
    pub correct: bool,
    pub why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoadmapFront {
    pub title: String,
    pub description: String,
}

pub struct Lesson {
    pub file: String,
    /// Lines of `id`, `order` and `prerequisites` in the file, for cross-lesson errors.
    pub lines: [usize; 3],
    pub front: Front,
    pub body: Rendered,
    pub source_hash: String,
}

pub struct Roadmap {
    pub front: RoadmapFront,
    pub body: Rendered,
    pub source_hash: String,
}

pub type Problems = Vec<String>;

/// Splits `+++` front matter from the body: (front, body, line where the body starts).
fn split(text: &str) -> Option<(&str, &str, usize)> {
    let rest = text.strip_prefix("+++\n").or_else(|| text.strip_prefix("+++\r\n"))?;
    let end = rest.find("\n+++")?;
    let front = &rest[..end + 1];
    let after = &rest[end + 4..];
    let body = after.strip_prefix('\n').or_else(|| after.strip_prefix("\r\n")).unwrap_or(after);
    let body_line = 2 + front.matches('\n').count() + 1;
    Some((front, body, body_line))
}

fn toml_line(front: &str, e: &toml::de::Error) -> usize {
    e.span().map_or(1, |s| 2 + front[..s.start.min(front.len())].matches('\n').count())
}

/// The line of the first occurrence of `needle` in the front matter, for error messages.
fn line_of(front: &str, needle: &str) -> usize {
    front.find(needle).map_or(1, |p| 2 + front[..p].matches('\n').count())
}

pub fn load(dir: &Path, problems: &mut Problems) -> (Vec<Lesson>, Option<Roadmap>) {
    let mut lessons = Vec::new();
    let mut roadmap = None;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for path in files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        if !name.ends_with(".md") || name == "README.md" {
            continue;
        }
        let file = format!("lessons/{name}");
        let Ok(text) = std::fs::read_to_string(&path) else {
            problems.push(format!("{file}:1: not readable as UTF-8"));
            continue;
        };
        let Some((front, body, body_line)) = split(&text) else {
            problems.push(format!("{file}:1: must start with `+++` front matter closed by a `+++` line"));
            continue;
        };
        let source_hash = crate::hash_hex(text.as_bytes());
        let rendered = markdown::render(body, body_line);
        for (line, msg) in &rendered.errors {
            problems.push(format!("{file}:{line}: {msg}"));
        }
        if name == "roadmap.md" {
            match toml::from_str::<RoadmapFront>(front) {
                Ok(front) => roadmap = Some(Roadmap { front, body: rendered, source_hash }),
                Err(e) => problems.push(format!("{file}:{}: {}", toml_line(front, &e), e.message())),
            }
            continue;
        }
        match toml::from_str::<Front>(front) {
            Ok(parsed) => {
                check_one(&file, front, &parsed, &rendered, problems);
                let lines = [line_of(front, "id"), line_of(front, "order"), line_of(front, "prerequisites")];
                lessons.push(Lesson { file, lines, front: parsed, body: rendered, source_hash });
            }
            Err(e) => problems.push(format!("{file}:{}: {}", toml_line(front, &e), e.message())),
        }
    }
    lessons.sort_by_key(|l| l.front.order);
    (lessons, roadmap)
}

fn check_one(file: &str, front_text: &str, f: &Front, body: &Rendered, problems: &mut Problems) {
    let at = |needle: &str| line_of(front_text, needle);
    let valid_id = |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid_id(&f.id) {
        problems.push(format!("{file}:{}: id `{}` must be lowercase letters, digits and dashes", at("id"), f.id));
    }
    if f.title.trim().is_empty() {
        problems.push(format!("{file}:{}: title is empty", at("title")));
    }
    if !(1..=5).contains(&f.step) {
        problems.push(format!("{file}:{}: step must be 1 to 5, got {}", at("step"), f.step));
    }
    if f.minutes == 0 {
        problems.push(format!("{file}:{}: minutes must be positive", at("minutes")));
    }
    if f.objectives.is_empty() || f.objectives.iter().any(|o| o.trim().is_empty()) {
        problems.push(format!("{file}:{}: objectives must be a non-empty list of non-empty strings", at("objectives")));
    }
    let mut qids = HashSet::new();
    for q in &f.quiz {
        let line = at(&format!("\"{}\"", q.id));
        if !qids.insert(q.id.as_str()) {
            problems.push(format!("{file}:{line}: duplicate quiz question id `{}`", q.id));
        }
        if q.question.trim().is_empty() {
            problems.push(format!("{file}:{line}: quiz `{}` has an empty question", q.id));
        }
        if !(2..=6).contains(&q.options.len()) {
            problems.push(format!("{file}:{line}: quiz `{}` needs 2 to 6 options, has {}", q.id, q.options.len()));
        }
        let correct = q.options.iter().filter(|o| o.correct).count();
        if correct != 1 {
            problems.push(format!("{file}:{line}: quiz `{}` needs exactly one correct option, has {correct}", q.id));
        }
        let mut oids = HashSet::new();
        for o in &q.options {
            if !oids.insert(o.id.as_str()) || o.id.is_empty() {
                problems.push(format!("{file}:{line}: quiz `{}` has a duplicate or empty option id `{}`", q.id, o.id));
            }
            if o.why.trim().is_empty() || o.text.trim().is_empty() {
                problems.push(format!("{file}:{line}: quiz `{}` option `{}` needs both text and why", q.id, o.id));
            }
        }
    }
    let h2: Vec<&str> = body.toc.iter().filter(|t| t.level == 2).map(|t| t.text.as_str()).collect();
    if h2.last() != Some(&"Sources") {
        problems.push(format!("{file}:{}: the body must end with a `## Sources` section", 2 + front_text.matches('\n').count() + 1));
    }
    if f.lab.is_some() && !h2.iter().any(|h| h.starts_with("Lab")) {
        problems.push(format!("{file}:{}: `lab` is set, so the body needs a `## Lab` section", at("lab")));
    }
}

/// Checks across lessons: unique ids and orders, prerequisites and links that resolve.
pub fn check_all(lessons: &[Lesson], roadmap: Option<&Roadmap>, problems: &mut Problems) {
    let mut ids: HashMap<&str, &Lesson> = HashMap::new();
    let mut orders: HashMap<u16, &str> = HashMap::new();
    for l in lessons {
        if let Some(other) = ids.insert(l.front.id.as_str(), l) {
            problems.push(format!("{}:{}: duplicate id `{}` (also in {})", l.file, l.lines[0], l.front.id, other.file));
        }
        if let Some(other) = orders.insert(l.front.order, l.file.as_str()) {
            problems.push(format!("{}:{}: duplicate order {} (also in {other})", l.file, l.lines[1], l.front.order));
        }
    }
    for l in lessons {
        for p in &l.front.prerequisites {
            if !ids.contains_key(p.as_str()) {
                problems.push(format!("{}:{}: unknown prerequisite `{p}`", l.file, l.lines[2]));
            }
        }
    }
    let mut check_links = |file: &str, body: &Rendered| {
        for link in &body.links {
            let Some(rest) = link.target.strip_prefix("/lessons/") else { continue };
            let (id, anchor) = rest.split_once('#').unwrap_or((rest, ""));
            match ids.get(id) {
                None => problems.push(format!("{file}:{}: link to unknown lesson `{id}`", link.line)),
                Some(target) if !anchor.is_empty() && !target.body.toc.iter().any(|t| t.anchor == anchor) => {
                    problems.push(format!("{file}:{}: link to `{id}#{anchor}`: no such heading", link.line))
                }
                _ => {}
            }
        }
    };
    for l in lessons {
        check_links(&l.file, &l.body);
    }
    match roadmap {
        Some(r) => check_links("lessons/roadmap.md", &r.body),
        None => problems.push("lessons/roadmap.md:1: the roadmap is missing".to_string()),
    }
}
