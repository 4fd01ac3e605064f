//! Build-time syntax highlighting: code becomes escaped HTML with `hl-*` classes (keyword,
//! string, comment, number), styled by the stylesheet in both colour schemes. Small on purpose:
//! a lexer per family, good enough for the course's Python, TypeScript, Rust, shell, SQL, TOML
//! and JSON, with no runtime cost.

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

struct Lang {
    keywords: &'static [&'static str],
    line_comment: &'static [&'static str],
    hash_comment: bool,
}

fn lang(name: &str) -> Option<Lang> {
    let l = match name {
        "python" | "py" => Lang {
            keywords: &["def", "return", "if", "elif", "else", "for", "while", "in", "import", "from", "as", "with", "class", "try", "except", "finally", "raise", "None", "True", "False", "and", "or", "not", "lambda", "yield", "async", "await", "pass", "break", "continue", "is", "assert", "global"],
            line_comment: &[],
            hash_comment: true,
        },
        "ts" | "typescript" | "js" | "javascript" | "tsx" | "mjs" => Lang {
            keywords: &["const", "let", "var", "function", "return", "if", "else", "for", "while", "of", "in", "import", "from", "export", "default", "class", "new", "try", "catch", "finally", "throw", "async", "await", "type", "interface", "null", "undefined", "true", "false", "typeof", "as", "break", "continue", "switch", "case", "extends", "implements"],
            line_comment: &["//"],
            hash_comment: false,
        },
        "rust" | "rs" => Lang {
            keywords: &["fn", "let", "mut", "pub", "use", "mod", "struct", "enum", "impl", "trait", "for", "in", "if", "else", "match", "return", "async", "await", "move", "loop", "while", "const", "static", "where", "Some", "None", "Ok", "Err", "self", "Self", "true", "false", "crate", "as", "type", "dyn", "ref", "break", "continue", "unsafe"],
            line_comment: &["//"],
            hash_comment: false,
        },
        "sh" | "bash" | "shell" | "console" => Lang {
            keywords: &["if", "then", "else", "fi", "for", "do", "done", "in", "export", "echo", "while", "case", "esac", "function", "local", "return", "set", "npx", "npm", "curl", "cargo"],
            line_comment: &[],
            hash_comment: true,
        },
        "sql" => Lang {
            keywords: &["SELECT", "FROM", "WHERE", "INSERT", "INTO", "VALUES", "UPDATE", "SET", "DELETE", "CREATE", "TABLE", "INDEX", "ON", "AND", "OR", "NOT", "NULL", "PRIMARY", "KEY", "JOIN", "LEFT", "GROUP", "BY", "ORDER", "LIMIT", "AS", "EXISTS", "CONFLICT", "DO", "RETURNING", "WITH", "INTEGER", "TEXT", "DESC", "ASC", "COUNT", "SUM", "MATCH", "VIRTUAL", "USING",
                       "select", "from", "where", "insert", "into", "values", "update", "set", "delete", "create", "table", "on", "and", "or", "not", "null", "join", "group", "by", "order", "limit", "as"],
            line_comment: &["--"],
            hash_comment: false,
        },
        "toml" | "ini" => Lang { keywords: &["true", "false"], line_comment: &[], hash_comment: true },
        "json" | "jsonl" => Lang { keywords: &["true", "false", "null"], line_comment: &[], hash_comment: false },
        "yaml" | "yml" => Lang { keywords: &["true", "false", "null"], line_comment: &[], hash_comment: true },
        _ => return None,
    };
    Some(l)
}

/// Escaped, highlighted HTML for `code` in `language` (plain escaped text when unknown).
pub fn highlight(code: &str, language: &str) -> String {
    let Some(l) = lang(language) else { return escape(code) };
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len() * 2);
    let mut i = 0;
    let span = |out: &mut String, class: &str, text: &str| {
        out.push_str("<span class=\"hl-");
        out.push_str(class);
        out.push_str("\">");
        out.push_str(&escape(text));
        out.push_str("</span>");
    };
    let starts_with = |i: usize, p: &str| {
        let pc: Vec<char> = p.chars().collect();
        chars.get(i..i + pc.len()).is_some_and(|s| s == pc.as_slice())
    };
    while i < chars.len() {
        let c = chars[i];
        let line_comment = l.line_comment.iter().any(|p| starts_with(i, p))
            || (l.hash_comment && c == '#' && (i == 0 || chars[i - 1].is_whitespace()));
        if line_comment {
            let end = chars[i..].iter().position(|&c| c == '\n').map_or(chars.len(), |p| i + p);
            span(&mut out, "c", &chars[i..end].iter().collect::<String>());
            i = end;
        } else if c == '"' || c == '\'' || c == '`' {
            // Python triple quotes and ordinary strings, to the matching quote on the same
            // line (or across lines for triple quotes and template strings).
            let triple = starts_with(i, &c.to_string().repeat(3));
            let q = if triple { 3 } else { 1 };
            let mut j = i + q;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '\\' {
                    j += 2;
                    continue;
                }
                if triple && starts_with(j, &c.to_string().repeat(3)) {
                    j += 3;
                    break;
                }
                if !triple && chars[j] == c {
                    j += 1;
                    break;
                }
                if !triple && c != '`' && chars[j] == '\n' {
                    break;
                }
                j += 1;
            }
            let j = j.min(chars.len());
            // An apostrophe inside prose-like shell text or a Rust lifetime is not a string.
            if c == '\'' && language.starts_with("rs") && j > i + 3 {
                out.push_str(&escape("'"));
                i += 1;
                continue;
            }
            span(&mut out, "s", &chars[i..j].iter().collect::<String>());
            i = j;
        } else if c.is_ascii_digit() && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')) {
            let end = chars[i..]
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '_'))
                .map_or(chars.len(), |p| i + p);
            span(&mut out, "n", &chars[i..end].iter().collect::<String>());
            i = end;
        } else if c.is_alphabetic() || c == '_' {
            let end = chars[i..]
                .iter()
                .position(|c| !(c.is_alphanumeric() || *c == '_'))
                .map_or(chars.len(), |p| i + p);
            let word: String = chars[i..end].iter().collect();
            if l.keywords.contains(&word.as_str()) {
                span(&mut out, "k", &word);
            } else {
                out.push_str(&escape(&word));
            }
            i = end;
        } else {
            out.push_str(&escape(&c.to_string()));
            i += 1;
        }
    }
    out
}
