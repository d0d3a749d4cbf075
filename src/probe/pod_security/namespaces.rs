//! The namespaces in scope: whether their `pod-security.kubernetes.io/*` labels enforce the
//! required level (read by `crate::podsec::namespace_enforcement`, as the admission controller
//! reads them), the version each pins, and whether the cluster has the controller at all.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::cluster::{ClusterView, Kind};
use crate::outcome::{Finding, Level as FindingLevel, ProbeReport, Unverified};
use crate::podsec::{
    AUDIT_LABEL, AUDIT_VERSION_LABEL, ENFORCE_LABEL, ENFORCE_VERSION_LABEL, Level, NamespaceEnforcement, PolicyLevel,
    Version, WARN_LABEL, WARN_VERSION_LABEL, namespace_enforcement,
};

/// The first Kubernetes minor version with the PodSecurity admission controller on by default.
pub const ADMISSION_SINCE_MINOR: u32 = 23;

/// A label's value as written, or `unset`.
fn label<'a>(labels: Option<&'a serde_json::Map<String, Value>>, key: &str) -> Option<&'a str> {
    labels.and_then(|l| l.get(key)).and_then(Value::as_str)
}

/// `restricted at v1.30 (pinned)`, `baseline at latest`, `not set`, for one mode's labels.
fn mode(labels: Option<&serde_json::Map<String, Value>>, level_key: &str, version_key: &str) -> String {
    match (label(labels, level_key), label(labels, version_key)) {
        (None, None) => "not set".to_string(),
        (level, Some(v)) => format!("{} at {v} (pinned)", level.unwrap_or("privileged (label not set)")),
        (Some(level), None) => format!("{level} at latest (no version label)"),
    }
}

/// Every mode's labels, for the evidence: `enforce restricted at v1.30 (pinned); warn not set; ...`.
fn describe(labels: Option<&serde_json::Map<String, Value>>) -> String {
    format!(
        "enforce {}; warn {}; audit {}",
        mode(labels, ENFORCE_LABEL, ENFORCE_VERSION_LABEL),
        mode(labels, WARN_LABEL, WARN_VERSION_LABEL),
        mode(labels, AUDIT_LABEL, AUDIT_VERSION_LABEL)
    )
}

fn policy_name(p: PolicyLevel) -> &'static str {
    match p {
        PolicyLevel::Privileged => "privileged",
        PolicyLevel::Baseline => "baseline",
        PolicyLevel::Restricted => "restricted",
    }
}

/// The finding a namespace's labels make, if they do not enforce `required`.
fn finding(ns: &str, labels: &Value, required: Level, level: FindingLevel) -> Option<Finding> {
    let map = labels.as_object();
    let enforce_label = label(map, ENFORCE_LABEL);
    let (code, message) = match namespace_enforcement(labels, required) {
        NamespaceEnforcement::Enforced { .. } => return None,
        NamespaceEnforcement::NotEnforced { enforce } => {
            let what = match (enforce_label, enforce.level) {
                (None, _) => format!("has no {ENFORCE_LABEL} label: every Pod is admitted (privileged)"),
                (Some(_), PolicyLevel::Privileged) => "enforces privileged: no check at all".to_string(),
                (Some(_), other) => format!("enforces {}, below the required {required}", policy_name(other)),
            };
            ("namespace-pss-not-enforced", format!("namespace {ns} {what}"))
        }
        NamespaceEnforcement::WarnOrAuditOnly { enforce, warn, audit } => {
            let modes: Vec<&str> = [warn.map(|_| "warns"), audit.map(|_| "audits")].into_iter().flatten().collect();
            let enforce = match enforce_label {
                None => "no enforce label".to_string(),
                Some(_) => format!("enforce {}", policy_name(enforce.level)),
            };
            (
                "namespace-pss-warn-only",
                format!(
                    "namespace {ns} only {} at {required} ({enforce}): Pods that break it are still admitted",
                    modes.join(" and ")
                ),
            )
        }
        NamespaceEnforcement::Invalid { labels } => {
            let bad: Vec<String> = labels.iter().map(|l| format!("{}={} ({})", l.label, l.value, l.reason)).collect();
            (
                "namespace-pss-label-invalid",
                format!(
                    "namespace {ns} has an invalid pod-security label: {}; the controller then enforces restricted \
                     for an invalid enforce level, latest for an invalid version, and ignores an invalid warn or audit",
                    bad.join("; ")
                ),
            )
        }
    };
    // Label values are the user's text: shown, but never a credential someone pasted there.
    let message = crate::redact::redact_text(&message).into_owned();
    let mut f = Finding::new(code, level, message)
        .target(format!("Namespace {ns}"))
        .fact("namespace", ns)
        .fact("required level", required);
    for (key, name) in [
        (ENFORCE_LABEL, "enforce"),
        (ENFORCE_VERSION_LABEL, "enforce-version"),
        (WARN_LABEL, "warn"),
        (AUDIT_LABEL, "audit"),
    ] {
        if let Some(v) = label(map, key) {
            f = f.fact(name, crate::redact::redact_text(v));
        }
    }
    Some(f)
}

