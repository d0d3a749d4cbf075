//! The validated checklist: types that cannot be wrong. Built only by `validate`, read by the
//! engine, the decision and the `list`/`explain`/`rbac` commands.

use std::sync::Arc;

use jiff::civil::Date;
use serde::Serialize;

use crate::probe::{ProbeKind, ProbeSpec};

/// How much an item matters for the launch decision.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A failure blocks the launch.
    Blocking,
    /// A failure is a warning (blocking only with `--strict`).
    Warning,
    /// Informational; never blocks.
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Blocking => "blocking",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Launch {
    pub name: String,
    pub approvers: Vec<String>,
    /// Optional free text shown at the top of reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Category {
    pub id: String,
    pub title: String,
}

/// A check definition from the catalog (`checks/*.toml`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckDef {
    /// e.g. `netpol.isolation`.
    pub id: String,
    pub probe: ProbeKind,
    pub title: String,
    pub description: String,
    pub remediation: String,
    /// Default parameters, overridden per item by `[item.with]`.
    #[serde(skip)]
    pub defaults: toml::Table,
    /// The catalog file it came from (display name).
    pub source: String,
}

/// A manual sign-off: who, when, with what evidence, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signoff {
    pub by: String,
    pub on: Date,
    pub evidence: String,
    pub expires: Option<Date>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ItemKind {
    /// Verified by a probe, with validated, typed parameters.
    Check { def: Arc<CheckDef>, spec: Box<ProbeSpec> },
    /// Verified by a person: pending until signed off.
    Manual { signoff: Option<Signoff> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub category: String,
    pub title: String,
    pub severity: Severity,
    pub owner: Option<String>,
    /// Per-item timeout override.
    pub timeout: Option<std::time::Duration>,
    pub kind: ItemKind,
}

impl Item {
    pub fn check(&self) -> Option<&CheckDef> {
        match &self.kind {
            ItemKind::Check { def, .. } => Some(def),
            ItemKind::Manual { .. } => None,
        }
    }
}

/// An accepted risk: a failing item (or, with `matches`, only the findings it names) that does
/// not block until `expires`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiver {
    pub item: String,
    pub reason: String,
    pub owner: String,
    pub expires: Date,
    pub ticket: Option<String>,
    /// `match = { ... }`: the waiver covers only the findings this names (docs/decision.md).
    pub matches: Option<FindingMatch>,
}

/// Which findings of an item a waiver covers: every key given must hold. `code` is the finding
/// code, `object` the finding's target (`*` matches any run of characters), `id` the finding's
/// id fact (which fact carries it depends on the probe kind: `ProbeKind::finding_id_facts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct FindingMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl FindingMatch {
    /// Whether `finding` (reported by a probe whose id facts are `id_facts`) is one this names.
    pub fn matches(&self, finding: &crate::outcome::Finding, id_facts: &[&str]) -> bool {
        let code_ok = self.code.as_deref().is_none_or(|c| c == finding.code);
        let object_ok =
            self.object.as_deref().is_none_or(|o| finding.target.as_deref().is_some_and(|t| wildcard_match(o, t)));
        let id_ok = self.id.as_deref().is_none_or(|want| {
            finding
                .evidence
                .iter()
                .filter(|f| id_facts.contains(&f.name.as_str()))
                .flat_map(|f| f.value.split(',').map(str::trim))
                .any(|have| have == want)
        });
        code_ok && object_ok && id_ok
    }
}

impl std::fmt::Display for FindingMatch {
    /// `code = "scan-vulnerability", id = "CVE-2024-1234"`, as written in the checklist.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [("code", &self.code), ("object", &self.object), ("id", &self.id)]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} = {v:?}")))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// `pattern` against `text`, where `*` matches any run of characters (also none) and every other
/// character only itself.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// The whole validated checklist plus where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Checklist {
    pub launch: Launch,
    pub categories: Vec<Category>,
    pub items: Vec<Item>,
    pub waivers: Vec<Waiver>,
    /// Every check of the catalog, whether used or not (for `list` and `explain`).
    pub catalog: Vec<Arc<CheckDef>>,
    /// Display name of the checklist (a path, or `<built-in>`).
    pub origin: String,
    /// sha256 of the checklist file followed by every catalog file, hex.
    pub sha256: String,
}

impl Checklist {
    /// What the `selected` items read from Kubernetes, merged to one entry per kind: exactly what
    /// the audit lists (one LIST per kind and namespace in scope) and what `rbac` grants.
    pub fn needs(&self, selected: &[String]) -> Vec<crate::cluster::Need> {
        crate::cluster::kinds::merge_needs(self.items.iter().filter(|i| selected.contains(&i.id)).flat_map(|i| {
            match &i.kind {
                ItemKind::Check { spec, .. } => spec.needs(),
                ItemKind::Manual { .. } => Vec::new(),
            }
        }))
    }

    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }
    pub fn category(&self, id: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Finding;

    #[test]
    fn wildcards_match_runs_of_characters() {
        assert!(wildcard_match("a", "a") && !wildcard_match("a", "ab"));
        assert!(wildcard_match("*", "") && wildcard_match("*", "anything"));
        assert!(wildcard_match("Deployment kgents-triad/*", "Deployment kgents-triad/billing"));
        assert!(wildcard_match("*billing*", "ghcr.io/kgents/billing:2.0.1 (debian 12.5)"));
        assert!(wildcard_match("a*b*c", "a-x-b-y-c") && !wildcard_match("a*b*c", "a-c-b"));
        assert!(!wildcard_match("ab*ba", "aba"), "the two ends must not overlap");
    }

    #[test]
    fn every_key_given_must_hold() {
        let f = Finding::error("scan-vulnerability", "x")
            .target("redis:7.0.15 (debian 12.5)")
            .fact("id", "GHSA-xxxx")
            .fact("aliases", "CVE-2024-1, CVE-2024-2");
        let ids = ["id", "aliases"];
        let m = |code: Option<&str>, object: Option<&str>, id: Option<&str>| FindingMatch {
            code: code.map(str::to_string),
            object: object.map(str::to_string),
            id: id.map(str::to_string),
        };
        assert!(m(Some("scan-vulnerability"), None, None).matches(&f, &ids));
        assert!(m(None, None, Some("CVE-2024-2")).matches(&f, &ids), "an alias is an id");
        assert!(!m(None, None, Some("CVE-2024-2")).matches(&f, &["id"]), "only the probe's id facts count");
        assert!(m(None, Some("redis:*"), Some("GHSA-xxxx")).matches(&f, &ids));
        assert!(!m(Some("scan-vulnerability"), Some("nats:*"), None).matches(&f, &ids));
        assert!(!m(None, Some("*"), None).matches(&Finding::error("file-missing", "x"), &ids), "no target");
        assert_eq!(
            m(Some("scan-vulnerability"), None, Some("CVE-1")).to_string(),
            "code = \"scan-vulnerability\", id = \"CVE-1\""
        );
    }
}
