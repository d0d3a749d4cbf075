//! Prometheus alerting and recording rules: reading rule sources (rule files, ConfigMaps,
//! PrometheusRule objects), validating them as `promtool check rules` does plus kgents' own
//! findings, and judging what a running Prometheus has loaded and what is firing.

pub mod codes;
pub mod evaluate;
pub mod fire;
pub mod fire_fetch;
pub mod fire_params;
#[cfg(test)]
mod fire_tests;
pub mod judge;
pub mod lint;
pub mod names;
pub mod params;
pub mod rulefmt;
pub mod sources;
pub mod template;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::outcome::{Finding, Level};
pub use names::NameValidation;

/// Where a rule was read from: a file, and the manifest object and data key when it sits in one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleSource {
    /// The file read; absent for objects fetched from a live cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `ConfigMap` or `PrometheusRule` when the rules sit in a manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The ConfigMap data key holding the rule file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl std::fmt::Display for RuleSource {
    /// e.g. `rules.yaml: ConfigMap kgents-observability/prometheus-alerting-rules key alerts.yml`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(file) = &self.file {
            parts.push(file.clone());
        }
        if let Some(kind) = &self.kind {
            let mut obj = kind.clone();
            match (&self.namespace, &self.name) {
                (Some(ns), Some(n)) => obj.push_str(&format!(" {ns}/{n}")),
                (None, Some(n)) => obj.push_str(&format!(" {n}")),
                _ => {}
            }
            if let Some(k) = &self.key {
                obj.push_str(&format!(" key {k}"));
            }
            parts.push(obj);
        }
        if parts.is_empty() {
            parts.push("<input>".into());
        }
        f.write_str(&parts.join(": "))
    }
}

/// One finding on a rule, a group or a whole source. `line` is 1-based when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleFinding {
    /// Stable kebab-case code (see [`codes`]).
    pub code: String,
    pub severity: Level,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

impl RuleFinding {
    pub fn new(code: &str, severity: Level, message: impl Into<String>, line: Option<u64>) -> Self {
        RuleFinding { code: code.to_string(), severity, message: message.into(), line }
    }
}

/// What a rule says, once its fields have been read (whatever their problems).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleDef {
    pub expr: String,
    /// `for`, None when absent.
    pub for_duration: Option<Duration>,
    pub keep_firing_for: Option<Duration>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// 1-based position of the rule in its group.
    pub index: usize,
}

/// One entry of `rules check`: a rule (alert or record) with its findings, or a group or
/// source that could not be read, with the parser's message in its findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleEntry {
    pub source: RuleSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    pub findings: Vec<RuleFinding>,
    /// The rule's content, for the checks that compare rules; not part of the JSON contract.
    #[serde(skip)]
    pub rule: Option<RuleDef>,
}

impl RuleEntry {
    /// The alert's `severity` label, if it is an alerting rule that has one.
    pub fn severity(&self) -> Option<&str> {
        self.alert.as_ref()?;
        self.rule.as_ref()?.labels.get("severity").map(String::as_str)
    }

    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Level::Error)
    }

    /// `source, group G, alert A` for finding targets.
    pub fn describe(&self) -> String {
        let mut s = self.source.to_string();
        if let Some(g) = &self.group {
            s.push_str(&format!(", group {g}"));
        }
        if let Some(a) = &self.alert {
            s.push_str(&format!(", alert {a}"));
        } else if let Some(r) = &self.record {
            s.push_str(&format!(", record {r}"));
        }
        s
    }

    /// The entry's findings as probe findings, targeted at the rule.
    pub fn to_findings(&self) -> Vec<Finding> {
        self.findings
            .iter()
            .map(|f| {
                let mut out = Finding::new(f.code.clone(), f.severity, f.message.clone()).target(self.describe());
                if let Some(l) = f.line {
                    out = out.fact("line", l);
                }
                out
            })
            .collect()
    }
}

/// Which Prometheus the rules are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PromVersion {
    /// As `promtool check rules` 2.42: legacy names; groups without `labels` and `query_offset`.
    #[default]
    V2,
    /// Prometheus 3: UTF-8 names; groups may carry `labels` and `query_offset`.
    V3,
}

impl PromVersion {
    pub fn names(self) -> NameValidation {
        match self {
            PromVersion::V2 => NameValidation::Legacy,
            PromVersion::V3 => NameValidation::Utf8,
        }
    }
}

/// How strictly rules are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    pub prometheus: PromVersion,
    /// Severities an alert may carry without an `alert-severity-unknown` finding.
    pub known_severities: Vec<String>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            prometheus: PromVersion::V2,
            known_severities: ["critical", "warning", "info"].iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Why paths could not be checked at all (as opposed to files with findings).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
}

/// Reads every rule source under `paths` (files, or folders searched for `.yaml`, `.yml`, `.json`
/// and `.rules` files) and returns one entry per rule with its findings, as
/// `kgents-gate rules check PATH... --format json` prints them.
pub fn check_paths<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<RuleEntry>, CheckError> {
    check_paths_with(paths, &CheckOptions::default())
}

pub fn check_paths_with<P: AsRef<Path>>(paths: &[P], opts: &CheckOptions) -> Result<Vec<RuleEntry>, CheckError> {
    let mut entries = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let explicit_file = !path.is_dir();
        for file in sources::rule_files_under(path)? {
            let text = std::fs::read(&file).map_err(|source| CheckError::Read { path: file.clone(), source })?;
            let text = String::from_utf8_lossy(&text);
            let found = sources::entries_from_text(&text, &file.display().to_string(), opts, explicit_file);
            entries.extend(found);
        }
    }
    lint::lint_entries(&mut entries, opts);
    Ok(entries)
}

/// Whether Prometheus itself would accept these rules (`promtool check rules` succeeds): no
/// finding among [`codes::PROMTOOL_ERRORS`]. kgents' own findings do not count here.
pub fn prometheus_accepts(entries: &[RuleEntry]) -> bool {
    !entries.iter().flat_map(|e| &e.findings).any(|f| codes::PROMTOOL_ERRORS.contains(&f.code.as_str()))
}

/// The exit status of `rules check`: `BLOCKED` (1) when any finding is an error, else 0.
pub fn exit_status(entries: &[RuleEntry]) -> i32 {
    if entries.iter().any(RuleEntry::has_errors) { crate::exit::BLOCKED } else { crate::exit::APPROVED }
}
