//! Build-time Markdown: HTML with stable heading anchors and highlighted code, the table of
//! contents, the plain text of each section (for search), and every link (for validation).
//! Raw HTML in a lesson is escaped, never passed through.

use crate::highlight::{escape, highlight};
use pulldown_cmark::{html, CodeBlockKind, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

pub struct TocEntry {
    pub level: u8,
    pub anchor: String,
    pub text: String,
}

/// A `##` section's plain text, the unit of search.
pub struct Section {
    pub anchor: String,
    pub heading: String,
    pub text: String,
}

pub struct Link {
    pub line: usize,
    pub target: String,
}

pub struct Rendered {
    pub html: String,
    pub toc: Vec<TocEntry>,
    pub sections: Vec<Section>,
    pub links: Vec<Link>,
    /// (line, message)
    pub errors: Vec<(usize, String)>,
    /// The first paragraph as plain text (meta description).
    pub summary: String,
}

/// `## Stop reasons` → `stop-reasons`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if (c == ' ' || c == '-' || c == '_') && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

pub fn render(body: &str, first_line: usize) -> Rendered {
    let line_of = |offset: usize| first_line + body[..offset.min(body.len())].matches('\n').count();
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES);
    opts.insert(Options::ENABLE_STRIKETHROUGH);
    opts.insert(Options::ENABLE_TASKLISTS);
    let events: Vec<(Event, std::ops::Range<usize>)> = Parser::new_ext(body, opts).into_offset_iter().collect();

    let mut out = Rendered {
        html: String::new(),
        toc: Vec::new(),
        sections: vec![Section { anchor: String::new(), heading: String::new(), text: String::new() }],
        links: Vec::new(),
        errors: Vec::new(),
        summary: String::new(),
    };
    let mut used = std::collections::HashMap::<String, usize>::new();
    // Events to render in one pass at the end (the HTML writer keeps table state across
    // events); our own markup enters as `Event::Html`, after the source's raw HTML was escaped.
    let mut emit: Vec<Event> = Vec::new();
    let mut i = 0;
    let mut in_first_paragraph = false;
    let mut seen_paragraph = false;
    while i < events.len() {
        let (event, range) = &events[i];
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                let level = *level;
                let mut inner = Vec::new();
                let mut text = String::new();
                i += 1;
                while i < events.len() {
                    match &events[i].0 {
                        Event::End(TagEnd::Heading(_)) => break,
                        e => {
                            if let Event::Text(t) | Event::Code(t) = e {
                                text.push_str(t);
                            }
                            inner.push(sanitize(e.clone()));
                        }
                    }
                    i += 1;
                }
                let n = match level {
                    HeadingLevel::H1 => {
                        out.errors.push((line_of(range.start), "a lesson body starts at `##`: the page renders the title as the only `#` heading".into()));
                        1
                    }
                    HeadingLevel::H2 => 2,
                    HeadingLevel::H3 => 3,
                    HeadingLevel::H4 => 4,
                    _ => 5,
                };
                let base = slug(&text);
                let base = if base.is_empty() { "section".to_string() } else { base };
                let count = used.entry(base.clone()).or_insert(0);
                *count += 1;
                let anchor = if *count == 1 { base } else { format!("{base}-{count}") };
                let mut inner_html = String::new();
                html::push_html(&mut inner_html, inner.into_iter());
                emit.push(Event::Html(CowStr::from(format!(
                    "<h{n} id=\"{anchor}\">{inner_html}<a class=\"anchor\" href=\"#{anchor}\" aria-label=\"Link to this section\">#</a></h{n}>\n"
                ))));
                if n <= 3 {
                    out.toc.push(TocEntry { level: n, anchor: anchor.clone(), text: text.clone() });
                }
                if n == 2 {
                    out.sections.push(Section { anchor, heading: text, text: String::new() });
                } else if let Some(s) = out.sections.last_mut() {
                    s.text.push_str(&text);
                    s.text.push_str(". ");
                }
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                let language = match kind {
                    CodeBlockKind::Fenced(info) => info.split_whitespace().next().unwrap_or("").to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                let mut code = String::new();
                i += 1;
                while i < events.len() {
                    match &events[i].0 {
                        Event::End(TagEnd::CodeBlock) => break,
                        Event::Text(t) => code.push_str(t),
                        _ => {}
                    }
                    i += 1;
                }
                let class = if language.is_empty() { "language-text".to_string() } else { format!("language-{}", escape(&language)) };
                emit.push(Event::Html(CowStr::from(format!("<pre><code class=\"{class}\">{}</code></pre>\n", highlight(&code, &language)))));
                if let Some(s) = out.sections.last_mut() {
                    s.text.push_str(&code);
                    s.text.push(' ');
                }
            }
            Event::Start(Tag::Link { dest_url, .. }) => {
                let target = dest_url.to_string();
                let lower = target.to_ascii_lowercase();
                let safe = lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with('/') || lower.starts_with('#') || lower.starts_with("mailto:");
                if !safe {
                    out.errors.push((line_of(range.start), format!("link `{target}`: only http(s), mailto, site paths and #anchors are allowed")));
                }
                out.links.push(Link { line: line_of(range.start), target });
                emit.push(event.clone());
            }
            Event::Start(Tag::Paragraph) if !seen_paragraph => {
                in_first_paragraph = true;
                seen_paragraph = true;
                emit.push(event.clone());
            }
            Event::End(TagEnd::Paragraph) => {
                if let Some(s) = out.sections.last_mut() {
                    s.text.push(' ');
                }
                in_first_paragraph = false;
                emit.push(event.clone());
            }
            e => {
                if let Event::Text(t) | Event::Code(t) = e {
                    if let Some(s) = out.sections.last_mut() {
                        s.text.push_str(t);
                    }
                    if in_first_paragraph {
                        out.summary.push_str(t);
                    }
                } else if matches!(e, Event::SoftBreak | Event::HardBreak) {
                    if let Some(s) = out.sections.last_mut() {
                        s.text.push(' ');
                    }
                    if in_first_paragraph {
                        out.summary.push(' ');
                    }
                }
                emit.push(sanitize(e.clone()));
            }
        }
        i += 1;
    }
    html::push_html(&mut out.html, emit.into_iter());
    out
}

/// Raw HTML in Markdown is shown as text, never interpreted.
fn sanitize(e: Event) -> Event {
    match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(CowStr::from(h.to_string())),
        other => other,
    }
}
