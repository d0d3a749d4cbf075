//! Typed reading of a check's parameters (catalog defaults merged with `[item.with]`).
//! Every problem is collected, and every key never read is reported, so a typo in a
//! parameter name cannot silently disable part of a check.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One problem with one parameter. `key` is the top-level parameter name and `path` the entry
/// within it (`configmaps[1].namespace`), for pointing at the line in the checklist; both None
/// when the problem is about the set as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub key: Option<String>,
    pub path: Option<String>,
    pub message: String,
}

/// Reads parameters out of a merged TOML table, collecting errors.
pub struct ParamReader<'a> {
    table: &'a toml::Table,
    read: BTreeSet<String>,
    errors: Vec<ParamError>,
}

impl<'a> ParamReader<'a> {
    pub fn new(table: &'a toml::Table) -> Self {
        ParamReader { table, read: BTreeSet::new(), errors: Vec::new() }
    }

    /// Records a problem with `key`.
    pub fn error(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ParamError { key: Some(key.to_string()), path: None, message: message.into() });
    }

    /// Records a problem with a nested entry, e.g. `configmaps[1].namespace`.
    pub fn error_at(&mut self, path: &str, message: impl Into<String>) {
        let key = path.split(['[', '.']).next().unwrap_or(path).to_string();
        self.errors.push(ParamError { key: Some(key), path: Some(path.to_string()), message: message.into() });
    }

    /// Records a problem with the parameters as a whole.
    pub fn error_general(&mut self, message: impl Into<String>) {
        self.errors.push(ParamError { key: None, path: None, message: message.into() });
    }

    /// A list of tables under `key` (`configmaps = [{ namespace = "a", name = "b" }]`): each with
    /// its index; a non-table entry and every unknown field (with a did-you-mean) are errors.
    pub fn table_list(&mut self, key: &str, known: &[&str]) -> Vec<(usize, &'a toml::Table)> {
        let mut out = Vec::new();
        let Some(items) = self.opt_array(key) else {
            return out;
        };
        for (i, v) in items.iter().enumerate() {
            let Some(t) = v.as_table() else {
                self.error_at(&format!("{key}[{i}]"), format!("`{key}[{i}]` must be a table, found {}", v.type_str()));
                continue;
            };
            for k in t.keys().filter(|k| !known.contains(&k.as_str())) {
                let hint = match crate::checklist::did_you_mean(k, known.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("expected: {}", known.join(", ")),
                };
                self.error_at(&format!("{key}[{i}].{k}"), format!("unknown key `{k}` in `{key}[{i}]` ({hint})"));
            }
            out.push((i, t));
        }
        out
    }

    /// A string field of one entry of a table list; `required` makes its absence an error.
    pub fn str_in(&mut self, key: &str, i: usize, t: &toml::Table, field: &str, required: bool) -> Option<String> {
        let path = format!("{key}[{i}].{field}");
        match t.get(field) {
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(other) => {
                self.error_at(&path, format!("`{path}` must be a non-empty string, found {}", other.type_str()));
                None
            }
            None => {
                if required {
                    self.error_at(&format!("{key}[{i}]"), format!("`{key}[{i}]` needs `{field}`"));
                }
                None
            }
        }
    }

    /// A number field (integer or float, finite) of one entry of a table list.
    pub fn f64_in(&mut self, key: &str, i: usize, t: &toml::Table, field: &str) -> Option<f64> {
        let path = format!("{key}[{i}].{field}");
        match t.get(field)? {
            toml::Value::Integer(n) => Some(*n as f64),
            toml::Value::Float(f) if f.is_finite() => Some(*f),
            other => {
                self.error_at(&path, format!("`{path}` must be a finite number, found {}", other.type_str()));
                None
            }
        }
    }

    /// A true/false field of one entry of a table list.
    pub fn bool_in(&mut self, key: &str, i: usize, t: &toml::Table, field: &str) -> Option<bool> {
        let path = format!("{key}[{i}].{field}");
        match t.get(field)? {
            toml::Value::Boolean(b) => Some(*b),
            other => {
                self.error_at(&path, format!("`{path}` must be true or false, found {}", other.type_str()));
                None
            }
        }
    }

    /// A non-negative whole number field of one entry of a table list.
    pub fn u64_in(&mut self, key: &str, i: usize, t: &toml::Table, field: &str) -> Option<u64> {
        let path = format!("{key}[{i}].{field}");
        match t.get(field)? {
            toml::Value::Integer(n) if *n >= 0 => Some(*n as u64),
            other => {
                self.error_at(&path, format!("`{path}` must be a whole number of 0 or more, found {other}"));
                None
            }
        }
    }

    /// A duration field (`"5m"`) of one entry of a table list.
    pub fn duration_in(&mut self, key: &str, i: usize, t: &toml::Table, field: &str) -> Option<Duration> {
        let path = format!("{key}[{i}].{field}");
        let parsed = match t.get(field)? {
            toml::Value::String(s) => parse_duration(s),
            other => Err(format!("must be a duration string such as \"5m\", found {}", other.type_str())),
        };
        match parsed {
            Ok(d) => Some(d),
            Err(e) => {
                self.error_at(&path, format!("`{path}`: {e}"));
                None
            }
        }
    }

    /// A percentage field (`"10%"`) of one entry of a table list, as a fraction (0.1).
    pub fn percent_in(&mut self, key: &str, i: usize, t: &toml::Table, field: &str) -> Option<f64> {
        let path = format!("{key}[{i}].{field}");
        match parse_percent(t.get(field)?) {
            Ok(p) => Some(p),
            Err(e) => {
                self.error_at(&path, format!("`{path}` {e}"));
                None
            }
        }
    }

    /// A table of string labels in one entry of a table list.
    pub fn labels_in(&mut self, key: &str, i: usize, t: &toml::Table, field: &str) -> Option<BTreeMap<String, String>> {
        let v = t.get(field)?;
        let path = format!("{key}[{i}].{field}");
        let Some(tab) = v.as_table() else {
            self.error_at(&path, format!("`{path}` must be a table of labels"));
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, v) in tab {
            match v.as_str() {
                Some(s) => {
                    out.insert(k.clone(), s.to_string());
                }
                None => self.error_at(&format!("{path}.{k}"), format!("label `{k}` in `{path}` must be a string")),
            }
        }
        Some(out)
    }

    /// The raw value, marking the key as read.
    pub fn value(&mut self, key: &str) -> Option<&'a toml::Value> {
        self.read.insert(key.to_string());
        self.table.get(key)
    }

    fn missing(&mut self, key: &str, what: &str) {
        self.error(key, format!("missing parameter `{key}` ({what})"));
    }

    fn wrong_type(&mut self, key: &str, what: &str, got: &toml::Value) {
        self.error(key, format!("parameter `{key}` must be {what}, found {}", got.type_str()));
    }

    pub fn opt_str(&mut self, key: &str) -> Option<String> {
        match self.value(key)? {
            toml::Value::String(s) => Some(s.clone()),
            other => {
                self.wrong_type(key, "a string", other);
                None
            }
        }
    }

    pub fn req_str(&mut self, key: &str) -> Option<String> {
        if self.table.contains_key(key) {
            self.opt_str(key)
        } else {
            self.read.insert(key.to_string());
            self.missing(key, "a string");
            None
        }
    }

    pub fn opt_bool(&mut self, key: &str) -> Option<bool> {
        match self.value(key)? {
            toml::Value::Boolean(b) => Some(*b),
            other => {
                self.wrong_type(key, "true or false", other);
                None
            }
        }
    }

    /// A non-negative integer.
    pub fn opt_u64(&mut self, key: &str) -> Option<u64> {
        match self.value(key)? {
            toml::Value::Integer(i) if *i >= 0 => Some(*i as u64),
            toml::Value::Integer(i) => {
                self.error(key, format!("parameter `{key}` must not be negative, found {i}"));
                None
            }
            other => {
                self.wrong_type(key, "a whole number", other);
                None
            }
        }
    }

    pub fn req_u64(&mut self, key: &str) -> Option<u64> {
        if self.table.contains_key(key) {
            self.opt_u64(key)
        } else {
            self.read.insert(key.to_string());
            self.missing(key, "a whole number");
            None
        }
    }

    /// A number (integer or float).
    pub fn opt_f64(&mut self, key: &str) -> Option<f64> {
        match self.value(key)? {
            toml::Value::Integer(i) => Some(*i as f64),
            toml::Value::Float(f) if f.is_finite() => Some(*f),
            other => {
                self.wrong_type(key, "a finite number", other);
                None
            }
        }
    }

    /// A list of strings; a single string is accepted as a list of one.
    pub fn opt_str_list(&mut self, key: &str) -> Option<Vec<String>> {
        match self.value(key)? {
            toml::Value::String(s) => Some(vec![s.clone()]),
            toml::Value::Array(items) => {
                let mut out = Vec::new();
                for v in items {
                    match v {
                        toml::Value::String(s) => out.push(s.clone()),
                        other => {
                            self.wrong_type(key, "a list of strings", other);
                            return None;
                        }
                    }
                }
                Some(out)
            }
            other => {
                self.wrong_type(key, "a list of strings", other);
                None
            }
        }
    }

    /// An endpoint URL with one of `schemes`, held redacted for display (crate::redact).
    pub fn opt_endpoint(&mut self, key: &str, schemes: &[&str]) -> Option<crate::redact::Endpoint> {
        let s = self.opt_str(key)?;
        match crate::redact::Endpoint::parse(&s, schemes) {
            Ok(e) => Some(e),
            Err(e) => {
                self.error(key, format!("parameter `{key}` {e}"));
                None
            }
        }
    }

    pub fn req_endpoint(&mut self, key: &str, schemes: &[&str]) -> Option<crate::redact::Endpoint> {
        if self.table.contains_key(key) {
            self.opt_endpoint(key, schemes)
        } else {
            self.read.insert(key.to_string());
            self.missing(key, &format!("a {} URL", schemes.join(" or ")));
            None
        }
    }

    /// The name of an environment variable that holds a credential. The value is never echoed:
    /// someone may have put the credential itself here, and one that reads as a credential is
    /// refused even when it would be a valid name.
    pub fn opt_env_name(&mut self, key: &str) -> Option<String> {
        let v = self.opt_str(key)?;
        match env_name_problem(&v) {
            None => Some(v),
            Some(why) => {
                self.error(key, format!("parameter `{key}` must name an environment variable, {why}"));
                None
            }
        }
    }

    /// A duration such as `500ms`, `5s`, `2m`, `1h30m`, `30d`.
    pub fn opt_duration(&mut self, key: &str) -> Option<Duration> {
        let s = match self.value(key)? {
            toml::Value::String(s) => s.clone(),
            other => {
                self.wrong_type(key, "a duration string such as \"5s\"", other);
                return None;
            }
        };
        match parse_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(key, format!("parameter `{key}`: {e}"));
                None
            }
        }
    }

    /// A table of string labels, e.g. `{ "app.kubernetes.io/name" = "nats" }`.
    pub fn opt_labels(&mut self, key: &str) -> Option<BTreeMap<String, String>> {
        match self.value(key)? {
            toml::Value::Table(t) => {
                let mut out = BTreeMap::new();
                for (k, v) in t {
                    match v {
                        toml::Value::String(s) => {
                            out.insert(k.clone(), s.clone());
                        }
                        other => {
                            self.error(
                                key,
                                format!("label `{k}` in `{key}` must be a string, found {}", other.type_str()),
                            );
                            return None;
                        }
                    }
                }
                Some(out)
            }
            other => {
                self.wrong_type(key, "a table of labels", other);
                None
            }
        }
    }

    pub fn opt_table(&mut self, key: &str) -> Option<&'a toml::Table> {
        match self.value(key)? {
            toml::Value::Table(t) => Some(t),
            other => {
                self.wrong_type(key, "a table", other);
                None
            }
        }
    }

    pub fn opt_array(&mut self, key: &str) -> Option<&'a Vec<toml::Value>> {
        match self.value(key)? {
            toml::Value::Array(a) => Some(a),
            other => {
                self.wrong_type(key, "a list", other);
                None
            }
        }
    }

    /// Ends reading: every key never read is an error (unknown parameter).
    pub fn finish(mut self) -> Result<(), Vec<ParamError>> {
        let unknown: Vec<String> = self.table.keys().filter(|k| !self.read.contains(*k)).cloned().collect();
        let known: Vec<String> = self.read.iter().cloned().collect();
        for k in unknown {
            let message = match crate::checklist::did_you_mean(&k, known.iter().map(String::as_str)) {
                Some(s) => {
                    format!("unknown parameter `{k}` (did you mean `{s}`? this check takes: {})", known.join(", "))
                }
                None => format!("unknown parameter `{k}` (this check takes: {})", known.join(", ")),
            };
            self.errors.push(ParamError { key: Some(k.clone()), path: None, message });
        }
        if self.errors.is_empty() { Ok(()) } else { Err(self.errors) }
    }
}

