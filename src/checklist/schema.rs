//! The JSON Schema of `checklist.toml` (for the `schema` command and editor completion), from
//! schema-only types that mirror the keys the loader accepts; a test keeps the two in step.

// The types below are never built: they exist only to describe the file.
#![allow(dead_code)]

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::model::Severity;

/// A TOML local date such as `2026-06-30` (no quotes).
struct TomlDate;

impl JsonSchema for TomlDate {
    fn schema_name() -> Cow<'static, str> {
        "TomlDate".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date",
            "description": "A TOML local date such as 2026-06-30 (written without quotes)."
        })
    }
}

/// kgents-gate launch checklist (`checklist.toml`).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "kgents-gate checklist")]
struct ChecklistFile {
    launch: LaunchTable,
    #[serde(default)]
    category: Vec<CategoryTable>,
    #[serde(default)]
    item: Vec<ItemTable>,
    #[serde(default)]
    waiver: Vec<WaiverTable>,
}

/// What is being launched and who approves it.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct LaunchTable {
    name: String,
    description: Option<String>,
    /// Who signs the launch approval (at least one).
    #[schemars(length(min = 1))]
    approvers: Vec<String>,
}

/// A group of items, e.g. "Network policies".
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct CategoryTable {
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9._-]*$"))]
    id: String,
    title: String,
}

/// The only item kind besides catalog checks.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
enum ItemKindName {
    Manual,
}

/// One checklist item: a catalog check (`check`) or a manual item (`kind = "manual"`).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct ItemTable {
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9._-]*$"))]
    id: String,
    /// A category id.
    category: String,
    title: String,
    /// A check id from the catalog (`checks/*.toml`); not with `kind = "manual"`.
    check: Option<String>,
    /// `manual`: pending until signed off.
    kind: Option<ItemKindName>,
    /// Default: blocking.
    severity: Option<Severity>,
    owner: Option<String>,
    /// Time budget of the check, e.g. "30s", "2m", "500ms".
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h|d))+$"))]
    timeout: Option<String>,
    /// Parameters of the check, overriding the catalog defaults.
    with: Option<serde_json::Map<String, serde_json::Value>>,
    /// The sign-off of a manual item.
    signoff: Option<SignoffTable>,
}

/// Who signed a manual item off, when, on what evidence, until when.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct SignoffTable {
    by: String,
    on: TomlDate,
    evidence: String,
    expires: Option<TomlDate>,
}

/// An accepted risk: the item (or, with `match`, the findings it names) does not block until `expires`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct WaiverTable {
    /// An item id.
    item: String,
    reason: String,
    owner: String,
    expires: TomlDate,
    ticket: Option<String>,
    /// Waive only the findings this names; without it the waiver covers the whole item.
    #[serde(rename = "match")]
    matches: Option<MatchTable>,
}

/// The findings a waiver covers: every key given must hold (at least one key).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1))]
struct MatchTable {
    /// A finding code of the item's probe, e.g. `scan-vulnerability` (never a gap's code).
    code: Option<String>,
    /// The finding's target, as the report shows it; `*` matches any run of characters.
    object: Option<String>,
    /// The finding's id, e.g. a CVE id (scan-report: the vulnerability id or an alias).
    id: Option<String>,
}

/// A label map such as `{ "app.kubernetes.io/name" = "nats" }`.
type Labels = std::collections::BTreeMap<String, String>;

/// Parameters of `workloads.readiness` (probe `workload`).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct WorkloadReadinessWith {
    /// Namespaces to judge (default: all but kube-system, kube-public, kube-node-lease).
    namespaces: Option<Vec<String>>,
    /// Only workloads whose labels or pod-template labels match.
    selector: Option<Labels>,
    /// Workloads left out: `name` or `namespace/name`.
    exclude: Option<Vec<String>>,
    /// Deployments and StatefulSets need at least this many replicas (an HPA's minReplicas counts).
    #[schemars(range(min = 1))]
    min_replicas: Option<u32>,
    /// Images must be pinned by digest.
    require_digest: Option<bool>,
    /// Resources every container must request (default cpu, memory).
    requests: Option<Vec<String>>,
    /// Resources every container must limit (default cpu, memory).
    limits: Option<Vec<String>>,
}

