//! Reading a Pod's JSON the way the API server's typed decoding sees it: an absent field and
//! `null` are unset; a value of the wrong type is reported as a violation of that field (the API
//! server would not decode the Pod), never guessed at.

use serde_json::{Map, Value};

use super::{Violation, ViolationKind};

pub(super) type Obj = Map<String, Value>;

/// Where a value sits: its field path and the container it belongs to, if any.
#[derive(Debug, Clone)]
pub(super) struct Loc {
    pub path: String,
    pub container: Option<String>,
}

impl Loc {
    pub fn root(path: &str) -> Loc {
        Loc { path: path.to_string(), container: None }
    }

    pub fn child(&self, key: &str) -> Loc {
        Loc { path: format!("{}.{key}", self.path), container: self.container.clone() }
    }

    pub fn index(&self, i: usize) -> Loc {
        Loc { path: format!("{}[{i}]", self.path), container: self.container.clone() }
    }

    /// A map entry, written as the controller writes annotation paths: `metadata.annotations[key]`.
    pub fn key(&self, key: &str) -> Loc {
        Loc { path: format!("{}[{key}]", self.path), container: self.container.clone() }
    }
}

/// A container, init container or ephemeral container of the pod.
pub(super) struct Container<'a> {
    pub name: &'a str,
    pub loc: Loc,
    pub obj: &'a Obj,
}

/// A set field of `parent` (`null` counts as unset, as for the API's pointer fields).
pub(super) fn field<'a>(parent: Option<&'a Obj>, key: &str) -> Option<&'a Value> {
    parent.and_then(|p| p.get(key)).filter(|v| !v.is_null())
}

/// One check's judgement of one pod: the pod's parts, the policy minor version in force, and the
/// violations found so far.
pub(super) struct Judge<'a, 'o> {
    pub check: &'static str,
    pub minor: u32,
    metadata: &'a Value,
    spec: &'a Value,
    out: &'o mut Vec<Violation>,
}

impl<'a, 'o> Judge<'a, 'o> {
    pub fn new(
        check: &'static str,
        minor: u32,
        metadata: &'a Value,
        spec: &'a Value,
        out: &'o mut Vec<Violation>,
    ) -> Self {
        Judge { check, minor, metadata, spec, out }
    }

    /// Records a violation of this check.
    pub fn report(&mut self, kind: ViolationKind, at: &Loc, value: Option<&Value>, message: String, fix: String) {
        self.out.push(Violation {
            check: self.check,
            kind,
            container: at.container.clone(),
            path: at.path.clone(),
            value: value.map(written),
            message,
            fix,
        });
    }

    /// A forbidden value that is set.
    pub fn forbid(&mut self, at: &Loc, value: &Value, message: String, fix: String) {
        self.report(ViolationKind::Forbidden, at, Some(value), message, fix);
    }

    fn wrong_type(&mut self, at: &Loc, value: &Value, expected: &str) {
        let message = format!("{} must be {expected}, not {}; the API server rejects the Pod", at.path, kind_of(value));
        let fix = format!("write {} as {expected}", at.path);
        self.report(ViolationKind::WrongType, at, Some(value), message, fix);
    }

