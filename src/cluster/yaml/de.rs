//! A serde deserializer over YAML nodes, so that manifests are decoded into the Kubernetes types
//! exactly as the API reads them: a field typed string takes the scalar's source text
//! (`version: 1.10` is "1.10", `namespace: y` is "y"), a field typed integer or boolean parses
//! the text, and untyped places resolve plain scalars with the YAML 1.2 core schema. Errors carry
//! the line, column and field path, and never the value.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::{Node, NodeValue, Pos, Resolved, parse_int, resolve};

/// Why a node does not fit the type it is read as: where (position, field path) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeError {
    pub pos: Option<Pos>,
    /// Field path segments, innermost first while the error travels up.
    path: Vec<String>,
    pub message: String,
}

impl NodeError {
    fn at(node: &Node, message: impl Into<String>) -> Self {
        NodeError { pos: Some(node.pos), path: Vec::new(), message: message.into() }
    }

    /// The error seen from the entry `segment` (a key or `[i]`) whose value is `node`.
    fn within(mut self, segment: String, node: &Node) -> Self {
        self.pos.get_or_insert(node.pos);
        self.path.push(segment);
        self
    }

    /// `spec.containers[0].image`, outermost first.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for s in self.path.iter().rev() {
            if !s.starts_with('[') && !out.is_empty() {
                out.push('.');
            }
            out.push_str(s);
        }
        out
    }
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.path() {
            p if p.is_empty() => f.write_str(&self.message),
            p => write!(f, "{p}: {}", self.message),
        }
    }
}

impl std::error::Error for NodeError {}

impl de::Error for NodeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        NodeError { pos: None, path: Vec::new(), message: without_quoted_values(&msg.to_string()) }
    }
}

/// serde's messages quote the offending value (`invalid value: string "..."`): a manifest value
/// may be a credential, so quoted text is dropped.
fn without_quoted_values(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut in_quote = false;
    for c in msg.chars() {
        match (c, in_quote) {
            ('"', false) => {
                in_quote = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                in_quote = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

/// Reads one node. `type_override` replaces the top-level `apiVersion` and `kind` values, so an
/// object of an older served version (`policy/v1beta1`) decodes into the current type of the
/// same shape; the caller puts the original values back.
pub struct NodeDeserializer<'a> {
    node: &'a Node,
    type_override: Option<(&'a str, &'a str)>,
}

impl<'a> NodeDeserializer<'a> {
    pub fn new(node: &'a Node) -> Self {
        NodeDeserializer { node, type_override: None }
    }
    pub fn with_type(node: &'a Node, api_version: &'a str, kind: &'a str) -> Self {
        NodeDeserializer { node, type_override: Some((api_version, kind)) }
    }

    fn scalar(&self) -> Option<(&'a str, bool)> {
        match &self.node.value {
            NodeValue::Scalar { text, plain } => Some((text.as_str(), *plain)),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self.scalar(), Some((t, true)) if resolve(t) == Resolved::Null)
    }

    fn what(&self) -> &'static str {
        match &self.node.value {
            NodeValue::Scalar { .. } => "a scalar",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    fn expected(&self, what: &str) -> NodeError {
        NodeError::at(self.node, format!("expected {what}, found {}", self.what()))
    }

    fn integer(&self) -> Result<Resolved<'a>, NodeError> {
        match self.scalar() {
            Some((t, _)) => match parse_int(t.trim()) {
                Some(r) => Ok(r),
                None => Err(NodeError::at(self.node, "expected an integer")),
            },
            None => Err(self.expected("an integer")),
        }
    }
}

macro_rules! integer_methods {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
            match self.integer()? {
                Resolved::Int(i) => visitor.visit_i64(i),
                Resolved::UInt(u) => visitor.visit_u64(u),
                _ => Err(NodeError::at(self.node, "expected an integer")),
            }
            .map_err(|e| locate(e, self.node))
        }
    )*};
}

