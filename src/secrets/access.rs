//! Who can get at credentials without a Secret reference: service-account tokens mounted into pods
//! (`sa-token-automounted`) and RBAC bindings that let non-system subjects read Secrets
//! (`rbac-secret-read`).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::cluster::field::field;

use super::objects::{Inventory, items, pod_spec, service_account, str_at};
use super::{RBAC_SECRET_READ, SA_TOKEN_AUTOMOUNTED, SecretFinding, SecretScanOptions};
use crate::outcome::Level;

fn automount_field(v: &Value) -> Option<bool> {
    field(v, "automountServiceAccountToken").and_then(Value::as_bool)
}

fn automount_allowed(opts: &SecretScanOptions, ns: &str, sa: &str) -> bool {
    opts.automount_allowed.iter().any(|a| match a.split_once('/') {
        Some((n, s)) => n == ns && s == sa,
        None => a == sa,
    })
}

pub(super) fn automount(inv: &Inventory, opts: &SecretScanOptions, out: &mut Vec<SecretFinding>) {
    for (r, v) in &inv.objects {
        let Some(spec) = pod_spec(v) else { continue };
        if inv.has_listed_controller(r, v) {
            continue;
        }
        let ns = r.namespace.as_deref().unwrap_or("default");
        let sa = service_account(spec);
        if automount_allowed(opts, ns, sa) {
            continue;
        }
        let sa_setting = inv.get("ServiceAccount", Some(ns), sa).and_then(automount_field);
        // The pod spec's setting wins over the ServiceAccount's; unset on both means mounted.
        let why = match (automount_field(spec), sa_setting) {
            (Some(false), _) | (None, Some(false)) => continue,
            (Some(true), _) => "the pod spec sets automountServiceAccountToken: true".to_string(),
            (None, Some(true)) => {
                format!("ServiceAccount {sa} sets automountServiceAccountToken: true")
            }
            (None, None) => format!("neither the pod spec nor ServiceAccount {sa} sets automountServiceAccountToken"),
        };
        let message = format!(
            "the token of ServiceAccount {ns}/{sa} is mounted into the pods ({why}); set \
             automountServiceAccountToken: false unless they call the Kubernetes API"
        );
        out.push(SecretFinding::new(SA_TOKEN_AUTOMOUNTED, Level::Warning, r, None, message));
    }
    for (r, v) in inv.of_kind("ServiceAccount") {
        let ns = r.namespace.as_deref().unwrap_or("default");
        if automount_allowed(opts, ns, &r.name) {
            continue;
        }
        let message = match automount_field(v) {
            Some(true) => {
                "sets automountServiceAccountToken: true, so every pod using it gets an API token".to_string()
            }
            None if r.name == "default" => "the default ServiceAccount does not set automountServiceAccountToken: \
                                             false, so every pod without its own ServiceAccount gets an API token"
                .to_string(),
            _ => continue,
        };
        out.push(SecretFinding::new(SA_TOKEN_AUTOMOUNTED, Level::Warning, r, None, message));
    }
}

/// What a role lets its subjects do with Secrets.
#[derive(Default)]
struct SecretAccess {
    verbs: BTreeSet<String>,
    /// Every granting rule is limited by `resourceNames` (these names).
    narrowed_to: Option<BTreeSet<String>>,
}

const READ_VERBS: &[&str] = &["get", "list", "watch", "*"];

fn strings(v: Option<&Value>) -> Vec<&str> {
    items(v).filter_map(Value::as_str).collect()
}

fn secret_access(rules: &[&Value]) -> Option<SecretAccess> {
    let mut acc = SecretAccess::default();
    let mut any_unnarrowed = false;
    let mut names = BTreeSet::new();
    for rule in rules {
        let groups = strings(field(rule, "apiGroups"));
        let resources = strings(field(rule, "resources"));
        let verbs: Vec<&str> = strings(field(rule, "verbs")).into_iter().filter(|v| READ_VERBS.contains(v)).collect();
        if !(groups.contains(&"") || groups.contains(&"*"))
            || !(resources.contains(&"secrets") || resources.contains(&"*"))
            || verbs.is_empty()
        {
            continue;
        }
        acc.verbs.extend(verbs.iter().map(|v| v.to_string()));
        let rn = strings(field(rule, "resourceNames"));
        if rn.is_empty() {
            any_unnarrowed = true;
        }
        names.extend(rn.into_iter().map(str::to_string));
    }
    if acc.verbs.is_empty() {
        return None;
    }
    acc.narrowed_to = (!any_unnarrowed).then_some(names);
    Some(acc)
}