/// Judges the namespaces `names` and returns the policy version each one's `enforce-version`
/// label pins (`latest` when unpinned or invalid, as the controller reads it). A namespace with
/// no Namespace object in the view is a gap when enforcement is required.
pub fn judge_namespaces(
    view: &ClusterView,
    names: &BTreeSet<String>,
    required: Level,
    require_enforcement: bool,
    report: &mut ProbeReport,
) -> HashMap<String, Version> {
    let mut versions = HashMap::new();
    let objects = match view.objects(Kind::Namespace) {
        Ok(o) => o,
        Err(_) => {
            if let Some(g) = super::kind_gap(view, Kind::Namespace) {
                report.gap(g);
            }
            return versions;
        }
    };
    let by_name: HashMap<&str, &Value> =
        objects.iter().filter_map(|o| Some((o.pointer("/metadata/name").and_then(Value::as_str)?, o))).collect();
    let level = if require_enforcement { FindingLevel::Error } else { FindingLevel::Info };
    for ns in names {
        let Some(object) = by_name.get(ns.as_str()) else {
            let seen = if view.offline { "the manifests hold no Namespace" } else { "the cluster has no namespace" };
            report.fact(format!("namespace {ns}"), format!("{seen} {ns}: its labels are unknown"));
            if require_enforcement {
                report.gap(Unverified::new(
                    "namespace-unseen",
                    format!("{seen} {ns}: whether it enforces the {required} level cannot be read"),
                ));
            }
            continue;
        };
        let labels = object.pointer("/metadata/labels").unwrap_or(&Value::Null);
        report.fact(format!("namespace {ns}"), crate::redact::redact_text(&describe(labels.as_object())));
        let version = label(labels.as_object(), ENFORCE_VERSION_LABEL).and_then(|v| v.parse().ok());
        versions.insert(ns.clone(), version.unwrap_or(Version::Latest));
        if let Some(f) = finding(ns, labels, required, level) {
            report.push(f);
        }
    }
    versions
}

/// The minor version of a `v1.N...` server version string.
fn server_minor(version: &str) -> Option<u32> {
    let rest = version.strip_prefix('v').unwrap_or(version).strip_prefix("1.")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// On a live cluster older than v1.23 the labels are only labels: the built-in controller does not
/// exist (v1.22 has it alpha, behind a feature gate), so enforcement needs a webhook.
pub fn admission_absent(view: &ClusterView) -> Option<Finding> {
    let version = &view.cluster.as_ref()?.version;
    let minor = server_minor(version)?;
    (minor < ADMISSION_SINCE_MINOR).then(|| {
        Finding::warning(
            "pod-security-admission-absent",
            format!(
                "the API server is {version}: the PodSecurity admission controller is built in from v1.23 (v1.22 \
                 behind a feature gate), so the namespace labels enforce nothing unless a webhook (the \
                 pod-security-webhook) enforces them"
            ),
        )
        .target("cluster")
        .fact("server version", version)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_versions() {
        assert_eq!(server_minor("v1.20.2"), Some(20));
        assert_eq!(server_minor("v1.29.3-gke.1"), Some(29));
        assert_eq!(server_minor("1.31"), Some(31));
        assert_eq!(server_minor("v2.0"), None);
        assert_eq!(server_minor(""), None);
    }
}
