//! A Namespace's `pod-security.kubernetes.io/*` labels, read as the PodSecurity admission
//! controller reads them, and whether they enforce a required level.

use serde::Serialize;
use serde_json::{Map, Value};

use super::policy::{Level, Version};

pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";
pub const ENFORCE_VERSION_LABEL: &str = "pod-security.kubernetes.io/enforce-version";
pub const WARN_LABEL: &str = "pod-security.kubernetes.io/warn";
pub const WARN_VERSION_LABEL: &str = "pod-security.kubernetes.io/warn-version";
pub const AUDIT_LABEL: &str = "pod-security.kubernetes.io/audit";
pub const AUDIT_VERSION_LABEL: &str = "pod-security.kubernetes.io/audit-version";

/// A level as a namespace label may name it, including `privileged` (no checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyLevel {
    Privileged,
    Baseline,
    Restricted,
}

impl PolicyLevel {
    fn parse(s: &str) -> Option<PolicyLevel> {
        match s {
            "privileged" => Some(PolicyLevel::Privileged),
            "baseline" => Some(PolicyLevel::Baseline),
            "restricted" => Some(PolicyLevel::Restricted),
            _ => None,
        }
    }

    /// The checking level, if this one checks anything.
    pub fn level(self) -> Option<Level> {
        match self {
            PolicyLevel::Privileged => None,
            PolicyLevel::Baseline => Some(Level::Baseline),
            PolicyLevel::Restricted => Some(Level::Restricted),
        }
    }

    /// Whether this level includes every check of `required`.
    pub fn covers(self, required: Level) -> bool {
        self.level().is_some_and(|l| l >= required)
    }
}

/// One mode's (enforce, warn or audit) level and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ModePolicy {
    pub level: PolicyLevel,
    pub version: Version,
}

/// A pod-security label whose value the controller does not accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidLabel {
    pub label: String,
    /// The value as written (compact JSON when it is not a string).
    pub value: String,
    pub reason: String,
}

/// What a Namespace's labels do for a required level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum NamespaceEnforcement {
    /// `enforce` is the required level or stricter; Pods breaking it are rejected. `version` is
    /// the pinned `enforce-version` (`latest` when not pinned).
    Enforced { level: Level, version: Version },
    /// `enforce` does not reach the required level, but `warn` or `audit` do (each listed only
    /// when it does): violations are reported, not rejected.
    WarnOrAuditOnly { enforce: ModePolicy, warn: Option<ModePolicy>, audit: Option<ModePolicy> },
    /// Nothing reaches the required level: `enforce` is absent or `privileged` (both mean no
    /// checks, unless the cluster's admission configuration sets other defaults), or weaker.
    NotEnforced { enforce: ModePolicy },
    /// A pod-security label has an invalid value. The controller then enforces `restricted` for an
    /// invalid `enforce`, `latest` for an invalid version, and drops an invalid `warn`/`audit`.
    Invalid { labels: Vec<InvalidLabel> },
}

/// Reads a Namespace's `metadata.labels` (pass `&Value::Null` when it has none) for `required`.
/// Labels absent from the Namespace mean the controller's defaults: `privileged` at `latest`.
pub fn namespace_enforcement(labels: &Value, required: Level) -> NamespaceEnforcement {
    let mut invalid = Vec::new();
    let map = match labels {
        Value::Null => None,
        Value::Object(m) => Some(m),
        other => {
            invalid.push(InvalidLabel {
                label: "metadata.labels".to_string(),
                value: other.to_string(),
                reason: "labels must be a map of strings".to_string(),
            });
            None
        }
    };
    let enforce = mode(map, ENFORCE_LABEL, ENFORCE_VERSION_LABEL, &mut invalid);
    let warn = mode(map, WARN_LABEL, WARN_VERSION_LABEL, &mut invalid);
    let audit = mode(map, AUDIT_LABEL, AUDIT_VERSION_LABEL, &mut invalid);
    if !invalid.is_empty() {
        return NamespaceEnforcement::Invalid { labels: invalid };
    }
    if let Some(level) = enforce.level.level().filter(|l| *l >= required) {
        return NamespaceEnforcement::Enforced { level, version: enforce.version };
    }
    let warn = Some(warn).filter(|m| m.level.covers(required));
    let audit = Some(audit).filter(|m| m.level.covers(required));
    if warn.is_some() || audit.is_some() {
        return NamespaceEnforcement::WarnOrAuditOnly { enforce, warn, audit };
    }
    NamespaceEnforcement::NotEnforced { enforce }
}

/// One mode's level and version labels; an absent level is `privileged`, an absent version `latest`.
fn mode(
    map: Option<&Map<String, Value>>,
    level_label: &str,
    version_label: &str,
    invalid: &mut Vec<InvalidLabel>,
) -> ModePolicy {
    let mut bad = |label: &str, value: String, reason: &str| {
        invalid.push(InvalidLabel { label: label.to_string(), value, reason: reason.to_string() });
    };
    let mut string = |label: &str| match map.and_then(|m| m.get(label)) {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(other) => {
            bad(label, other.to_string(), "a label value must be a string");
            None
        }
    };
    let level_value = string(level_label);
    let version_value = string(version_label);
    let level = match level_value {
        None => PolicyLevel::Privileged,
        Some(s) => PolicyLevel::parse(s).unwrap_or_else(|| {
            bad(level_label, s.to_string(), "must be one of privileged, baseline, restricted");
            PolicyLevel::Privileged
        }),
    };
    let version = match version_value {
        None => Version::Latest,
        Some(s) => s.parse::<Version>().unwrap_or_else(|_| {
            bad(version_label, s.to_string(), "must be \"latest\" or \"v1.<minor>\"");
            Version::Latest
        }),
    };
    ModePolicy { level, version }
}