/// Default ClusterRoles that come with every cluster and grant Secret reads; used when the scanned
/// objects do not include them (manifests).
fn builtin_cluster_role(name: &str) -> Option<Value> {
    let verbs = match name {
        "cluster-admin" => serde_json::json!(["*"]),
        "admin" | "edit" => serde_json::json!(["get", "list", "watch"]),
        _ => return None,
    };
    Some(serde_json::json!([{ "apiGroups": [""], "resources": ["secrets"], "verbs": verbs }]))
}

/// A subject that is part of Kubernetes itself, or allowed by the parameters.
fn is_system_or_allowed(kind: &str, ns: &str, name: &str, opts: &SecretScanOptions) -> bool {
    let label = match kind {
        "ServiceAccount" => format!("ServiceAccount:{ns}/{name}"),
        _ => format!("{kind}:{name}"),
    };
    if opts.secret_readers_allowed.iter().any(|a| a == &label) {
        return true;
    }
    match kind {
        "ServiceAccount" => ns == "kube-system",
        // These system groups stand for *everyone* (or every service account): never "system" here.
        "Group"
            if ["system:authenticated", "system:unauthenticated", "system:serviceaccounts"].contains(&name)
                || name.starts_with("system:serviceaccounts:") =>
        {
            false
        }
        _ => name.starts_with("system:"),
    }
}

pub(super) fn rbac(inv: &Inventory, opts: &SecretScanOptions, out: &mut Vec<SecretFinding>) {
    for (r, v) in &inv.objects {
        let cluster_wide = match r.kind.as_str() {
            "ClusterRoleBinding" => true,
            "RoleBinding" => false,
            _ => continue,
        };
        let bns = r.namespace.as_deref().unwrap_or("default");
        let (Some(role_kind), Some(role_name)) = (str_at(v, &["roleRef", "kind"]), str_at(v, &["roleRef", "name"]))
        else {
            continue;
        };
        let role_ns = (role_kind == "Role").then_some(bns);
        let listed = inv.get(role_kind, role_ns, role_name).and_then(|role| field(role, "rules")).cloned();
        let builtin = if role_kind == "ClusterRole" { builtin_cluster_role(role_name) } else { None };
        let Some(rules) = listed.or(builtin) else {
            continue;
        };
        let rule_refs: Vec<&Value> = items(Some(&rules)).collect();
        let Some(access) = secret_access(&rule_refs) else {
            continue;
        };
        let subjects: Vec<String> = items(field(v, "subjects"))
            .filter_map(|s| {
                let kind = field(s, "kind").and_then(Value::as_str)?;
                let name = field(s, "name").and_then(Value::as_str)?;
                let sns = field(s, "namespace").and_then(Value::as_str).unwrap_or(bns);
                if is_system_or_allowed(kind, sns, name, opts) {
                    return None;
                }
                Some(if kind == "ServiceAccount" { format!("{kind} {sns}/{name}") } else { format!("{kind} {name}") })
            })
            .collect();
        if subjects.is_empty() {
            continue;
        }
        let verbs: Vec<&str> = access.verbs.iter().map(String::as_str).collect();
        let scope = if cluster_wide { "in all namespaces".to_string() } else { format!("in namespace {bns}") };
        let (level, narrowing) = match &access.narrowed_to {
            Some(names) => (
                Level::Info,
                format!(", limited to the Secrets {}", names.iter().cloned().collect::<Vec<_>>().join(", ")),
            ),
            None => (Level::Warning, String::new()),
        };
        let message = format!(
            "binds {role_kind} {role_name}, which grants {} on secrets {scope}{narrowing}, to {}",
            verbs.join(", "),
            subjects.join(", ")
        );
        out.push(SecretFinding::new(RBAC_SECRET_READ, level, r, None, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_subjects() {
        let o = SecretScanOptions::default();
        assert!(is_system_or_allowed("User", "", "system:kube-controller-manager", &o));
        assert!(!is_system_or_allowed("Group", "", "system:authenticated", &o));
        assert!(!is_system_or_allowed("Group", "", "system:serviceaccounts:apps", &o));
        assert!(is_system_or_allowed("ServiceAccount", "kube-system", "x", &o));
        assert!(!is_system_or_allowed("ServiceAccount", "apps", "x", &o));
    }

    #[test]
    fn access_from_rules() {
        let r1 = serde_json::json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]});
        assert!(secret_access(&[&r1]).is_some_and(|a| a.narrowed_to.is_none()));
        let r2 = serde_json::json!({"apiGroups": ["apps"], "resources": ["secrets"], "verbs": ["get"]});
        assert!(secret_access(&[&r2]).is_none());
        let r3 = serde_json::json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "update"]});
        assert!(secret_access(&[&r3]).is_none());
        let r4 =
            serde_json::json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["a"]});
        assert!(secret_access(&[&r4]).is_some_and(|a| a.narrowed_to.is_some_and(|n| n.contains("a"))));
    }
}
