//! Validation of rule groups as Prometheus' `rulefmt` (and so `promtool check rules`) does it:
//! unknown fields rejected, group names required and unique, exactly one of `record`/`alert`,
//! PromQL parsed, names, durations and templates checked. One entry per rule, plus one entry
//! for a source or group that cannot be read.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::outcome::Level;
use crate::rules::codes;
use crate::rules::names::parse_prometheus_duration;
use crate::rules::template::check_template;
use crate::rules::yaml::{Node, Value};
use crate::rules::{CheckOptions, PromVersion, RuleDef, RuleEntry, RuleFinding, RuleSource};

/// Where the groups sit: a plain rule file, or the `spec` of a PrometheusRule (whose CRD also
/// allows `partial_response_strategy` on a group, for Thanos).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    RuleFile,
    PrometheusRule,
}

const FILE_FIELDS: &[&str] = &["groups"];
const GROUP_FIELDS: &[&str] = &["name", "interval", "limit", "rules"];
const GROUP_FIELDS_V3: &[&str] = &["query_offset", "labels"];
const RULE_FIELDS: &[&str] = &["record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"];

fn error(code: &str, message: impl Into<String>, node: &Node) -> RuleFinding {
    RuleFinding::new(code, Level::Error, message, node.line())
}

/// The fields of a mapping, reporting unknown ones; None (with a finding) when it is no mapping.
fn fields<'a>(
    node: &'a Node,
    known: &[&str],
    what: &str,
    out: &mut Vec<RuleFinding>,
) -> Option<BTreeMap<String, &'a Node>> {
    let Some(map) = node.as_map() else {
        out.push(error(codes::FILE_UNPARSABLE, format!("{what} must be a mapping, found {}", node.kind_name()), node));
        return None;
    };
    let mut fields = BTreeMap::new();
    for (k, v) in map {
        let key = k.scalar_text().unwrap_or_default();
        if known.contains(&key.as_str()) {
            fields.insert(key, v);
        } else {
            out.push(error(
                codes::UNKNOWN_FIELD,
                format!("field {key} not found in {what} (known fields: {})", known.join(", ")),
                k,
            ));
        }
    }
    Some(fields)
}

/// A scalar field as text; null is empty, as for Prometheus.
fn text(node: Option<&&Node>, field: &str, out: &mut Vec<RuleFinding>) -> String {
    match node {
        None => String::new(),
        Some(n) if n.is_null() => String::new(),
        Some(n) => n.scalar_text().unwrap_or_else(|| {
            out.push(error(codes::FILE_UNPARSABLE, format!("`{field}` must be a string, found {}", n.kind_name()), n));
            String::new()
        }),
    }
}

fn duration(node: Option<&&Node>, field: &str, code: &str, out: &mut Vec<RuleFinding>) -> Option<Duration> {
    let n = node.filter(|n| !n.is_null())?;
    let t = text(node, field, out);
    match parse_prometheus_duration(&t) {
        Ok(d) => Some(d),
        Err(e) => {
            out.push(error(code, format!("`{field}`: {e}"), n));
            None
        }
    }
}

/// A map of strings (labels, annotations); null is empty.
fn string_map(node: Option<&&Node>, field: &str, out: &mut Vec<RuleFinding>) -> Vec<(String, String, Node)> {
    let Some(n) = node.filter(|n| !n.is_null()) else {
        return Vec::new();
    };
    let Some(map) = n.as_map() else {
        out.push(error(codes::FILE_UNPARSABLE, format!("`{field}` must be a mapping, found {}", n.kind_name()), n));
        return Vec::new();
    };
    let mut items = Vec::new();
    for (k, v) in map {
        let key = k.scalar_text().unwrap_or_default();
        let value = if v.is_null() {
            String::new()
        } else if let Some(t) = v.scalar_text() {
            t
        } else {
            out.push(error(
                codes::FILE_UNPARSABLE,
                format!("`{field}.{key}` must be a string, found {}", v.kind_name()),
                v,
            ));
            continue;
        };
        items.push((key, value, k.clone()));
    }
    items
}

