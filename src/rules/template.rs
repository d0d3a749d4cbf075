//! A best-effort parse check of Go `text/template` strings in alert labels and annotations, as
//! promtool runs it: lexing, balanced control structures, defined variables and known functions.
//! It does not type-check function arguments, which Go defers to execution as well.

use std::collections::BTreeSet;

/// Functions Prometheus adds to Go's built-ins (union over 2.x and 3.x).
const PROMETHEUS_FUNCS: &[&str] = &[
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "args",
    "reReplaceAll",
    "safeHtml",
    "match",
    "title",
    "toUpper",
    "toLower",
    "graphLink",
    "tableLink",
    "sortByLabel",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "toDuration",
    "pathPrefix",
    "externalURL",
    "parseDuration",
    "stripPort",
    "stripDomain",
    "now",
    "urlQueryEscape",
];
const GO_FUNCS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println", "urlquery", "eq",
    "ge", "gt", "le", "lt", "ne",
];
/// Variables promtool defines before the text (`{{$labels := .Labels}}` ...).
const PREDEFINED: &[&str] = &["$", "$labels", "$externalLabels", "$externalURL", "$value"];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Var(String),
    Field,
    Declare,
    Assign,
    Pipe,
    Open,
    Close,
    Comma,
    Literal,
}

/// Checks `text` the way promtool does for an alert named `alert`; the error reads like Go's:
/// `template: __alert_NAME:LINE: MESSAGE`.
pub fn check_template(alert: &str, text: &str) -> Result<(), String> {
    let fail = |line: usize, msg: String| Err(format!("template: __alert_{alert}:{line}: {msg}"));
    let mut checker = Checker { scopes: vec![PREDEFINED.iter().map(|s| s.to_string()).collect()], blocks: Vec::new() };
    let mut rest = text;
    let mut line = 1;
    while let Some(start) = rest.find("{{") {
        line += rest[..start].matches('\n').count();
        let after = &rest[start + 2..];
        let Some((body, consumed)) = split_action(after) else {
            let msg = if after.trim_start_matches('-').trim_start().starts_with("/*") {
                "unclosed comment"
            } else {
                "unclosed action"
            };
            return fail(line, msg.into());
        };
        let action_line = line;
        line += after[..consumed].matches('\n').count();
        rest = &after[consumed..];
        let body = trim_markers(body);
        if body.starts_with("/*") {
            if !body.ends_with("*/") || body.len() < 4 {
                return fail(action_line, "comment ends before closing delimiter".into());
            }
            continue;
        }
        let toks = match lex(body) {
            Ok(t) => t,
            Err(e) => return fail(action_line, e),
        };
        if let Err(e) = checker.action(&toks) {
            return fail(action_line, e);
        }
    }
    if let Some(open) = checker.blocks.last() {
        return fail(line, format!("unexpected EOF (unclosed {{{{{open}}}}})"));
    }
    Ok(())
}

/// Splits off one action body, honouring quotes and comments; returns the body and the bytes
/// consumed including the closing `}}`.
fn split_action(s: &str) -> Option<(&str, usize)> {
    let trimmed = s.trim_start_matches('-').trim_start();
    if trimmed.starts_with("/*") {
        let offset = s.len() - trimmed.len();
        let end = trimmed.find("*/")? + offset + 2;
        let close = s[end..].find("}}")? + end;
        return Some((&s[..close], close + 2));
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' && q != b'`' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None if b == b'"' || b == b'`' || b == b'\'' => quote = Some(b),
            None if b == b'}' && bytes.get(i + 1) == Some(&b'}') => return Some((&s[..i], i + 2)),
            None => {}
        }
        i += 1;
    }
    None
}

/// Removes the `- ` / ` -` trim markers and surrounding space.
fn trim_markers(body: &str) -> &str {
    let mut b = body;
    if let Some(x) = b.strip_prefix("- ").or_else(|| b.strip_prefix("-\n")) {
        b = x;
    }
    if let Some(x) = b.strip_suffix(" -").or_else(|| b.strip_suffix("\n-")) {
        b = x;
    }
    b.trim()
}

