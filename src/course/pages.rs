//! The course's HTML pages: home, roadmap, lesson, search results and graded quiz. Readable
//! without JavaScript. Lesson HTML was rendered and escaped at build time from our own
//! Markdown; everything else goes through maud's escaping.
//!
//! Pure: renders what it is given.

use super::catalogue::{self, Lesson, TocEntry, LESSONS, ROADMAP, STEPS};
use super::quiz::Graded;
use super::search::Hit;
use crate::views::page;
use maud::{html, Markup, PreEscaped};
use std::collections::BTreeMap;

/// A learner's state of one lesson, for badges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Started,
    Completed,
}

/// What the pages know about who is looking: nothing for anonymous readers.
#[derive(Debug, Default)]
pub struct Viewer {
    pub signed_in: bool,
    pub progress: BTreeMap<String, Status>,
}

fn badge(viewer: &Viewer, id: &str) -> Markup {
    match viewer.progress.get(id) {
        Some(Status::Completed) => html! { span.badge.done { "✓ completed" } },
        Some(Status::Started) => html! { span.badge.started { "started" } },
        None => html! {},
    }
}

fn toc(entries: &[TocEntry]) -> Markup {
    html! {
        nav.toc aria-labelledby="toc-h" {
            h2 #toc-h { "On this page" }
            ol {
                @for e in entries.iter().filter(|e| e.level == 2) {
                    li { a href={ "#" (e.anchor) } { (e.text) } }
                }
            }
        }
    }
}

