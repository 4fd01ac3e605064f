//! The learner's pages: sign in (and enroll), the key shown once, and `/me`.
//!
//! Pure: renders what it is given; maud escapes everything.

use super::records::{KeyRow, Profile, ProgressRow};
use super::Budget;
use crate::course::catalogue::{self, STEPS};
use crate::gateway::pricing::MicroUsd;
use crate::views::page;
use maud::{html, Markup};

fn usd(m: i64) -> String {
    format!("${}", MicroUsd(m).to_usd_string())
}

/// The enrollment form (home page and sign-in page).
pub fn enroll_form() -> Markup {
    html! {
        form.enroll method="post" action="/enroll" {
            p {
                label for="enroll-name" { "Your name (optional) " }
                input #enroll-name type="text" name="name" maxlength="100" autocomplete="name";
            }
            p {
                label for="enroll-invite" { "Invite code (if this academy asks for one) " }
                input #enroll-invite type="text" name="invite" maxlength="64" autocomplete="off";
            }
            button type="submit" { "Enroll and get my academy key" }
        }
    }
}

pub fn signin(message: Option<&str>, invite_only: bool) -> String {
    page(
        "Sign in",
        "Sign in with your academy key, or enroll.",
        html! {
            h1 { "Sign in" }
            @if let Some(m) = message { p.wrong role="alert" { (m) } }
            form method="post" action="/signin" {
                p {
                    label for="signin-key" { "Your academy key " }
                    input #signin-key type="password" name="key" required autocomplete="current-password" placeholder="aa_…" maxlength="100";
                }
                button type="submit" { "Sign in" }
            }
            h2 { "New here? Enroll" }
            @if invite_only { p.muted { "Enrollment on this academy is by invitation." } }
            (enroll_form())
        },
    )
}

/// The new key, shown this once.
pub fn key_issued(key: &str, enrolled: bool) -> String {
    page(
        "Your academy key",
        "Your academy key, shown once.",
        html! {
            h1 { @if enrolled { "Welcome to the academy" } @else { "Your new academy key" } }
            p.lede { "This is your academy key. It is shown " strong { "only this once" } ": copy it now into your password manager or a `.env` file." }
            pre { code #new-key { (key) } }
            @if !enrolled { p { "Your previous key no longer works; your progress is unchanged." } }
            p { "Use it as the API key of the official SDKs, with the academy as base URL:" }
            pre { code { "export ACADEMY_KEY=" (key) "\nexport ACADEMY_URL=<this site's address>" } }
            p { a.button href="/me" { "Go to my progress" } " " a href="/lessons/model-api" { "Start with the model API" } }
        },
    )
}

pub fn me(p: &Profile, b: &Budget, keys: &[KeyRow], progress: &[ProgressRow]) -> String {
    let total = catalogue::LESSONS.len();
    let done = progress.iter().filter(|r| r.completed_at.is_some()).count();
    let percent = (done * 100).checked_div(total).unwrap_or(0);
    let status = |id: &str| progress.iter().find(|r| r.lesson_id == id);
    page(
        "My progress",
        "Your progress, budget and keys.",
        html! {
            h1 { "My progress" }
            p.lede { @if let Some(n) = &p.name { (n) ", you" } @else { "You" } " have completed " strong #completion { (done) " of " (total) " lessons (" (percent) "%)" } "." }
            @for (step, name, _) in STEPS {
                section.step {
                    h2 { "Step " (step) ": " (name) }
                    ul.lessons {
                        @for l in catalogue::in_step(step) {
                            li {
                                a href={ "/lessons/" (l.id) } { (l.order) ". " (l.title) }
                                span.meta {
                                    @match status(l.id) {
                                        Some(r) if r.completed_at.is_some() => span.badge.done { "✓ completed" },
                                        Some(_) => span.badge.started { "started" },
                                        None => span.muted { "not started" },
                                    }
                                    @if let Some(r) = status(l.id) {
                                        @if let Some(best) = r.best_score { " · quiz best " (best) "/" (l.quiz.len()) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 #budget { "Budget" }
            table {
                tr { th scope="row" { "Total limit" } td { (usd(b.limit)) } }
                tr { th scope="row" { "Spent" } td { (usd(b.spent)) } }
                tr { th scope="row" { "Daily limit (UTC)" } td { (usd(b.daily_limit)) } }
                tr { th scope="row" { "Spent today" } td { (usd(b.today)) } }
                tr { th scope="row" { "You can spend now" } td #remaining { (usd(b.remaining())) } }
            }
            h2 #keys { "Keys" }
            table {
                thead { tr { th { "Key" } th { "Created" } th { "Last used" } th { "State" } } }
                tbody {
                    @for k in keys {
                        tr {
                            td { code { (k.prefix) "…" } }
                            td { (date(k.created_at)) }
                            td { @if let Some(t) = k.last_used_at { (date(t)) } @else { "never" } }
                            td { @if k.revoked_at.is_some() { "revoked" } @else { "active" } }
                        }
                    }
                }
            }
            form method="post" action="/me/keys/rotate" {
                button.secondary type="submit" { "Rotate my key" }
                span.muted { " Issues a new key and revokes the active ones; progress stays." }
            }
            h2 #data { "My data" }
            p { a href="/me/transcripts" { "My transcripts" } " — every model call you made, as the academy kept it." }
            p { a href="/api/me/export" download="academy-export.json" { "Download all my data (JSON)" } }
            form method="post" action="/signout" { button.secondary type="submit" { "Sign out" } }
            details {
                summary { "Delete my account" }
                p { "Deletes your keys, progress, quiz attempts and transcripts. Usage records stay in the academy's accounts under an anonymous id." }
                form method="post" action="/me/delete" {
                    label for="confirm" { "Type " code { "delete" } " to confirm " }
                    input #confirm type="text" name="confirm" required pattern="delete" autocomplete="off";
                    " " button type="submit" { "Delete my account" }
                }
            }
        },
    )
}

fn date(ms: i64) -> String {
    crate::time::day_of(ms)
}
