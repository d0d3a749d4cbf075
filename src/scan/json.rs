//! Path-aware access to a parsed JSON document, so a report of the right tool but the wrong shape
//! is an error naming the field (`Results[2].Vulnerabilities[0].PkgName: expected a string, found
//! a number`) without quoting any of the file's content.

use serde_json::{Map, Value};

/// A field of the wrong type or a missing required field, at a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShapeError {
    pub path: String,
    pub problem: String,
}

pub(crate) type Shaped<T> = Result<T, ShapeError>;

/// What kind of JSON value this is, for messages ("a list", "a number").
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A JSON object and the path it was found at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Obj<'v> {
    map: &'v Map<String, Value>,
    path: &'v str,
}

impl<'v> Obj<'v> {
    /// The document's top level, which must be an object.
    pub fn root(v: &'v Value) -> Shaped<Obj<'v>> {
        match v {
            Value::Object(map) => Ok(Obj { map, path: "" }),
            other => Err(ShapeError {
                path: "(top level)".into(),
                problem: format!("expected an object, found {}", kind(other)),
            }),
        }
    }

    pub fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) }
    }

    /// An error about `key` of this object.
    pub fn problem(&self, key: &str, problem: impl Into<String>) -> ShapeError {
        ShapeError { path: self.child_path(key), problem: problem.into() }
    }

    fn wrong(&self, key: &str, expected: &str, found: &Value) -> ShapeError {
        ShapeError { path: self.child_path(key), problem: format!("expected {expected}, found {}", kind(found)) }
    }

    /// The value of `key`, `None` when absent or null (scanners write both for "nothing").
    pub fn value(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A string field, `None` when absent or null.
    pub fn opt_str(&self, key: &str) -> Shaped<Option<&'v str>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// A string field, `None` when absent, null or empty.
    pub fn non_empty_str(&self, key: &str) -> Shaped<Option<&'v str>> {
        Ok(self.opt_str(key)?.map(str::trim).filter(|s| !s.is_empty()))
    }

    /// A string field that must be there and not be empty.
    pub fn req_str(&self, key: &str) -> Shaped<&'v str> {
        match self.map.get(key) {
            None | Some(Value::Null) => Err(ShapeError { path: self.child_path(key), problem: "missing".into() }),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(ShapeError { path: self.child_path(key), problem: "empty".into() })
            }
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// A list of strings, empty when absent or null. Empty strings are dropped.
    pub fn str_list(&self, key: &str) -> Shaped<Vec<String>> {
        let mut out = Vec::new();
        for (i, v) in self.list_values(key)?.iter().enumerate() {
            match v {
                Value::String(s) if s.trim().is_empty() => {}
                Value::String(s) => out.push(s.trim().to_string()),
                other => {
                    return Err(ShapeError {
                        path: format!("{}[{i}]", self.child_path(key)),
                        problem: format!("expected a string, found {}", kind(other)),
                    });
                }
            }
        }
        Ok(out)
    }

    /// The raw items of a list field, empty when absent or null.
    pub fn list_values(&self, key: &str) -> Shaped<&'v [Value]> {
        match self.value(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong(key, "a list", other)),
        }
    }

    /// A list of objects, empty when absent or null; `each` gets every item with its path.
    pub fn each_obj(&self, key: &str, each: impl FnMut(Obj<'_>) -> Shaped<()>) -> Shaped<()> {
        each_item_obj(self.list_values(key)?, &self.child_path(key), each)
    }

    /// An object field, handed to `with` when present (absent or null: `with` is not called).
    pub fn with_obj<T>(&self, key: &str, with: impl FnOnce(Obj<'_>) -> Shaped<T>) -> Shaped<Option<T>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Object(map)) => {
                let path = self.child_path(key);
                with(Obj { map, path: &path }).map(Some)
            }
            Some(other) => Err(self.wrong(key, "an object", other)),
        }
    }

    /// A number field, `None` when absent or null.
    pub fn opt_f64(&self, key: &str) -> Shaped<Option<f64>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(self.wrong(key, "a number", other)),
        }
    }

    /// The number of entries of an object or list field (absent or null: `None`).
    pub fn len_of(&self, key: &str) -> Shaped<Option<usize>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.len())),
            Some(Value::Array(a)) => Ok(Some(a.len())),
            Some(other) => Err(self.wrong(key, "an object or a list", other)),
        }
    }
}

/// Every item of a list, which must be objects; paths read `base[i]`.
pub(crate) fn each_item_obj(items: &[Value], base: &str, mut each: impl FnMut(Obj<'_>) -> Shaped<()>) -> Shaped<()> {
    for (i, v) in items.iter().enumerate() {
        let path = format!("{base}[{i}]");
        match v {
            Value::Object(map) => each(Obj { map, path: &path })?,
            other => return Err(ShapeError { path, problem: format!("expected an object, found {}", kind(other)) }),
        }
    }
    Ok(())
}