/// An error from a visitor has no position: it is about this node.
fn locate(mut e: NodeError, node: &Node) -> NodeError {
    e.pos.get_or_insert(node.pos);
    e
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'de> {
    type Error = NodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        let node = self.node;
        let r = match &node.value {
            NodeValue::Scalar { text, plain: false } => visitor.visit_str(text),
            NodeValue::Scalar { text, plain: true } => match resolve(text) {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(i) => visitor.visit_i64(i),
                Resolved::UInt(u) => visitor.visit_u64(u),
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Str(s) => visitor.visit_str(s),
            },
            NodeValue::Seq(items) => visitor.visit_seq(Seq { items: items.iter(), index: 0 }),
            NodeValue::Map(entries) => visitor.visit_map(Map::new(entries, self.type_override)),
        };
        r.map_err(|e| locate(e, node))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        match self.scalar().map(|(t, _)| resolve(t.trim())) {
            Some(Resolved::Bool(b)) => visitor.visit_bool(b).map_err(|e| locate(e, self.node)),
            Some(_) => Err(NodeError::at(self.node, "expected true or false")),
            None => Err(self.expected("true or false")),
        }
    }

    integer_methods!(
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64
    );

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        let value = match self.scalar().map(|(t, _)| resolve(t.trim())) {
            Some(Resolved::Float(f)) => f,
            Some(Resolved::Int(i)) => i as f64,
            Some(Resolved::UInt(u)) => u as f64,
            Some(_) => return Err(NodeError::at(self.node, "expected a number")),
            None => return Err(self.expected("a number")),
        };
        visitor.visit_f64(value).map_err(|e| locate(e, self.node))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        self.deserialize_str(visitor)
    }

    /// A string field takes the text as written, whatever the core schema would make of it.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        match self.scalar() {
            Some((t, true)) if resolve(t) == Resolved::Null => visitor.visit_str(""),
            Some((t, _)) => visitor.visit_str(t),
            None => Err(self.expected("a string")),
        }
        .map_err(|e| locate(e, self.node))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        if self.is_null() { visitor.visit_none() } else { visitor.visit_some(self) }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        if self.is_null() { visitor.visit_unit() } else { Err(self.expected("null")) }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, NodeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, NodeError> {
        visitor.visit_newtype_struct(self)
    }

    /// A list; null reads as an empty list, as the API server reads it.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        let node = self.node;
        match &node.value {
            NodeValue::Seq(items) => visitor.visit_seq(Seq { items: items.iter(), index: 0 }),
            _ if self.is_null() => visitor.visit_seq(Seq { items: [].iter(), index: 0 }),
            _ => return Err(self.expected("a list")),
        }
        .map_err(|e| locate(e, node))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, NodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, NodeError> {
        self.deserialize_seq(visitor)
    }

    /// A mapping; null reads as an empty mapping.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        let node = self.node;
        match &node.value {
            NodeValue::Map(entries) => visitor.visit_map(Map::new(entries, self.type_override)),
            _ if self.is_null() => visitor.visit_map(Map::new(&[], None)),
            _ => return Err(self.expected("a mapping")),
        }
        .map_err(|e| locate(e, node))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, NodeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, NodeError> {
        match self.scalar() {
            Some((t, _)) => {
                let d: de::value::StrDeserializer<'_, NodeError> = t.into_deserializer();
                visitor.visit_enum(d).map_err(|e| locate(e, self.node))
            }
            None => Err(self.expected("a name")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        visitor.visit_unit()
    }
}

struct Seq<'a> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
}

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = NodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, NodeError> {
        let Some(item) = self.items.next() else { return Ok(None) };
        let i = self.index;
        self.index += 1;
        seed.deserialize(NodeDeserializer::new(item)).map(Some).map_err(|e| e.within(format!("[{i}]"), item))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'a> {
    entries: std::slice::Iter<'a, (String, Node)>,
    current: Option<&'a (String, Node)>,
    type_override: Option<(&'a str, &'a str)>,
}

impl<'a> Map<'a> {
    fn new(entries: &'a [(String, Node)], type_override: Option<(&'a str, &'a str)>) -> Self {
        Map { entries: entries.iter(), current: None, type_override }
    }
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = NodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, NodeError> {
        let Some(entry) = self.entries.next() else { return Ok(None) };
        self.current = Some(entry);
        seed.deserialize(BorrowedStrDeserializer::new(entry.0.as_str())).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, NodeError> {
        let Some((key, node)) = self.current.take() else {
            return Err(de::Error::custom("a value was asked for before its key"));
        };
        let replaced = match (self.type_override, key.as_str()) {
            (Some((api_version, _)), "apiVersion") => Some(api_version),
            (Some((_, kind)), "kind") => Some(kind),
            _ => None,
        };
        let r = match replaced {
            Some(text) => seed.deserialize(BorrowedStrDeserializer::new(text)),
            None => seed.deserialize(NodeDeserializer::new(node)),
        };
        r.map_err(|e| e.within(key.clone(), node))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::yaml::documents;
    use serde::Deserialize;

    fn node(text: &str) -> Node {
        documents(text).unwrap().remove(0).unwrap()
    }

    #[test]
    fn string_fields_take_the_source_text() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Meta {
            name: String,
            namespace: Option<String>,
            labels: std::collections::BTreeMap<String, String>,
            replicas: Option<i32>,
            on: Option<bool>,
        }
        let m: Meta = Meta::deserialize(NodeDeserializer::new(&node(
            "name: 0755\nnamespace: y\nlabels: {v: 1.10, e: 1e3, b: on, t: true}\nreplicas: 3\non: true\n",
        )))
        .unwrap();
        assert_eq!((m.name.as_str(), m.namespace.as_deref()), ("0755", Some("y")));
        assert_eq!(m.labels["v"], "1.10");
        assert_eq!(m.labels["e"], "1e3");
        assert_eq!(m.labels["b"], "on");
        assert_eq!(m.labels["t"], "true");
        assert_eq!((m.replicas, m.on), (Some(3), Some(true)));
    }

    #[test]
    fn errors_name_line_column_and_path_without_the_value() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Port {
            port: i32,
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Spec {
            ports: Vec<Port>,
        }
        let e = Spec::deserialize(NodeDeserializer::new(&node("ports:\n- port: 80\n- port: hunter2\n"))).unwrap_err();
        assert_eq!(e.pos, Some(Pos { line: 3, column: 9 }));
        assert_eq!(e.to_string(), "ports[1].port: expected an integer");
        let e = Spec::deserialize(NodeDeserializer::new(&node("ports:\n- {}\n"))).unwrap_err();
        assert_eq!(e.pos, Some(Pos { line: 2, column: 3 }), "{e}");
        assert!(e.to_string().starts_with("ports[0]: missing field `port`"), "{e}");
        assert_eq!(
            without_quoted_values("invalid value: string \"s3cr3t\", expected x"),
            "invalid value: string \"…\", expected x"
        );
    }
}