fn lex(body: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = body.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let word = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && (chars[*i].is_alphanumeric() || chars[*i] == '_') {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            '(' => {
                toks.push(Tok::Open);
                i += 1;
            }
            ')' => {
                toks.push(Tok::Close);
                i += 1;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            '=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                toks.push(Tok::Declare);
                i += 2;
            }
            ':' => return Err("expected :=".into()),
            '"' | '`' | '\'' => {
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            let what =
                                if c == '`' { "unterminated raw quoted string" } else { "unterminated quoted string" };
                            return Err(what.into());
                        }
                        Some('\\') if c != '`' => j += 2,
                        Some('\n') if c != '`' => return Err("unterminated quoted string".into()),
                        Some(&d) if d == c => break,
                        Some(_) => j += 1,
                    }
                }
                toks.push(Tok::Literal);
                i = j + 1;
            }
            '$' => {
                i += 1;
                let name = word(&mut i);
                toks.push(Tok::Var(format!("${name}")));
            }
            '.' if chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                i += 1;
                word(&mut i);
                toks.push(Tok::Literal);
            }
            '.' => {
                i += 1;
                word(&mut i);
                toks.push(Tok::Field);
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+') && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '.' | '_' | '+' | '-')) {
                    i += 1;
                }
                toks.push(Tok::Literal);
            }
            c if c.is_alphabetic() || c == '_' => toks.push(Tok::Ident(word(&mut i))),
            other => return Err(format!("bad character U+{:04X} '{other}'", other as u32)),
        }
    }
    Ok(toks)
}

struct Checker {
    /// Variable scopes: one per open control structure, the outermost holding the predefined ones.
    scopes: Vec<BTreeSet<String>>,
    /// Open control structures by keyword.
    blocks: Vec<String>,
}

impl Checker {
    fn defined(&self, var: &str) -> bool {
        self.scopes.iter().any(|s| s.contains(var))
    }

    fn action(&mut self, toks: &[Tok]) -> Result<(), String> {
        let Some(first) = toks.first() else {
            return Err("missing value for command".into());
        };
        let keyword = if let Tok::Ident(w) = first { w.as_str() } else { "" };
        match keyword {
            "if" | "with" | "range" => {
                self.blocks.push(keyword.to_string());
                self.scopes.push(BTreeSet::new());
                self.pipeline(&toks[1..], true)
            }
            "block" | "define" => {
                self.blocks.push(keyword.to_string());
                // A template body sees only `$` (set at execution), not the enclosing variables.
                self.scopes.push(BTreeSet::new());
                self.pipeline(toks.get(2..).unwrap_or_default(), false)
            }
            "else" => {
                match self.blocks.last().map(String::as_str) {
                    Some("if" | "with" | "range") => {}
                    _ => return Err("unexpected {{else}}".into()),
                }
                if let Some(scope) = self.scopes.last_mut() {
                    scope.clear();
                }
                match toks.get(1) {
                    Some(Tok::Ident(w)) if w == "if" || w == "with" => self.pipeline(&toks[2..], true),
                    Some(_) => Err("unexpected token in {{else}}".into()),
                    None => Ok(()),
                }
            }
            "end" => {
                if toks.len() > 1 {
                    return Err("unexpected token in {{end}}".into());
                }
                if self.blocks.pop().is_none() {
                    return Err("unexpected {{end}}".into());
                }
                self.scopes.pop();
                Ok(())
            }
            "break" | "continue" => {
                if self.blocks.iter().any(|b| b == "range") {
                    Ok(())
                } else {
                    Err(format!("{{{{{keyword}}}}} outside {{{{range}}}}"))
                }
            }
            "template" => self.pipeline(toks.get(2..).unwrap_or_default(), false),
            _ => self.pipeline(toks, true),
        }
    }

