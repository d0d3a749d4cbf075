//! Secret hygiene (probe 5): pure checks over Kubernetes objects (Secrets, ConfigMaps, workloads,
//! ServiceAccounts, RBAC) that return findings naming the object and key, never a value.
//!
//! Levels: `error` for what leaks or breaks now (a credential in clear in env, a ConfigMap or the
//! last-applied annotation; a reference to a Secret or key that does not exist); `warning` for
//! hygiene that widens exposure (rotation overdue, unused Secrets, automounted tokens, RBAC read
//! access to Secrets); `info` for notes (missing `optional: true` references, RBAC read access
//! narrowed by `resourceNames`). See `CODES` for what each finding reads.

mod access;
mod content;
mod lifecycle;
mod names;
pub mod objects;
pub mod params;
pub mod patterns;
mod refs;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::outcome::{Finding, Level, ProbeReport};
pub use objects::{NamespaceScope, ObjectRef};
pub use params::SecretsParams;
pub use patterns::{BUILTIN_PATTERNS, Patterns, builtin_patterns, load_patterns};

pub const ENV_PLAIN_CREDENTIAL: &str = "env-plain-credential";
pub const CONFIGMAP_CREDENTIAL: &str = "configmap-credential";
pub const SECRET_REF_MISSING: &str = "secret-ref-missing";
pub const SECRET_LAST_APPLIED_IN_CLEAR: &str = "secret-last-applied-in-clear";
pub const SECRET_ROTATION_OVERDUE: &str = "secret-rotation-overdue";
pub const SECRET_UNUSED: &str = "secret-unused";
pub const SA_TOKEN_AUTOMOUNTED: &str = "sa-token-automounted";
pub const RBAC_SECRET_READ: &str = "rbac-secret-read";

/// One finding. The JSON shape is a stable contract (`kgents-gate secrets scan --format json`):
/// `{"code", "severity", "object": {"kind", "namespace", "name"}, "key", "message"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SecretFinding {
    pub code: String,
    pub severity: Level,
    pub object: ObjectRef,
    /// The key the finding is about: an env variable (`containers[app].env.DB_PASSWORD`), a
    /// ConfigMap or Secret key, or the place of a reference (`volumes[certs]`); null when the
    /// finding is about the whole object.
    pub key: Option<String>,
    pub message: String,
}

impl SecretFinding {
    fn new(code: &str, severity: Level, object: &ObjectRef, key: Option<String>, message: String) -> Self {
        SecretFinding { code: code.to_string(), severity, object: object.clone(), key, message }
    }
}