/// Checks the rule groups of one source (`root` holds `groups:`) and returns its entries.
pub fn check_groups(root: &Node, source: &RuleSource, opts: &CheckOptions, flavour: Flavour) -> Vec<RuleEntry> {
    let mut file_findings = Vec::new();
    let mut entries = Vec::new();
    let what = if flavour == Flavour::PrometheusRule { "PrometheusRule spec" } else { "rule file" };
    if !root.is_null()
        && let Some(f) = fields(root, FILE_FIELDS, what, &mut file_findings)
        && let Some(groups) = f.get("groups").filter(|g| !g.is_null())
    {
        match groups.as_seq() {
            Some(groups) => {
                let mut seen = BTreeSet::new();
                for g in groups {
                    check_group(g, source, opts, flavour, &mut seen, &mut entries);
                }
            }
            None => file_findings.push(error(
                codes::FILE_UNPARSABLE,
                format!("`groups` must be a list, found {}", groups.kind_name()),
                groups,
            )),
        }
    }
    if !file_findings.is_empty() {
        entries.insert(0, RuleEntry { source: source.clone(), findings: file_findings, ..Default::default() });
    }
    entries
}

fn check_group(
    node: &Node,
    source: &RuleSource,
    opts: &CheckOptions,
    flavour: Flavour,
    seen: &mut BTreeSet<String>,
    entries: &mut Vec<RuleEntry>,
) {
    let mut findings = Vec::new();
    let mut known = GROUP_FIELDS.to_vec();
    if opts.prometheus == PromVersion::V3 {
        known.extend(GROUP_FIELDS_V3);
    }
    if flavour == Flavour::PrometheusRule {
        known.push("partial_response_strategy");
    }
    let f = fields(node, &known, "rule group", &mut findings).unwrap_or_default();
    let name = text(f.get("name"), "name", &mut findings);
    if name.is_empty() {
        findings.push(error(codes::GROUP_NAME_MISSING, "Groupname must not be empty", node));
    } else if !seen.insert(name.clone()) {
        findings.push(error(codes::GROUP_DUPLICATE, format!("groupname: {name:?} is repeated in the same file"), node));
    }
    duration(f.get("interval"), "interval", codes::GROUP_FIELD_INVALID, &mut findings);
    duration(f.get("query_offset"), "query_offset", codes::GROUP_FIELD_INVALID, &mut findings);
    if let Some(limit) = f.get("limit").filter(|n| !n.is_null())
        && !matches!(limit.value, Value::Int(_))
    {
        findings.push(error(
            codes::GROUP_FIELD_INVALID,
            format!("`limit` must be a whole number, found {}", limit.kind_name()),
            limit,
        ));
    }
    for (k, _, key_node) in string_map(f.get("labels"), "labels", &mut findings) {
        if !opts.prometheus.names().is_valid_label_name(&k) || k == "__name__" {
            findings.push(error(codes::LABEL_NAME_INVALID, format!("invalid label name: {k}"), &key_node));
        }
    }
    let group = (!name.is_empty()).then_some(name);
    let rules = f.get("rules").filter(|n| !n.is_null());
    let rule_nodes = match rules.map(|r| (r, r.as_seq())) {
        None => &[][..],
        Some((_, Some(seq))) => seq,
        Some((r, None)) => {
            findings.push(error(codes::FILE_UNPARSABLE, format!("`rules` must be a list, found {}", r.kind_name()), r));
            &[][..]
        }
    };
    if !findings.is_empty() {
        entries.push(RuleEntry { source: source.clone(), group: group.clone(), findings, ..Default::default() });
    }
    for (i, r) in rule_nodes.iter().enumerate() {
        entries.push(check_rule(r, i + 1, source, group.clone(), opts));
    }
}