/// Letters, digits and `_`, not starting with a digit.
pub fn is_env_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why `s` is not acceptable as the name of a credential's environment variable, if it is not.
pub fn env_name_problem(s: &str) -> Option<&'static str> {
    if !is_env_var_name(s) {
        return Some("not hold the value (letters, digits and `_` only)");
    }
    // Variable names are words; a long mixed-case run with digits is a token pasted in.
    let mixed = s.chars().any(|c| c.is_ascii_lowercase())
        && s.chars().any(|c| c.is_ascii_uppercase())
        && s.chars().any(|c| c.is_ascii_digit());
    if !crate::redact::sensitive_ranges(s).is_empty() || (s.len() >= 20 && mixed) {
        return Some(
            "but this value reads as a credential itself: put the credential in the environment and name the variable here",
        );
    }
    None
}

/// Test support: reads `src` (TOML) with a probe's `read`, as checklist validation does.
#[cfg(test)]
pub fn read_for_test<T>(src: &str, read: impl FnOnce(&mut ParamReader) -> Option<T>) -> Result<T, Vec<ParamError>> {
    let t: toml::Table = toml::from_str(src).expect("test parameters are valid TOML");
    let mut r = ParamReader::new(&t);
    let p = read(&mut r);
    r.finish()?;
    Ok(p.expect("read returns a value when it recorded no error"))
}