    /// The value when it is `true` (so that it can be reported as written).
    pub fn is_true(&mut self, v: Option<&'a Value>, at: &Loc) -> Option<&'a Value> {
        if self.boolean(v, at) == Some(true) { v } else { None }
    }

    pub fn obj(&mut self, v: Option<&'a Value>, at: &Loc) -> Option<&'a Obj> {
        match v? {
            Value::Object(o) => Some(o),
            other => {
                self.wrong_type(at, other, "an object");
                None
            }
        }
    }

    /// The elements of a list; none when unset or of the wrong type.
    pub fn list(&mut self, v: Option<&'a Value>, at: &Loc) -> &'a [Value] {
        match v {
            None => &[],
            Some(Value::Array(a)) => a,
            Some(other) => {
                self.wrong_type(at, other, "a list");
                &[]
            }
        }
    }

    pub fn boolean(&mut self, v: Option<&'a Value>, at: &Loc) -> Option<bool> {
        match v? {
            Value::Bool(b) => Some(*b),
            other => {
                self.wrong_type(at, other, "a boolean");
                None
            }
        }
    }

    pub fn string(&mut self, v: Option<&'a Value>, at: &Loc) -> Option<&'a str> {
        match v? {
            Value::String(s) => Some(s),
            other => {
                self.wrong_type(at, other, "a string");
                None
            }
        }
    }

    /// An integer that fits the API field's width (`bits` 32 or 64), as Go's decoding demands:
    /// `1.0` or an out-of-range number is a decoding error.
    pub fn integer(&mut self, v: Option<&'a Value>, at: &Loc, bits: u32) -> Option<i64> {
        let v = v?;
        let n = v.as_i64().filter(|n| bits >= 64 || (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(n));
        if n.is_none() {
            self.wrong_type(at, v, if bits >= 64 { "a 64-bit integer" } else { "a 32-bit integer" });
        }
        n
    }

    /// `spec` as an object; a Pod without a spec is judged as an empty one.
    pub fn spec(&mut self) -> Option<&'a Obj> {
        let spec = Some(self.spec).filter(|v| !v.is_null());
        self.obj(spec, &Loc::root("spec"))
    }

    /// `metadata.annotations`, if any.
    pub fn annotations(&mut self) -> Option<&'a Obj> {
        let metadata = Some(self.metadata).filter(|v| !v.is_null());
        let metadata = self.obj(metadata, &Loc::root("metadata"))?;
        self.obj(field(Some(metadata), "annotations"), &Loc::root("metadata.annotations"))
    }

    /// A field of the spec: `spec.<key>`, with its location.
    pub fn spec_field(&mut self, key: &str) -> (Option<&'a Value>, Loc) {
        let spec = self.spec();
        (field(spec, key), Loc::root("spec").child(key))
    }

    /// `spec.securityContext`, with its location.
    pub fn pod_security_context(&mut self) -> (Option<&'a Obj>, Loc) {
        let (v, at) = self.spec_field("securityContext");
        (self.obj(v, &at), at)
    }

    /// Every container in the order the controller visits them: init containers, containers,
    /// ephemeral containers.
    pub fn containers(&mut self) -> Vec<Container<'a>> {
        let mut all = Vec::new();
        for key in ["initContainers", "containers", "ephemeralContainers"] {
            let (v, at) = self.spec_field(key);
            for (i, c) in self.list(v, &at).iter().enumerate() {
                let mut loc = at.index(i);
                let Some(obj) = self.obj(Some(c), &loc) else { continue };
                // A container's name only labels findings; the controller does not judge it.
                let name = obj.get("name").and_then(Value::as_str).unwrap_or("");
                loc.container = Some(name.to_string());
                all.push(Container { name, loc, obj });
            }
        }
        all
    }

    /// A container's `securityContext`, with its location.
    pub fn security_context(&mut self, c: &Container<'a>) -> (Option<&'a Obj>, Loc) {
        let at = c.loc.child("securityContext");
        (self.obj(field(Some(c.obj), "securityContext"), &at), at)
    }

    /// `spec.os.name == "windows"`: the pod declares Windows.
    pub fn is_windows_pod(&mut self) -> bool {
        let (os, at) = self.spec_field("os");
        let os = self.obj(os, &at);
        let name_at = at.child("name");
        self.string(field(os, "name"), &name_at) == Some("windows")
    }

    /// `spec.hostUsers == false`: the pod runs in a user namespace. A wrong-typed `hostUsers` does
    /// not relax anything (the stricter reading); the API server would reject it anyway.
    pub fn in_user_namespace(&self) -> bool {
        let spec = self.spec.as_object();
        field(spec, "hostUsers") == Some(&Value::Bool(false))
    }
}

/// A value as written, compact JSON, shortened past 200 characters.
fn written(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= 200 {
        return s;
    }
    let mut short: String = s.chars().take(199).collect();
    short.push('…');
    short
}

fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(_) => "a boolean".to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(_) => "a string".to_string(),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}