impl std::fmt::Display for SecretFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}] {}", self.severity.as_str(), self.code, self.object)?;
        if let Some(k) = &self.key {
            write!(f, " key {k}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What one finding code reads, for `explain` and the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    pub code: &'static str,
    /// The usual level; some codes lower it (see the module doc).
    pub severity: Level,
    pub reads: &'static str,
    /// Whether the check needs Secret key names (never values). All other Secret reads are metadata.
    pub needs_secret_keys: bool,
}

pub const CODES: &[CodeInfo] = &[
    CodeInfo {
        code: ENV_PLAIN_CREDENTIAL,
        severity: Level::Error,
        reads: "container and init-container `env` names and literal values of Pods and workload pod \
                templates (Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, \
                CronJob); no Secrets",
        needs_secret_keys: false,
    },
    CodeInfo {
        code: CONFIGMAP_CREDENTIAL,
        severity: Level::Error,
        reads: "ConfigMap `data` and `binaryData` keys and values; no Secrets",
        needs_secret_keys: false,
    },
    CodeInfo {
        code: SECRET_REF_MISSING,
        severity: Level::Error,
        reads: "secretKeyRef, envFrom.secretRef, secret and projected volumes, imagePullSecrets of pod \
                specs and ServiceAccount `secrets`/`imagePullSecrets`; Secret names, and Secret key \
                names (not values) for key references",
        needs_secret_keys: true,
    },
    CodeInfo {
        code: SECRET_LAST_APPLIED_IN_CLEAR,
        severity: Level::Error,
        reads: "the `kubectl.kubernetes.io/last-applied-configuration` annotation of Secrets (metadata); \
                only the key names under its data/stringData are reported",
        needs_secret_keys: false,
    },
    CodeInfo {
        code: SECRET_ROTATION_OVERDUE,
        severity: Level::Warning,
        reads: "Secret metadata: creationTimestamp, type, the rotation annotation",
        needs_secret_keys: false,
    },
    CodeInfo {
        code: SECRET_UNUSED,
        severity: Level::Warning,
        reads: "Secret metadata (name, type, ownerReferences) and the references of pod specs, \
                ServiceAccounts, Ingress TLS, Gateway certificateRefs, cert-manager Certificates",
        needs_secret_keys: false,
    },
    CodeInfo {
        code: SA_TOKEN_AUTOMOUNTED,
        severity: Level::Warning,
        reads: "automountServiceAccountToken and serviceAccountName of pod specs and ServiceAccounts; \
                no Secrets",
        needs_secret_keys: false,
    },
    CodeInfo {
        code: RBAC_SECRET_READ,
        severity: Level::Warning,
        reads: "Roles, ClusterRoles, RoleBindings, ClusterRoleBindings; no Secrets",
        needs_secret_keys: false,
    },
];

/// Types never reported as unused or overdue: managed by Kubernetes or Helm, not by people.
pub const MANAGED_SECRET_TYPES: &[&str] =
    &["kubernetes.io/service-account-token", "helm.sh/release.v1", "bootstrap.kubernetes.io/token"];

pub const DEFAULT_ROTATION_ANNOTATION: &str = "kgents.io/rotated-at";
pub const DEFAULT_ROTATION_MAX_AGE: Duration = Duration::from_secs(90 * 86_400);

/// How to scan.
#[derive(Debug, Clone)]
pub struct SecretScanOptions {
    /// Pattern rules; None: the built-in rules.
    pub patterns: Option<Arc<Patterns>>,
    /// The time Secret ages are judged against; None: the rotation check is not run.
    pub now: Option<jiff::Timestamp>,
    pub rotation_max_age: Duration,
    /// Annotation with the last rotation (RFC 3339 time or a date).
    pub rotation_annotation: String,
    /// ServiceAccounts that may have tokens automounted: `namespace/name` or `name` (any namespace).
    pub automount_allowed: Vec<String>,
    /// Subjects that may read Secrets: `ServiceAccount:namespace/name`, `User:name`, `Group:name`.
    pub secret_readers_allowed: Vec<String>,
    pub scope: NamespaceScope,
    /// Extra credential-name fragments (case-insensitive substrings of env names / ConfigMap keys).
    pub extra_credential_names: Vec<String>,
    /// Extra credential-value regexes (case-insensitive).
    pub extra_credential_values: Vec<regex::Regex>,
    /// Name fragments that are never credential names (e.g. `_FILE`).
    pub allowed_credential_names: Vec<String>,
    /// Values that are never credentials (regexes).
    pub allowed_credential_values: Vec<regex::Regex>,
    /// Secret types never reported unused because their consumers are not among the scanned
    /// objects (e.g. `kubernetes.io/tls` when Ingress and Gateway objects were not read).
    pub unused_unjudged_types: Vec<String>,
}

impl Default for SecretScanOptions {
    fn default() -> Self {
        SecretScanOptions {
            patterns: None,
            now: None,
            rotation_max_age: DEFAULT_ROTATION_MAX_AGE,
            rotation_annotation: DEFAULT_ROTATION_ANNOTATION.to_string(),
            automount_allowed: Vec::new(),
            secret_readers_allowed: Vec::new(),
            scope: NamespaceScope::default(),
            extra_credential_names: Vec::new(),
            extra_credential_values: Vec::new(),
            allowed_credential_names: Vec::new(),
            allowed_credential_values: Vec::new(),
            unused_unjudged_types: Vec::new(),
        }
    }
}

/// Runs every secret-hygiene check over `objects` (Kubernetes objects as JSON; `List` kinds are
/// flattened). Findings are sorted by object, code and key.
pub fn scan<T: std::borrow::Borrow<Value>>(objects: &[T], opts: &SecretScanOptions) -> Vec<SecretFinding> {
    scan_inner(objects, opts).0
}

/// The findings, the pattern error if the rules could not be loaded, and how many objects were
/// looked at.
fn scan_inner<T: std::borrow::Borrow<Value>>(
    objects: &[T],
    opts: &SecretScanOptions,
) -> (Vec<SecretFinding>, Option<String>, usize) {
    let inv = objects::Inventory::new(objects);
    // The content scan (patterns over every value, after compiling the built-in rules on first
    // use) and the reference and access checks are independent: they run on two cores. The
    // findings are sorted below, so the order in which they come back does not matter.
    let (mut out, pattern_error) = std::thread::scope(|scope| {
        let content = scope.spawn(|| {
            let (patterns, pattern_error) = match &opts.patterns {
                Some(p) => (Some(p.as_ref()), None),
                None => match builtin_patterns() {
                    Ok(p) => (Some(p), None),
                    Err(e) => (None, Some(e)),
                },
            };
            let mut out = Vec::new();
            if let Some(p) = patterns {
                content::env_credentials(&inv, p, opts, &mut out);
                content::configmap_credentials(&inv, p, opts, &mut out);
            }
            (out, pattern_error)
        });
        let mut out = Vec::new();
        refs::missing(&inv, opts, &mut out);
        refs::unused(&inv, opts, &mut out);
        lifecycle::last_applied(&inv, opts, &mut out);
        lifecycle::rotation(&inv, opts, &mut out);
        access::automount(&inv, opts, &mut out);
        access::rbac(&inv, opts, &mut out);
        let (found, pattern_error) = content.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        out.extend(found);
        (out, pattern_error)
    });
    out.retain(|f| opts.scope.contains(f.object.namespace.as_deref()));
    out.sort_by(|a, b| (&a.object, &a.code, &a.key, &a.message).cmp(&(&b.object, &b.code, &b.key, &b.message)));
    out.dedup();
    (out, pattern_error, inv.objects.len())
}

/// Converts findings into the probe's report: each finding keeps its code and level, the target
/// names the object, the key goes into the evidence.
pub fn to_probe_report(findings: &[SecretFinding]) -> ProbeReport {
    let mut report = ProbeReport::default();
    for f in findings {
        let mut finding = Finding::new(f.code.clone(), f.severity, f.message.clone()).target(f.object.to_string());
        if let Some(k) = &f.key {
            finding = finding.fact("key", k);
        }
        report.push(finding);
    }
    for info in CODES {
        let n = findings.iter().filter(|f| f.code == info.code).count();
        report.fact(format!("findings.{}", info.code), n);
    }
    report
}

/// Scans and converts in one step; when the pattern rules cannot be loaded the content checks did
/// not run, and the report says so as `unverified` (never a pass).
pub fn scan_report<T: std::borrow::Borrow<Value>>(objects: &[T], opts: &SecretScanOptions) -> ProbeReport {
    let (findings, pattern_error, looked_at) = scan_inner(objects, opts);
    let mut report = to_probe_report(&findings);
    report.fact("objects", looked_at);
    if let Some(e) = pattern_error {
        report.gap(crate::outcome::Unverified::new(
            "patterns-unavailable",
            format!("credential pattern rules could not be loaded, content checks did not run: {e}"),
        ));
    }
    report
}

/// Exit code of `secrets scan`: 1 when any finding is an error, else 0.
pub fn exit_code(findings: &[SecretFinding]) -> i32 {
    if findings.iter().any(|f| f.severity == Level::Error) { 1 } else { 0 }
}
