//! YAML read as Kubernetes reads it (docs/manifests.md): a tree of nodes that keeps each scalar's
//! source text, style and position, resolved with the YAML 1.2 core schema (`y`, `on`, `no` are
//! strings; only `true`/`false` are booleans). A field the Kubernetes types declare a string gets
//! the scalar's source text whatever it looks like (`0755`, `1e3`, `yes`): see `de.rs`, the
//! deserializer the typed decoding runs on.

mod de;

pub use de::{NodeDeserializer, NodeError};

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle, ScanError, Span};

/// Where a node starts: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    fn of(span: &Span) -> Pos {
        Pos { line: span.start.line() as u64, column: span.start.col() as u64 + 1 }
    }
}

/// One YAML node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: NodeValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// A scalar as written: its text after escapes, and whether it was plain (unquoted, no
    /// tag forcing a string): only plain scalars are resolved to null, booleans and numbers.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in document order; keys are scalars' text (Kubernetes objects have string keys).
    Map(Vec<(String, Node)>),
}

/// What a plain scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'a str),
}

/// The YAML 1.2 core schema's resolution of a plain scalar (yaml.org/spec/1.2.2, 10.3).
pub fn resolve(text: &str) -> Resolved<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(text) {
        return i;
    }
    if is_core_float(text)
        && let Ok(f) = text.parse::<f64>()
    {
        return Resolved::Float(f);
    }
    Resolved::Str(text)
}

/// `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`.
pub fn parse_int(text: &str) -> Option<Resolved<'_>> {
    let (neg, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, body) = if let Some(h) = text.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = text.strip_prefix("0o") {
        (8, o)
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) || (radix != 10 && digits.len() != text.len()) {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok()?;
    if neg {
        if magnitude <= i64::MAX as u64 + 1 {
            return Some(Resolved::Int((magnitude as i128).wrapping_neg() as i64));
        }
        return None;
    }
    Some(match i64::try_from(magnitude) {
        Ok(i) => Resolved::Int(i),
        Err(_) => Resolved::UInt(magnitude),
    })
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_core_float(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - f;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return false;
        }
    }
    i == b.len()
}

/// A YAML syntax problem, with where it is. Never quotes the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub pos: Option<Pos>,
    pub message: String,
}

impl YamlError {
    fn at(pos: Pos, message: impl Into<String>) -> Self {
        YamlError { pos: Some(pos), message: message.into() }
    }
    fn scan(e: &ScanError) -> Self {
        let m = e.marker();
        YamlError {
            pos: Some(Pos { line: m.line() as u64, column: m.col() as u64 + 1 }),
            message: format!("invalid YAML: {}", crate::redact::redact_text(&e.info())),
        }
    }
}

/// Every document of a YAML stream (JSON is YAML too); an empty document is `None`.
pub fn documents(text: &str) -> Result<Vec<Option<Node>>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut out = Vec::new();
    let mut builder = Builder::default();
    loop {
        let (event, span) = match parser.next_event() {
            None => break,
            Some(Err(e)) => return Err(YamlError::scan(&e)),
            Some(Ok(x)) => x,
        };
        match event {
            Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(..) => builder = Builder::default(),
            Event::DocumentEnd => out.push(builder.finish()),
            other => builder.event(other, &span)?,
        }
    }
    Ok(out)
}

/// Builds one document's tree from events. Aliases copy the anchored node; merge keys (`<<`)
/// add the entries of the merged maps that the map does not set itself.
#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
}

enum Open {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    /// `merged`: keys that came from a merge key, which an explicit key may override.
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(String, Node)>,
        key: Option<(Node, bool)>,
        merged: Vec<String>,
    },
}

/// Nesting beyond this is refused (a hostile document must not exhaust the stack).
const MAX_DEPTH: usize = 256;

impl Builder {
    fn event(&mut self, event: Event<'_>, span: &Span) -> Result<(), YamlError> {
        let pos = Pos::of(span);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let forced_string = tag.as_ref().is_some_and(|t| matches!(t.suffix(), "str" | "binary"));
                let plain = style == ScalarStyle::Plain && !forced_string;
                let node = Node { pos, value: NodeValue::Scalar { text: text.into_owned(), plain } };
                self.add(node, anchor)
            }
            Event::SequenceStart(_, anchor, _) => self.open(Open::Seq { pos, anchor, items: Vec::new() }),
            Event::MappingStart(_, anchor, _) => {
                self.open(Open::Map { pos, anchor, entries: Vec::new(), key: None, merged: Vec::new() })
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Open::Seq { pos, anchor, items }) => (Node { pos, value: NodeValue::Seq(items) }, anchor),
                    Some(Open::Map { pos, anchor, entries, .. }) => {
                        (Node { pos, value: NodeValue::Map(entries) }, anchor)
                    }
                    None => return Err(YamlError::at(pos, "invalid YAML: unbalanced collection")),
                };
                self.add(node.0, node.1)
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) => {
                    let mut n = n.clone();
                    n.pos = pos;
                    self.add(n, 0)
                }
                None => Err(YamlError::at(pos, "invalid YAML: alias to an unknown anchor")),
            },
            _ => Ok(()),
        }
    }

    fn open(&mut self, o: Open) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            let pos = match &o {
                Open::Seq { pos, .. } | Open::Map { pos, .. } => *pos,
            };
            return Err(YamlError::at(pos, format!("YAML nested deeper than {MAX_DEPTH} levels")));
        }
        self.stack.push(o);
        Ok(())
    }

    fn add(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Open::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Open::Map { entries, key, merged, .. }) => match key.take() {
                None => {
                    let merge = matches!(&node.value, NodeValue::Scalar { text, plain: true } if text == "<<");
                    *key = Some((node, merge));
                    Ok(())
                }
                Some((k, true)) => merge_into(entries, merged, node, k.pos),
                Some((k, false)) => {
                    let name = match k.value {
                        NodeValue::Scalar { text, .. } => text,
                        _ => return Err(YamlError::at(k.pos, "a mapping key must be a scalar")),
                    };
                    match entries.iter().position(|(e, _)| *e == name) {
                        // An explicit key overrides what a merge key brought in, wherever it is.
                        Some(at) if merged.contains(&name) => {
                            merged.retain(|m| *m != name);
                            entries[at].1 = node;
                        }
                        Some(_) => return Err(YamlError::at(k.pos, format!("duplicate key `{name}`"))),
                        None => entries.push((name, node)),
                    }
                    Ok(())
                }
            },
        }
    }

    fn finish(&mut self) -> Option<Node> {
        self.stack.clear();
        self.anchors.clear();
        self.root
            .take()
            .filter(|n| !matches!(&n.value, NodeValue::Scalar { text, plain: true } if resolve(text) == Resolved::Null))
    }
}