fn check_rule(node: &Node, index: usize, source: &RuleSource, group: Option<String>, opts: &CheckOptions) -> RuleEntry {
    let mut out = Vec::new();
    let f = fields(node, RULE_FIELDS, "rule", &mut out).unwrap_or_default();
    let record = text(f.get("record"), "record", &mut out);
    let alert = text(f.get("alert"), "alert", &mut out);
    let expr = text(f.get("expr"), "expr", &mut out);
    let at = |key: &str| f.get(key).copied().unwrap_or(node);
    if !record.is_empty() && !alert.is_empty() {
        out.push(error(codes::KIND_CONFLICT, "only one of 'record' and 'alert' must be set", at("record")));
    }
    if record.is_empty() && alert.is_empty() {
        out.push(error(codes::KIND_MISSING, "one of 'record' or 'alert' must be set", node));
    }
    if expr.is_empty() {
        out.push(error(codes::EXPR_MISSING, "field 'expr' must be set in rule", node));
    } else if let Err(e) = promql_parser::parser::parse(&expr) {
        out.push(error(codes::EXPR_INVALID, format!("could not parse expression: parse error: {e}"), at("expr")));
    }
    let for_duration = duration(f.get("for"), "for", codes::DURATION_INVALID, &mut out);
    let keep_firing_for = duration(f.get("keep_firing_for"), "keep_firing_for", codes::DURATION_INVALID, &mut out);
    let labels = string_map(f.get("labels"), "labels", &mut out);
    let annotations = string_map(f.get("annotations"), "annotations", &mut out);
    if !record.is_empty() {
        if !annotations.is_empty() {
            out.push(error(codes::RECORDING_FIELD, "invalid field 'annotations' in recording rule", at("record")));
        }
        if for_duration.is_some_and(|d| !d.is_zero()) {
            out.push(error(codes::RECORDING_FIELD, "invalid field 'for' in recording rule", at("record")));
        }
        if keep_firing_for.is_some_and(|d| !d.is_zero()) {
            out.push(error(codes::RECORDING_FIELD, "invalid field 'keep_firing_for' in recording rule", at("record")));
        }
        if !opts.prometheus.names().is_valid_metric_name(&record) {
            out.push(error(codes::RECORD_NAME_INVALID, format!("invalid recording rule name: {record}"), at("record")));
        }
        // A common mistake: the selector written into the record name.
        if record.contains('{') || record.contains('}') {
            out.push(error(
                codes::RECORD_NAME_INVALID,
                format!("braces present in the recording rule name; should it be in expr?: {record}"),
                at("record"),
            ));
        }
    }
    for (k, _, key_node) in &labels {
        if !opts.prometheus.names().is_valid_label_name(k) || k == "__name__" {
            out.push(error(codes::LABEL_NAME_INVALID, format!("invalid label name: {k}"), key_node));
        }
    }
    for (k, _, key_node) in &annotations {
        if !opts.prometheus.names().is_valid_label_name(k) {
            out.push(error(codes::ANNOTATION_NAME_INVALID, format!("invalid annotation name: {k}"), key_node));
        }
    }
    if !alert.is_empty() {
        for (kind, items) in [("label", &labels), ("annotation", &annotations)] {
            for (k, v, key_node) in items {
                if let Err(e) = check_template(&alert, v) {
                    out.push(error(codes::TEMPLATE_INVALID, format!("{kind} {k:?}: {e}"), key_node));
                }
            }
        }
    }
    let rule = RuleDef {
        expr,
        for_duration,
        keep_firing_for,
        labels: labels.into_iter().map(|(k, v, _)| (k, v)).collect(),
        annotations: annotations.into_iter().map(|(k, v, _)| (k, v)).collect(),
        index,
    };
    RuleEntry {
        source: source.clone(),
        group,
        alert: (!alert.is_empty()).then_some(alert),
        record: (!record.is_empty()).then_some(record),
        findings: out,
        rule: Some(rule),
    }
}
