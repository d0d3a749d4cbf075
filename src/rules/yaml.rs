//! YAML documents as trees of nodes that remember their line and column, so that rule findings
//! can point at the line as promtool does, and unknown fields can be reported by name.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// One YAML node and where it starts (line 0 when it came from JSON, e.g. a live object).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub line: u64,
    pub column: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys keep their order; duplicate keys are already rejected by the parser.
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn new(value: Value) -> Self {
        Node { value, line: 0, column: 0 }
    }

    /// ` (line L:C)` for messages, empty when the position is unknown.
    pub fn at(&self) -> String {
        if self.line == 0 { String::new() } else { format!(" (line {}:{})", self.line, self.column) }
    }

    pub fn line(&self) -> Option<u64> {
        (self.line > 0).then_some(self.line)
    }

    /// The text of a scalar as a string field would receive it; None for null and collections.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value under a string key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.scalar_text().as_deref() == Some(key)).map(|(_, v)| v)
    }

    /// What kind of node this is, for "expected a list, found a string" messages.
    pub fn kind_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "a number",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Converts a JSON value (a live object fetched from the API) into a node without positions.
    pub fn from_json(v: &serde_json::Value) -> Node {
        let value = match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Value::Int(i.into()),
                (_, Some(u), _) => Value::Int(u.into()),
                (_, _, Some(f)) => Value::Float(f),
                _ => Value::Str(n.to_string()),
            },
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => Value::Seq(a.iter().map(Node::from_json).collect()),
            serde_json::Value::Object(o) => {
                Value::Map(o.iter().map(|(k, v)| (Node::new(Value::Str(k.clone())), Node::from_json(v))).collect())
            }
        };
        Node::new(value)
    }
}

/// A YAML syntax or structure error, with the parser's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub message: String,
    pub line: Option<u64>,
}

/// Parses every document of a YAML (or JSON) text. Anchors, aliases and merge keys are resolved;
/// duplicate keys are an error, as they are for Prometheus.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, YamlError> {
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_multiple_with_options::<Node>(text, options).map_err(|e| YamlError {
        line: e.location().map(|l| l.line()),
        message: e.to_string().lines().next().unwrap_or("invalid YAML").trim().to_string(),
    })
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_saphyr::Spanned::<Value>::deserialize(d)?;
        Ok(Node { value: s.value, line: s.referenced.line(), column: s.referenced.column() })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(i128::try_from(v).map(Value::Int).unwrap_or_else(|_| Value::Str(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            out.push(n);
        }
        Ok(Value::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<Node, Node>()? {
            out.push((k, v));
        }
        Ok(Value::Map(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_aliases_and_merge_keys() {
        let docs = parse_documents("a: &x\n  b: 1\nc:\n  <<: *x\n  d: [true, ~, 2.5, \"s\"]\n---\nz: 1\n").unwrap();
        assert_eq!(docs.len(), 2);
        let c = docs[0].get("c").unwrap();
        assert_eq!(c.get("b").unwrap().scalar_text().as_deref(), Some("1"));
        let d = c.get("d").unwrap();
        assert_eq!(d.line, 5);
        let items = d.as_seq().unwrap();
        assert_eq!(items[0].value, Value::Bool(true));
        assert!(items[1].is_null());
        assert_eq!(items[3].as_str(), Some("s"));
        let key_line = docs[0].as_map().unwrap()[1].0.line;
        assert_eq!(key_line, 3);
    }

    #[test]
    fn syntax_errors_and_duplicate_keys_are_errors() {
        assert!(parse_documents("a: [1, 2\n").is_err());
        let e = parse_documents("a: 1\na: 2\n").unwrap_err();
        assert!(e.message.to_lowercase().contains("duplicate"), "{}", e.message);
    }

    #[test]
    fn empty_text_has_no_documents() {
        let docs = parse_documents("").unwrap();
        assert!(docs.iter().all(Node::is_null), "{docs:?}");
    }
}