/// Test support: the parameter keys the errors point at.
#[cfg(test)]
pub fn error_keys(errs: &[ParamError]) -> Vec<String> {
    errs.iter().map(|e| e.key.clone().unwrap_or_default()).collect()
}

/// `"10%"` as 0.1: a string of a non-negative number and a percent sign.
pub fn parse_percent(v: &toml::Value) -> Result<f64, String> {
    let toml::Value::String(s) = v else {
        return Err(format!("must be a percentage such as \"10%\", found {}", v.type_str()));
    };
    let number = s.trim().strip_suffix('%').map(str::trim);
    match number.and_then(|n| n.parse::<f64>().ok()) {
        Some(p) if p.is_finite() && p >= 0.0 => Ok(p / 100.0),
        _ => Err(format!("must be a percentage such as \"10%\", found {s:?}")),
    }
}

/// Parses `500ms`, `5s`, `2m`, `1h30m`, `7d` (days are 24 h). No negative or empty durations.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration (expected e.g. \"5s\", \"2m\", \"500ms\")".into());
    }
    let mut total: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("invalid duration {s:?} (expected e.g. \"5s\", \"2m\", \"500ms\", \"1h30m\")"));
        }
        let n: u128 = rest[..digits].parse().map_err(|_| format!("duration {s:?} is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms: u128 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("duration {s:?} needs a unit (ms, s, m, h or d)")),
            other => {
                return Err(format!("unknown unit {other:?} in duration {s:?} (expected ms, s, m, h or d)"));
            }
        };
        total = total
            .checked_add(n.checked_mul(ms).ok_or(format!("duration {s:?} is too large"))?)
            .ok_or(format!("duration {s:?} is too large"))?;
    }
    let ms = u64::try_from(total).map_err(|_| format!("duration {s:?} is too large"))?;
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        for bad in ["", "5", "s", "5x", "-5s", "1.5s", "99999999999999999999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn unknown_and_mistyped_keys_are_collected() {
        let t: toml::Table = toml::from_str("path = 3\nheadigns = [\"a\"]\nmax = -1").unwrap();
        let mut r = ParamReader::new(&t);
        assert_eq!(r.opt_str("path"), None);
        assert_eq!(r.opt_u64("max"), None);
        assert_eq!(r.req_str("title"), None);
        let errs = r.finish().unwrap_err();
        let keys: Vec<_> = errs.iter().map(|e| e.key.clone().unwrap()).collect();
        assert_eq!(keys, ["path", "max", "title", "headigns"]);
        assert!(errs[3].message.contains("unknown parameter `headigns`"));
    }
}
