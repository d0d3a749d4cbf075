//! Credentials stored in clear: literal container `env` values (`env-plain-credential`) and
//! ConfigMap values (`configmap-credential`). Messages name the variable or key and the rule that
//! matched; the value itself is never copied anywhere.

use base64::Engine;
use serde_json::Value;

use crate::cluster::field::field;

use super::objects::{Inventory, containers, items, pod_spec};
use super::patterns::Patterns;
use super::{CONFIGMAP_CREDENTIAL, ENV_PLAIN_CREDENTIAL, SecretFinding, SecretScanOptions};
use crate::outcome::Level;

/// Why a name/value pair looks like a credential.
enum Reason {
    Name,
    Rules(Vec<String>),
    ExtraValue,
    /// A file's line assigns a value to a credential's name (`aws_secret_access_key = ...`).
    Assignment {
        name: String,
        line: usize,
    },
}

impl Reason {
    fn describe(&self) -> String {
        match self {
            Reason::Name => "its name says it is a credential".to_string(),
            Reason::Rules(ids) => {
                let shown: Vec<&str> = ids.iter().take(3).map(String::as_str).collect();
                let more = if ids.len() > 3 { format!(" and {} more", ids.len() - 3) } else { String::new() };
                format!("the value matches credential pattern {}{more}", shown.join(", "))
            }
            Reason::ExtraValue => "the value matches a configured credential-value pattern".to_string(),
            Reason::Assignment { name, line } => format!("line {line} assigns a value to {name}"),
        }
    }
}

/// A literal value as text: env values should be strings, but YAML may give numbers or booleans.
fn literal(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn lower_contains_any(name: &str, fragments: &[String]) -> bool {
    let lower = name.to_ascii_lowercase();
    fragments.iter().any(|f| !f.is_empty() && lower.contains(&f.to_ascii_lowercase()))
}

/// Decides whether `name = value` holds a credential. `key` is the ConfigMap key (None for env).
fn judge(name: &str, value: &str, key: Option<&str>, p: &Patterns, opts: &SecretScanOptions) -> Option<Reason> {
    // Paths, `$(VAR)` references, templates and booleans are not credentials under any name.
    if p.names.is_ignored_value(value) || opts.allowed_credential_values.iter().any(|r| r.is_match(value)) {
        return None;
    }
    let single_line = !value.trim_end().contains('\n');
    // A multi-line ConfigMap value is a file, and a file name (`token-config.yaml`) says little
    // about its content; an env variable's name speaks for its value.
    let by_name = (single_line || key.is_none())
        && !lower_contains_any(name, &opts.allowed_credential_names)
        && (p.names.is_credential_name(name) || lower_contains_any(name, &opts.extra_credential_names));
    if by_name {
        return Some(Reason::Name);
    }
    // A one-line value is scanned as `NAME=value` so that rules keyed on the assignment see the name.
    let text = if single_line { format!("{name}={value}") } else { value.to_string() };
    let ids: Vec<String> = p.matching_rules(&text, key).into_iter().map(str::to_string).collect();
    if !ids.is_empty() {
        return Some(Reason::Rules(ids));
    }
    if opts.extra_credential_values.iter().any(|r| r.is_match(value)) {
        return Some(Reason::ExtraValue);
    }
    if !single_line {
        return file_assignment(value, p, opts);
    }
    None
}

/// `name = value` / `name: value` lines in a file whose name says credential (as a key-name
/// scanner reads a properties, ini, env or YAML file); placeholders and references are ignored.
fn file_assignment(text: &str, p: &Patterns, opts: &SecretScanOptions) -> Option<Reason> {
    for (i, line) in text.lines().enumerate() {
        let l = line.trim_start().trim_start_matches("export ");
        if l.starts_with('#') || l.starts_with(';') || l.starts_with("//") {
            continue;
        }
        let Some(at) = l.find(['=', ':']) else { continue };
        let name = l[..at].trim().trim_matches(['"', '\'']);
        let value = l[at + 1..].trim().trim_matches(['"', '\'', ',']);
        if name.is_empty()
            || name.contains(char::is_whitespace)
            || value.len() < 8
            || value.contains(char::is_whitespace)
            || p.names.is_ignored_value(value)
            || lower_contains_any(name, &opts.allowed_credential_names)
            || opts.allowed_credential_values.iter().any(|r| r.is_match(value))
        {
            continue;
        }
        if p.names.is_credential_name(name) || lower_contains_any(name, &opts.extra_credential_names) {
            return Some(Reason::Assignment { name: name.to_string(), line: i + 1 });
        }
    }
    None
}

pub(super) fn env_credentials(inv: &Inventory, p: &Patterns, opts: &SecretScanOptions, out: &mut Vec<SecretFinding>) {
    for (r, v) in &inv.objects {
        let Some(spec) = pod_spec(v) else { continue };
        if inv.has_listed_controller(r, v) {
            continue;
        }
        for c in containers(spec) {
            for env in items(field(c.spec, "env")) {
                let Some(name) = field(env, "name").and_then(Value::as_str) else {
                    continue;
                };
                if field(env, "valueFrom").is_some_and(|vf| !vf.is_null()) {
                    continue;
                }
                let Some(value) = field(env, "value").and_then(literal) else {
                    continue;
                };
                let Some(reason) = judge(name, &value, None, p, opts) else {
                    continue;
                };
                let key = format!("{}.env.{name}", c.location());
                let message = format!(
                    "env variable {name} in container {} holds a literal value and {}; \
                     reference a Secret with valueFrom.secretKeyRef instead",
                    c.name,
                    reason.describe()
                );
                out.push(SecretFinding::new(ENV_PLAIN_CREDENTIAL, Level::Error, r, Some(key), message));
            }
        }
    }
}

pub(super) fn configmap_credentials(
    inv: &Inventory,
    p: &Patterns,
    opts: &SecretScanOptions,
    out: &mut Vec<SecretFinding>,
) {
    for (r, v) in inv.of_kind("ConfigMap") {
        let data = field(v, "data").and_then(Value::as_object).into_iter().flatten();
        for (key, value) in data {
            let Some(text) = literal(value) else { continue };
            if let Some(reason) = judge(key, &text, Some(key), p, opts) {
                let message = format!(
                    "ConfigMap key {key} (data) looks like a credential: {}; store it in a Secret",
                    reason.describe()
                );
                out.push(SecretFinding::new(CONFIGMAP_CREDENTIAL, Level::Error, r, Some(key.clone()), message));
            }
        }
        let binary = field(v, "binaryData").and_then(Value::as_object).into_iter().flatten();
        for (key, value) in binary {
            let Some(encoded) = value.as_str() else {
                continue;
            };
            // Undecodable binaryData is scanned as stored; rules bound to the key name still apply.
            let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok();
            let text = match &decoded {
                Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                None => encoded.to_string(),
            };
            let reason = judge(key, &text, Some(key), p, opts).or_else(|| {
                // Binary content may not be text at all: key-name rules (e.g. `*.p12`) still apply.
                let ids: Vec<String> = p.matching_rules("", Some(key)).into_iter().map(str::to_string).collect();
                (!ids.is_empty()).then_some(Reason::Rules(ids))
            });
            if let Some(reason) = reason {
                let message = format!(
                    "ConfigMap key {key} (binaryData) looks like a credential: {}; store it in a Secret",
                    reason.describe()
                );
                out.push(SecretFinding::new(CONFIGMAP_CREDENTIAL, Level::Error, r, Some(key.clone()), message));
            }
        }
    }
}
