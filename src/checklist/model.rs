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

/// An accepted risk: a failing item that does not block until `expires`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiver {
    pub item: String,
    pub reason: String,
    pub owner: String,
    pub expires: Date,
    pub ticket: Option<String>,
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