/// `<<: *base` or `<<: [*a, *b]`: the merged maps' entries the map does not set (earlier maps win).
fn merge_into(
    entries: &mut Vec<(String, Node)>,
    merged: &mut Vec<String>,
    value: Node,
    pos: Pos,
) -> Result<(), YamlError> {
    let maps = match value.value {
        NodeValue::Map(m) => vec![m],
        NodeValue::Seq(items) => items
            .into_iter()
            .map(|n| match n.value {
                NodeValue::Map(m) => Ok(m),
                _ => Err(YamlError::at(n.pos, "a merge key (<<) takes a mapping or a list of mappings")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(YamlError::at(pos, "a merge key (<<) takes a mapping or a list of mappings")),
    };
    for m in maps {
        for (k, v) in m {
            if !entries.iter().any(|(e, _)| *e == k) {
                merged.push(k.clone());
                entries.push((k, v));
            }
        }
    }
    Ok(())
}

impl Node {
    /// The entry `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A scalar's text (a string field's value, as Kubernetes reads it).
    pub fn as_text(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The node as untyped JSON (core schema resolution), for objects with no Kubernetes type.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.value {
            NodeValue::Scalar { text, plain: false } => Value::String(text.clone()),
            NodeValue::Scalar { text, plain: true } => match resolve(text) {
                Resolved::Null => Value::Null,
                Resolved::Bool(b) => Value::Bool(b),
                Resolved::Int(i) => Value::from(i),
                Resolved::UInt(u) => Value::from(u),
                // JSON has no NaN or infinity: keep what was written.
                Resolved::Float(f) => {
                    serde_json::Number::from_f64(f).map_or(Value::String(text.clone()), Value::Number)
                }
                Resolved::Str(s) => Value::String(s.to_string()),
            },
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => Value::Object(entries.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema_resolution() {
        for s in ["y", "n", "yes", "no", "on", "off", "Y", "NO", "0755x", "1.2.3", "0x", "12:30"] {
            assert_eq!(resolve(s), Resolved::Str(s), "{s}");
        }
        assert_eq!(resolve("true"), Resolved::Bool(true));
        assert_eq!(resolve("FALSE"), Resolved::Bool(false));
        assert_eq!(resolve("~"), Resolved::Null);
        assert_eq!(resolve("0755"), Resolved::Int(755));
        assert_eq!(resolve("0o755"), Resolved::Int(493));
        assert_eq!(resolve("0x1F"), Resolved::Int(31));
        assert_eq!(resolve("-12"), Resolved::Int(-12));
        assert_eq!(resolve("1e3"), Resolved::Float(1000.0));
        assert_eq!(resolve(".5"), Resolved::Float(0.5));
        assert_eq!(resolve("18446744073709551615"), Resolved::UInt(u64::MAX));
        assert_eq!(resolve("-9223372036854775808"), Resolved::Int(i64::MIN));
    }

    #[test]
    fn documents_keep_text_style_and_position() {
        let docs = documents("a: y\nb: 'on'\nc: 0755\n---\n---\nd: [1, x]\n").unwrap();
        assert_eq!(docs.len(), 3);
        let a = docs[0].as_ref().unwrap();
        assert_eq!(a.get("a").unwrap().value, NodeValue::Scalar { text: "y".into(), plain: true });
        assert_eq!(a.get("b").unwrap().value, NodeValue::Scalar { text: "on".into(), plain: false });
        assert_eq!(a.get("c").unwrap().pos, Pos { line: 3, column: 4 });
        assert!(docs[1].is_none());
        assert_eq!(docs[2].as_ref().unwrap().to_json(), serde_json::json!({"d": [1, "x"]}));
        assert_eq!(a.to_json(), serde_json::json!({"a": "y", "b": "on", "c": 755}));
    }

    #[test]
    fn anchors_merges_and_bad_input() {
        let d = documents("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n").unwrap().remove(0).unwrap();
        assert_eq!(d.to_json(), serde_json::json!({"base": {"x": 1, "y": 2}, "m": {"x": 1, "y": 3}}));
        let e = documents("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.pos, Some(Pos { line: 2, column: 1 }));
        assert!(e.message.contains("duplicate key `a`"));
        let e = documents("a: \"unterminated hunter2\n").unwrap_err();
        assert!(e.pos.is_some() && !e.message.contains("hunter2"), "{e:?}");
        let deep = "[".repeat(1000);
        assert!(documents(&deep).is_err());
        assert_eq!(documents("!!str 123").unwrap()[0].as_ref().unwrap().to_json(), serde_json::json!("123"));
    }
}
