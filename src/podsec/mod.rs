//! The Pod Security Standards as the PodSecurity admission controller enforces them: every check
//! of the baseline and restricted levels with the policy versions it applies to
//! (k8s.io/pod-security-admission, policy/check_*.go), judged over a Pod's `metadata` and `spec`
//! as Kubernetes JSON, and the reading of a Namespace's `pod-security.kubernetes.io/*` labels.
//! Pure logic: no cluster, no I/O.

mod baseline;
mod namespace;
mod policy;
mod restricted;
mod view;

use serde::Serialize;
use serde_json::Value;

pub use namespace::{
    AUDIT_LABEL, AUDIT_VERSION_LABEL, ENFORCE_LABEL, ENFORCE_VERSION_LABEL, InvalidLabel, ModePolicy,
    NamespaceEnforcement, PolicyLevel, WARN_LABEL, WARN_VERSION_LABEL, namespace_enforcement,
};
pub use policy::{Level, PolicyParseError, Version};

use view::Judge;

/// The newest policy version with a rule change; `latest` (and any newer v1.N) means its rules.
pub const NEWEST_POLICY_MINOR: u32 = 37;

/// One check of the standard, as the controller registers it.
#[derive(Debug)]
pub struct Check {
    /// The upstream check id, e.g. `allowPrivilegeEscalation`.
    pub id: &'static str,
    pub level: Level,
    /// Policy minor versions (v1.N) at which the check's rules begin or change; the first is the
    /// version it applies from. The check's function branches on the same versions.
    pub revisions: &'static [u32],
    /// The baseline check this restricted check replaces wherever this one applies.
    pub overrides: Option<&'static str>,
    judge: fn(&mut Judge),
}

impl Check {
    /// The version the check applies from.
    pub fn since(&self) -> u32 {
        self.revisions.first().copied().unwrap_or(0)
    }
}

const fn check(id: &'static str, level: Level, revisions: &'static [u32], judge: fn(&mut Judge)) -> Check {
    Check { id, level, revisions, overrides: None, judge }
}

/// Every check of the standard, baseline first, in the order the standard lists them.
pub static CHECKS: &[Check] = &[
    check("hostNamespaces", Level::Baseline, &[0], baseline::host_namespaces),
    check("privileged", Level::Baseline, &[0], baseline::privileged),
    check("capabilities_baseline", Level::Baseline, &[0], baseline::capabilities_baseline),
    check("hostPathVolumes", Level::Baseline, &[0], baseline::host_path_volumes),
    check("hostPorts", Level::Baseline, &[0], baseline::host_ports),
    check("appArmorProfile", Level::Baseline, &[0], baseline::app_armor_profile),
    check("seLinuxOptions", Level::Baseline, &[0, 31], baseline::se_linux_options),
    check("procMount", Level::Baseline, &[0, 35], baseline::proc_mount),
    check("seccompProfile_baseline", Level::Baseline, &[0, 19], baseline::seccomp_profile_baseline),
    check("sysctls", Level::Baseline, &[0, 27, 29, 32, 37], baseline::sysctls),
    check("windowsHostProcess", Level::Baseline, &[0], baseline::windows_host_process),
    check("hostProbesAndHostLifecycle", Level::Baseline, &[34], baseline::host_probes_and_host_lifecycle),
    Check {
        overrides: Some("hostPathVolumes"),
        ..check("restrictedVolumes", Level::Restricted, &[0], restricted::restricted_volumes)
    },
    check("allowPrivilegeEscalation", Level::Restricted, &[8, 25], restricted::allow_privilege_escalation),
    check("runAsNonRoot", Level::Restricted, &[0, 35], restricted::run_as_non_root),
    check("runAsUser", Level::Restricted, &[23, 35], restricted::run_as_user),
    Check {
        overrides: Some("seccompProfile_baseline"),
        ..check("seccompProfile_restricted", Level::Restricted, &[19, 25], restricted::seccomp_profile_restricted)
    },
    Check {
        overrides: Some("capabilities_baseline"),
        ..check("capabilities_restricted", Level::Restricted, &[22, 25], restricted::capabilities_restricted)
    },
    Check {
        overrides: Some("procMount"),
        ..check("procMount_restricted", Level::Restricted, &[35], restricted::proc_mount_restricted)
    },
];

/// The checks a level runs at a version: its own and the lower level's, from their first version
/// on, minus the baseline checks that an applicable restricted check replaces.
pub fn checks_in_force(level: Level, version: Version) -> Vec<&'static Check> {
    let minor = version.policy_minor();
    let applicable: Vec<&Check> = CHECKS.iter().filter(|c| c.level <= level && c.since() <= minor).collect();
    let replaced: Vec<&str> = applicable.iter().filter_map(|c| c.overrides).collect();
    applicable.into_iter().filter(|c| !replaced.contains(&c.id)).collect()
}

/// The check that judges what `id` is about at this level and version: `id` itself when it is in
/// force, the restricted check that replaces it, or none (not yet in the standard at `version`).
pub fn effective_check(id: &str, level: Level, version: Version) -> Option<&'static str> {
    let in_force = checks_in_force(level, version);
    in_force.iter().find(|c| c.id == id).or_else(|| in_force.iter().find(|c| c.overrides == Some(id))).map(|c| c.id)
}

/// What is wrong with a violating field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ViolationKind {
    /// The field is set to a value the check forbids.
    Forbidden,
    /// The check requires a setting that is absent (or, for `capabilities.drop`, lacks "ALL").
    Missing,
    /// The field has the wrong JSON type; the API server would reject the Pod before admission.
    WrongType,
}

/// One way a Pod breaks the standard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The upstream check id, e.g. `runAsNonRoot`.
    pub check: &'static str,
    pub kind: ViolationKind,
    /// The container (init, regular or ephemeral) the violation is about, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Field path, e.g. `spec.containers[0].securityContext.allowPrivilegeEscalation`.
    pub path: String,
    /// The offending value as written (compact JSON); none when the required field is unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// What is wrong, in one line.
    pub message: String,
    /// How to fix it, in one line.
    pub fix: String,
}

/// Judges a Pod (or a workload's pod template) at `level` and `version`, as the PodSecurity
/// admission controller would: `metadata` and `spec` are the objects' Kubernetes JSON (pass
/// `&Value::Null` for an absent one). No violation means the Pod is admitted.
pub fn evaluate(metadata: &Value, spec: &Value, level: Level, version: Version) -> Vec<Violation> {
    let minor = version.policy_minor();
    let mut out = Vec::new();
    for c in checks_in_force(level, version) {
        let mut judge = Judge::new(c.id, minor, metadata, spec, &mut out);
        (c.judge)(&mut judge);
    }
    // A malformed field is read by several checks; report it once, for the first.
    let mut seen_wrong = Vec::new();
    out.retain(|v| {
        if v.kind != ViolationKind::WrongType {
            return true;
        }
        let fresh = !seen_wrong.contains(&v.path);
        seen_wrong.push(v.path.clone());
        fresh
    });
    out
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_checks;
#[cfg(test)]
mod tests_odd_input;