pub fn home(viewer: &Viewer) -> String {
    let total: u32 = LESSONS.iter().map(|l| u32::from(l.minutes)).sum();
    page(
        "Become an AI engineer",
        "A dense, cited course for engineers who already ship software: build production systems on existing models.",
        html! {
            h1 { "Become an AI engineer, from the engineer you already are" }
            p.lede {
                "AI Architect Academy teaches engineers who already ship software to build production systems on top of existing models: agents, evals, cost, retrieval and the trust boundary. "
                "Every lesson ends in a lab you run against the academy's own metered model gateway, with your own key."
            }
            @if viewer.signed_in {
                p { a.button href="/me" { "My progress" } }
            } @else {
                details.enroll-box {
                    summary { "Enroll: get your academy key" }
                    (crate::learners::pages::enroll_form())
                    p.muted { "Already enrolled? " a href="/signin" { "Sign in with your key" } "." }
                }
            }
            p { a href="/roadmap" { "Read the roadmap" } " — what transfers from your experience, what is new, and how long it takes. "
                (LESSONS.len()) " lessons, about " (total / 60) " hours." }
            ol.steps {
                @for (step, name, blurb) in STEPS {
                    li.step {
                        h2 #{ "step-" (step) } { "Step " (step) ": " (name) }
                        p.muted { (blurb) }
                        ul.lessons {
                            @for l in catalogue::in_step(step) {
                                li {
                                    a href={ "/lessons/" (l.id) } { (l.order) ". " (l.title) }
                                    span.meta { (l.minutes) " min " (badge(viewer, l.id)) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub fn roadmap() -> String {
    page(
        ROADMAP.title,
        ROADMAP.description,
        html! {
            h1 { (ROADMAP.title) }
            p.lede { (ROADMAP.description) }
            (toc(ROADMAP.toc))
            article { (PreEscaped(ROADMAP.html)) }
        },
    )
}

pub fn lesson(l: &Lesson, viewer: &Viewer) -> String {
    let (prev, next) = catalogue::neighbours(l.id);
    let step = STEPS.iter().find(|(s, _, _)| *s == l.step).map_or("", |(_, n, _)| *n);
    page(
        l.title,
        l.summary,
        html! {
            p.meta { a href={ "/#step-" (l.step) } { "Step " (l.step) ": " (step) } " · lesson " (l.order) " · " (l.minutes) " min " (badge(viewer, l.id)) }
            h1 { (l.title) }
            @if !l.prerequisites.is_empty() {
                p.meta { "Before this: "
                    @for (i, p) in l.prerequisites.iter().enumerate() {
                        @if i > 0 { ", " }
                        @match catalogue::lesson(p) {
                            Some(pl) => a href={ "/lessons/" (pl.id) } { (pl.title) },
                            None => (p),
                        }
                    }
                }
            }
            section.objectives aria-labelledby="obj-h" {
                h2 #obj-h { "You will be able to" }
                ul { @for o in l.objectives { li { (o) } } }
            }
            (toc(l.toc))
            article { (PreEscaped(l.html)) }
            @if !l.quiz.is_empty() { (quiz_form(l)) }
            @if viewer.signed_in {
                section #progress aria-labelledby="progress-h" {
                    h2 #progress-h { "Your progress" }
                    form method="post" action={ "/lessons/" (l.id) "/progress" } {
                        @match viewer.progress.get(l.id) {
                            Some(Status::Completed) => p { span.badge.done { "✓ completed" } },
                            _ => {
                                input type="hidden" name="status" value="completed";
                                button type="submit" { "Mark this lesson completed" }
                            },
                        }
                    }
                }
            } @else {
                p.muted { a href="/signin" { "Sign in or enroll" } " to track your progress and keep your quiz scores." }
            }
            nav.pager aria-label="Lessons" {
                @if let Some(p) = prev { a rel="prev" href={ "/lessons/" (p.id) } { "← " (p.title) } } @else { span {} }
                @if let Some(n) = next { a rel="next" href={ "/lessons/" (n.id) } { (n.title) " →" } }
            }
        },
    )
}

fn quiz_form(l: &Lesson) -> Markup {
    html! {
        section.quiz aria-labelledby="quiz-h" {
            h2 #quiz-h { "Check yourself" }
            p.muted { "Graded on the server; explanations appear after you submit." }
            form method="post" action={ "/lessons/" (l.id) "/quiz" } {
                @for (n, q) in l.quiz.iter().enumerate() {
                    fieldset {
                        legend { (n + 1) ". " (q.question) }
                        @for c in q.options {
                            label {
                                input type="radio" name=(q.id) value=(c.id) required;
                                " " (c.text)
                            }
                        }
                    }
                }
                button type="submit" { "Grade my answers" }
            }
        }
    }
}

pub fn graded(l: &Lesson, g: &Graded, best: Option<i64>) -> String {
    page(
        &format!("Quiz: {}", l.title),
        "Your graded quiz.",
        html! {
            p.meta { a href={ "/lessons/" (l.id) } { "← " (l.title) } }
            h1 { "Your score: " (g.score) " of " (g.total) }
            @match best {
                Some(b) => p #best { "Your best score on this quiz: " (b) " of " (g.total) "." },
                None => p.muted { a href="/signin" { "Sign in" } " to keep your attempts and your best score." },
            }
            @for (n, (r, q)) in g.results.iter().zip(l.quiz).enumerate() {
                section.quiz {
                    h2 { (n + 1) ". " (q.question) }
                    p class=(if r.correct { "right" } else { "wrong" }) {
                        @if r.correct { "✓ Right." } @else { "✗ Not quite." }
                    }
                    ul {
                        @for o in &r.options {
                            li {
                                strong { (o.text) }
                                @if o.correct { " (correct)" }
                                @if r.chosen.as_deref() == Some(o.id) { " — your answer" }
                                br; span.muted { (o.why) }
                            }
                        }
                    }
                }
            }
            p { a href={ "/lessons/" (l.id) "#quiz-h" } { "Try again" } }
        },
    )
}

pub fn search(query: &str, hits: &[Hit]) -> String {
    let title = if query.is_empty() { "Search".to_string() } else { format!("Search: {query}") };
    page(
        &title,
        "Search the lessons.",
        html! {
            h1 { "Search the lessons" }
            form action="/search" method="get" role="search" {
                label for="q" { "Words to find " }
                input #q type="search" name="q" value=(query) maxlength="200";
                " " button type="submit" { "Search" }
            }
            @if !query.is_empty() {
                p.muted role="status" { (hits.len()) @if hits.len() == 1 { " result" } @else { " results" } }
                ol.hits {
                    @for h in hits {
                        li {
                            a href=(h.url) { strong { (h.title) } @if !h.section.is_empty() { " — " (h.section) } }
                            p { (PreEscaped(&h.snippet_html)) }
                        }
                    }
                }
                @if hits.is_empty() { p { "Nothing matched. Try fewer or different words, or browse " a href="/" { "the course" } "." } }
            }
        },
    )
}