    /// A pipeline, optionally starting with `$x :=` / `$x =` (or `$i, $x :=` in range).
    fn pipeline(&mut self, toks: &[Tok], may_declare: bool) -> Result<(), String> {
        let rest = toks;
        if may_declare {
            let decl_len = match rest {
                [Tok::Var(_), Tok::Comma, Tok::Var(_), Tok::Declare | Tok::Assign, ..] => Some(4),
                [Tok::Var(_), Tok::Declare | Tok::Assign, ..] => Some(2),
                _ => None,
            };
            if let Some(n) = decl_len {
                let assign = rest[n - 1] == Tok::Assign;
                let vars: Vec<String> =
                    rest[..n].iter().filter_map(|t| if let Tok::Var(v) = t { Some(v.clone()) } else { None }).collect();
                // The pipeline is checked before its variables come into scope, as in Go.
                self.terms(&rest[n..])?;
                for v in vars {
                    if assign {
                        if !self.defined(&v) {
                            return Err(format!("undefined variable {v:?}"));
                        }
                    } else if let Some(scope) = self.scopes.last_mut() {
                        scope.insert(v);
                    }
                }
                return Ok(());
            }
        }
        self.terms(rest)
    }

    fn terms(&self, toks: &[Tok]) -> Result<(), String> {
        if toks.is_empty() {
            return Err("missing value for command".into());
        }
        let mut depth: i32 = 0;
        for t in toks {
            match t {
                Tok::Var(v) if !self.defined(v) => return Err(format!("undefined variable {v:?}")),
                Tok::Ident(w) => match w.as_str() {
                    "true" | "false" | "nil" => {}
                    w if PROMETHEUS_FUNCS.contains(&w) || GO_FUNCS.contains(&w) => {}
                    w => return Err(format!("function {w:?} not defined")),
                },
                Tok::Open => depth += 1,
                Tok::Close => {
                    depth -= 1;
                    if depth < 0 {
                        return Err("unexpected right paren".into());
                    }
                }
                Tok::Declare | Tok::Assign | Tok::Comma => {
                    return Err("unexpected declaration or comma in command".into());
                }
                _ => {}
            }
        }
        if depth != 0 { Err("unclosed left paren".into()) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::check_template as check;

    #[test]
    fn valid_templates() {
        for t in [
            "plain text",
            "Instance {{ $labels.instance }} down",
            "{{ $value | humanizePercentage }} of {{ $labels.job }}",
            "{{- if gt $value 1.0 -}} high {{- else -}} low {{- end }}",
            "{{ range $i, $x := query \"up\" }}{{ $x.Labels.job }}{{ $i }}{{ end }}",
            "{{ with $v := $value }}{{ $v }}{{ end }}",
            "{{/* a comment */}}{{ printf \"%.2f\" $value }}",
            "{{ $.Labels.service }} {{ $labels }} {{ .Value }}",
            "{{ $x := 1 }}{{ $x = 2 }}{{ $x }}",
            "{{ if and (eq $labels.a \"}}\") (ne $labels.b `x`) }}y{{ end }}",
            "{{ template \"x\" . }}",
        ] {
            assert_eq!(check("A", t), Ok(()), "{t}");
        }
    }

    #[test]
    fn invalid_templates_give_go_like_messages() {
        let cases = [
            ("Instance {{ $label.instance }} down", "undefined variable \"$label\""),
            ("{{$this_is_wrong}}", "undefined variable \"$this_is_wrong\""),
            ("{{$labels.quantile * 100}}", "bad character U+002A '*'"),
            ("{{ if $value }}x", "unexpected EOF"),
            ("{{ end }}", "unexpected {{end}}"),
            ("{{ else }}", "unexpected {{else}}"),
            ("{{ $value ", "unclosed action"),
            ("{{ humanise $value }}", "function \"humanise\" not defined"),
            ("{{ \"abc }}", "unclosed action"),
            ("{{ if $v := 1 }}{{ end }}{{ $v }}", "undefined variable \"$v\""),
            ("{{ $y = 1 }}", "undefined variable \"$y\""),
            ("{{ break }}", "outside {{range}}"),
            ("{{ (len $labels }}", "unclosed left paren"),
        ];
        for (t, want) in cases {
            let err = check("InstanceDown", t).expect_err(t);
            assert!(err.starts_with("template: __alert_InstanceDown:1: "), "{err}");
            assert!(err.contains(want), "{t}: {err}");
        }
    }

    #[test]
    fn line_numbers_count_newlines() {
        let err = check("A", "line one\n{{ $nope }}").unwrap_err();
        assert_eq!(err, "template: __alert_A:2: undefined variable \"$nope\"");
    }
}