/// Parameters of `hpa.capacity` (probe `hpa`). The capacity part takes `load_summary`,
/// `baseline_replicas` and `target_rps` together.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct HpaCapacityWith {
    /// Namespaces to judge (default: all but kube-system, kube-public, kube-node-lease).
    namespaces: Option<Vec<String>>,
    /// Only HPAs whose labels, or whose target's labels, match.
    selector: Option<Labels>,
    /// HPAs left out: `name` or `namespace/name`.
    exclude: Option<Vec<String>>,
    /// `hpa-min-replicas-low` below this.
    #[schemars(range(min = 1))]
    min_replicas: Option<u32>,
    /// A k6 `--summary-export` JSON (relative to the checklist).
    load_summary: Option<String>,
    /// Replicas that served the load test.
    #[schemars(range(min = 1))]
    baseline_replicas: Option<u32>,
    /// Expected production peak, requests per second.
    #[schemars(range(min = 0))]
    target_rps: Option<f64>,
    /// Multiplier on the peak (default 1.5).
    #[schemars(range(min = 1))]
    headroom: Option<f64>,
}

/// A level of the Pod Security Standards that imposes checks.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // only its schema is used
enum PodSecurityLevel {
    Baseline,
    Restricted,
}

/// Parameters of `security.pod-security` (probe `pod-security`).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
struct PodSecurityWith {
    /// The level every pod spec must meet (default restricted).
    level: Option<PodSecurityLevel>,
    /// The policy version: `latest` (default), `v1.N`, or `namespace` for each namespace's
    /// `pod-security.kubernetes.io/enforce-version` label.
    #[schemars(pattern(r"^(latest|namespace|v1\.(0|[1-9][0-9]*))$"))]
    version: Option<String>,
    /// Namespaces to judge (default: all but kube-system, kube-public, kube-node-lease).
    namespaces: Option<Vec<String>>,
    /// Only objects whose labels or pod-template labels match.
    selector: Option<Labels>,
    /// Objects left out, with what they own: `name` or `namespace/name` (named in the evidence).
    exclude: Option<Vec<String>>,
    /// The namespaces in scope must enforce the level with their pod-security labels (default true).
    require_namespace_enforcement: Option<bool>,
}

/// Built-in checks whose `with` parameters the schema describes, with their parameter types.
fn parameter_schemas(generator: &mut SchemaGenerator) -> Vec<(&'static str, Schema)> {
    vec![
        ("workloads.readiness", generator.subschema_for::<WorkloadReadinessWith>()),
        ("hpa.capacity", generator.subschema_for::<HpaCapacityWith>()),
        ("security.pod-security", generator.subschema_for::<PodSecurityWith>()),
    ]
}

/// The JSON Schema (draft 2020-12) of `checklist.toml`.
pub fn checklist_json_schema() -> serde_json::Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let checks = parameter_schemas(&mut generator);
    let mut schema = generator.into_root_schema_for::<ChecklistFile>().to_value();
    // An item naming one of these checks gets its parameters checked (and completed by editors).
    let rules: Vec<serde_json::Value> = checks
        .into_iter()
        .map(|(id, with)| {
            serde_json::json!({
                "if": {"properties": {"check": {"const": id}}, "required": ["check"]},
                "then": {"properties": {"with": with.to_value()}}
            })
        })
        .collect();
    if let Some(item) = schema.pointer_mut("/$defs/ItemTable").and_then(serde_json::Value::as_object_mut) {
        item.insert("allOf".into(), serde_json::Value::Array(rules));
    }
    drop_null(&mut schema);
    schema
}

