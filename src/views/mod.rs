//! Page layout and shared HTML components, with maud (escapes by default: nothing from a user or
//! a model is ever inserted as raw HTML).
//!
//! Pure: views render what they are given and fetch nothing.

use maud::{html, Markup, PreEscaped, DOCTYPE};

pub const APP_CSS: &str = include_str!("../../static/app.css");
pub const APP_CSS_HASH: &str = env!("APP_CSS_HASH");

/// The stylesheet's immutable URL.
pub fn css_href() -> String {
    format!("/static/app.{APP_CSS_HASH}.css")
}

/// A static asset by its hashed file name, if it exists: (content type, body).
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    if name == format!("app.{APP_CSS_HASH}.css") {
        return Some(("text/css; charset=utf-8", APP_CSS));
    }
    None
}

/// The site layout around a page's main content.
pub fn page(title: &str, description: &str, main: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · AI Architect Academy" }
                meta name="description" content=(description);
                link rel="stylesheet" href=(css_href());
                // No favicon request: the academy has no icon to send.
                link rel="icon" href="data:,";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.site {
                    nav aria-label="Site" {
                        a.brand href="/" { "AI Architect Academy" }
                        a href="/roadmap" { "Roadmap" }
                        a href="/me" { "My progress" }
                        form action="/search" method="get" role="search" {
                            label for="site-q" class="skip" { "Search lessons" }
                            input #site-q type="search" name="q" placeholder="Search lessons" maxlength="200";
                            button type="submit" { "Search" }
                        }
                    }
                }
                main #main tabindex="-1" { (main) }
                footer.site {
                    p { "AI Architect Academy — an open course you can fork and deploy. " (PreEscaped("&middot;")) " " a href="/healthz" { "status" } }
                }
            }
        }
    }
    .into_string()
}

/// The error page: the status, one sentence, and a way back.
pub fn error_page(status: u16, message: &str) -> String {
    let title = match status {
        404 => "Page not found",
        405 => "Method not allowed",
        400..=499 => "That request could not be served",
        _ => "Something went wrong",
    };
    page(
        title,
        message,
        html! {
            p.error-code aria-hidden="true" { (status) }
            h1 { (title) }
            p.lede { (message) }
            p { a href="/" { "Back to the course" } " or " a href="/search" { "search the lessons" } "." }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_pages_escape_the_message() {
        let html = error_page(404, "<script>alert(1)</script>");
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;"));
    }

    #[test]
    fn the_stylesheet_is_served_only_under_its_hash() {
        let name = css_href().trim_start_matches("/static/").to_string();
        assert!(asset(&name).is_some());
        assert!(asset("app.css").is_none());
    }
}