/// TOML has no null: an optional key is simply absent. schemars describes `Option<T>` as
/// "T or null", so the null alternatives are removed.
fn drop_null(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(any)) = map.get_mut("anyOf") {
                any.retain(|s| s.get("type").is_none_or(|t| t != "null"));
                if any.len() == 1
                    && let Value::Object(only) = any.remove(0)
                {
                    map.remove("anyOf");
                    for (k, x) in only {
                        map.entry(k).or_insert(x);
                    }
                }
            }
            map.values_mut().for_each(drop_null);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checklist::raw;

    fn keys(schema: &serde_json::Value) -> Vec<String> {
        let mut k: Vec<String> = schema["properties"].as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    fn sorted(list: &[&str]) -> Vec<String> {
        let mut k: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        k.sort();
        k
    }

    #[test]
    fn optional_keys_are_not_nullable() {
        let mut v = serde_json::json!({
            "a": {"type": ["string", "null"]},
            "b": {"anyOf": [{"$ref": "#/$defs/X"}, {"type": "null"}], "description": "d"},
            "c": {"anyOf": [{"type": "string"}, {"type": "integer"}]}
        });
        drop_null(&mut v);
        assert_eq!(
            v,
            serde_json::json!({
                "a": {"type": "string"},
                "b": {"$ref": "#/$defs/X", "description": "d"},
                "c": {"anyOf": [{"type": "string"}, {"type": "integer"}]}
            })
        );
        assert!(!checklist_json_schema().to_string().contains("null"));
    }

    #[test]
    fn schema_keys_match_the_loader() {
        let s = checklist_json_schema();
        let defs = &s["$defs"];
        assert_eq!(keys(&s), sorted(raw::TOP_KEYS));
        assert_eq!(keys(&defs["LaunchTable"]), sorted(raw::LAUNCH_KEYS));
        assert_eq!(keys(&defs["CategoryTable"]), sorted(raw::CATEGORY_KEYS));
        assert_eq!(keys(&defs["ItemTable"]), sorted(raw::ITEM_KEYS));
        assert_eq!(keys(&defs["SignoffTable"]), sorted(raw::SIGNOFF_KEYS));
        assert_eq!(keys(&defs["WaiverTable"]), sorted(raw::WAIVER_KEYS));
        assert_eq!(keys(&defs["MatchTable"]), sorted(raw::MATCH_KEYS));
        for t in ["LaunchTable", "CategoryTable", "ItemTable", "SignoffTable", "WaiverTable", "MatchTable"] {
            assert_eq!(defs[t]["additionalProperties"], false, "{t} must reject unknown keys");
        }
    }

    /// The parameters the probe's reader takes, from its unknown-parameter message.
    fn reader_keys(kind: crate::probe::ProbeKind) -> Vec<String> {
        let mut t = toml::Table::new();
        t.insert("zz_unknown".into(), toml::Value::Boolean(true));
        let errs = crate::probe::ProbeSpec::parse(kind, &t).unwrap_err();
        let msg = &errs.iter().find(|e| e.key.as_deref() == Some("zz_unknown")).unwrap().message;
        let list = msg.split("this check takes: ").nth(1).unwrap().trim_end_matches(')');
        let mut k: Vec<String> = list.split(", ").map(str::to_string).collect();
        k.sort();
        k
    }

    #[test]
    fn parameter_schemas_match_the_probes() {
        use crate::probe::ProbeKind;
        let s = checklist_json_schema();
        let rules = s["$defs"]["ItemTable"]["allOf"].as_array().unwrap();
        for (check, kind) in [
            ("workloads.readiness", ProbeKind::Workload),
            ("hpa.capacity", ProbeKind::Hpa),
            ("security.pod-security", ProbeKind::PodSecurity),
        ] {
            let rule = rules.iter().find(|r| r["if"]["properties"]["check"]["const"] == check).unwrap();
            let with = &rule["then"]["properties"]["with"];
            let with = match with.get("$ref").and_then(|r| r.as_str()) {
                Some(r) => &s["$defs"][r.trim_start_matches("#/$defs/")],
                None => with,
            };
            assert_eq!(with["additionalProperties"], false, "{check}");
            assert_eq!(keys(with), reader_keys(kind), "{check}: the schema and the probe's parameters differ");
        }
    }
}
