//! The Kubernetes kinds the gate reads, with where the API serves them and what RBAC reading
//! them takes. One table, used by the live loader, the manifest loader and the `rbac` command.

use serde::Serialize;

/// A kind of object the cluster view can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Kind {
    Namespace,
    Pod,
    Deployment,
    StatefulSet,
    ReplicaSet,
    DaemonSet,
    Job,
    CronJob,
    ReplicationController,
    Service,
    PodDisruptionBudget,
    NetworkPolicy,
    ConfigMap,
    Secret,
    ServiceAccount,
    Role,
    ClusterRole,
    RoleBinding,
    ClusterRoleBinding,
    LimitRange,
    HorizontalPodAutoscaler,
    PrometheusRule,
}

/// Where a kind is served: API group, candidate versions (preferred first), plural resource name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    pub kind: &'static str,
    pub group: &'static str,
    /// Versions to try, newest first; discovery picks the first one the server serves.
    pub versions: &'static [&'static str],
    pub plural: &'static str,
    pub namespaced: bool,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[
        Kind::Namespace,
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::ReplicaSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
        Kind::ReplicationController,
        Kind::Service,
        Kind::PodDisruptionBudget,
        Kind::NetworkPolicy,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::ServiceAccount,
        Kind::Role,
        Kind::ClusterRole,
        Kind::RoleBinding,
        Kind::ClusterRoleBinding,
        Kind::LimitRange,
        Kind::HorizontalPodAutoscaler,
        Kind::PrometheusRule,
    ];

    pub fn info(self) -> KindInfo {
        let k = |kind, group, versions, plural, namespaced| KindInfo { kind, group, versions, plural, namespaced };
        match self {
            Kind::Namespace => k("Namespace", "", &["v1"], "namespaces", false),
            Kind::Pod => k("Pod", "", &["v1"], "pods", true),
            Kind::Deployment => k("Deployment", "apps", &["v1"], "deployments", true),
            Kind::StatefulSet => k("StatefulSet", "apps", &["v1"], "statefulsets", true),
            Kind::ReplicaSet => k("ReplicaSet", "apps", &["v1"], "replicasets", true),
            Kind::DaemonSet => k("DaemonSet", "apps", &["v1"], "daemonsets", true),
            Kind::Job => k("Job", "batch", &["v1"], "jobs", true),
            Kind::CronJob => k("CronJob", "batch", &["v1", "v1beta1"], "cronjobs", true),
            Kind::ReplicationController => k("ReplicationController", "", &["v1"], "replicationcontrollers", true),
            Kind::Service => k("Service", "", &["v1"], "services", true),
            Kind::PodDisruptionBudget => {
                k("PodDisruptionBudget", "policy", &["v1", "v1beta1"], "poddisruptionbudgets", true)
            }
            Kind::NetworkPolicy => k("NetworkPolicy", "networking.k8s.io", &["v1"], "networkpolicies", true),
            Kind::ConfigMap => k("ConfigMap", "", &["v1"], "configmaps", true),
            Kind::Secret => k("Secret", "", &["v1"], "secrets", true),
            Kind::ServiceAccount => k("ServiceAccount", "", &["v1"], "serviceaccounts", true),
            Kind::Role => k("Role", "rbac.authorization.k8s.io", &["v1"], "roles", true),
            Kind::ClusterRole => k("ClusterRole", "rbac.authorization.k8s.io", &["v1"], "clusterroles", false),
            Kind::RoleBinding => k("RoleBinding", "rbac.authorization.k8s.io", &["v1"], "rolebindings", true),
            Kind::ClusterRoleBinding => {
                k("ClusterRoleBinding", "rbac.authorization.k8s.io", &["v1"], "clusterrolebindings", false)
            }
            Kind::LimitRange => k("LimitRange", "", &["v1"], "limitranges", true),
            // autoscaling/v2 from 1.23; 1.20 serves v2beta2 (same shape) and v1 (CPU target only).
            Kind::HorizontalPodAutoscaler => {
                k("HorizontalPodAutoscaler", "autoscaling", &["v2", "v2beta2", "v1"], "horizontalpodautoscalers", true)
            }
            Kind::PrometheusRule => k("PrometheusRule", "monitoring.coreos.com", &["v1"], "prometheusrules", true),
        }
    }

    /// Matches an object's `kind` and the group of its `apiVersion`.
    pub fn from_type(api_version: &str, kind: &str) -> Option<Kind> {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        // Old manifests may still say extensions/v1beta1 for workloads and network policies.
        let group = if group == "extensions" {
            match kind {
                "NetworkPolicy" => "networking.k8s.io",
                _ => "apps",
            }
        } else {
            group
        };
        Kind::ALL.iter().copied().find(|k| {
            let i = k.info();
            i.kind == kind && i.group == group
        })
    }

    pub fn name(self) -> &'static str {
        self.info().kind
    }

    /// Whether this kind comes from a CRD that may be absent (then dependent checks are skipped).
    pub fn is_crd(self) -> bool {
        matches!(self, Kind::PrometheusRule)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How widely a check needs a kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Objects in these namespaces only.
    Namespaces(Vec<String>),
    /// Every namespace (or a cluster-scoped kind).
    Cluster,
}

/// One kind a check reads, how widely, and whether it needs more than metadata (Secrets).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Need {
    pub kind: Kind,
    pub scope: Scope,
    /// For Secrets: the check needs data keys (not values printed, but read), not metadata only.
    pub full: bool,
}

impl Need {
    pub fn namespaced(kind: Kind, namespaces: &[String]) -> Need {
        let scope = if !kind.info().namespaced || namespaces.is_empty() {
            Scope::Cluster
        } else {
            Scope::Namespaces(namespaces.to_vec())
        };
        Need { kind, scope, full: true }
    }
    pub fn cluster(kind: Kind) -> Need {
        Need { kind, scope: Scope::Cluster, full: true }
    }
    pub fn metadata_only(mut self) -> Need {
        self.full = false;
        self
    }
}

/// Merges the needs of several checks: one entry per kind, the widest scope, full if any is.
pub fn merge_needs(needs: impl IntoIterator<Item = Need>) -> Vec<Need> {
    let mut out: Vec<Need> = Vec::new();
    for n in needs {
        match out.iter_mut().find(|o| o.kind == n.kind) {
            None => out.push(n),
            Some(o) => {
                o.full |= n.full;
                o.scope = match (&o.scope, &n.scope) {
                    (Scope::Cluster, _) | (_, Scope::Cluster) => Scope::Cluster,
                    (Scope::Namespaces(a), Scope::Namespaces(b)) => {
                        let mut all = a.clone();
                        for ns in b {
                            if !all.contains(ns) {
                                all.push(ns.clone());
                            }
                        }
                        all.sort();
                        Scope::Namespaces(all)
                    }
                };
            }
        }
    }
    out.sort_by_key(|n| n.kind);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_to_kinds() {
        assert_eq!(Kind::from_type("policy/v1beta1", "PodDisruptionBudget"), Some(Kind::PodDisruptionBudget));
        assert_eq!(Kind::from_type("v1", "Pod"), Some(Kind::Pod));
        assert_eq!(Kind::from_type("extensions/v1beta1", "Deployment"), Some(Kind::Deployment));
        assert_eq!(Kind::from_type("monitoring.coreos.com/v1", "PrometheusRule"), Some(Kind::PrometheusRule));
        for v in ["v2", "v2beta2", "v2beta1", "v1"] {
            let av = format!("autoscaling/{v}");
            assert_eq!(Kind::from_type(&av, "HorizontalPodAutoscaler"), Some(Kind::HorizontalPodAutoscaler), "{av}");
        }
        assert_eq!(Kind::from_type("v1", "Deployment"), None);
        assert_eq!(Kind::from_type("example.com/v1", "Widget"), None);
    }

    #[test]
    fn needs_merge_to_the_widest_scope() {
        let a = Need::namespaced(Kind::Pod, &["a".into()]);
        let b = Need::namespaced(Kind::Pod, &["b".into(), "a".into()]).metadata_only();
        let c = Need::namespaced(Kind::Secret, &["a".into()]).metadata_only();
        let merged = merge_needs([a, b, c.clone()]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].scope, Scope::Namespaces(vec!["a".into(), "b".into()]));
        assert!(merged[0].full);
        assert!(!merged[1].full);
        let d = merge_needs([c, Need::cluster(Kind::Secret).metadata_only()]);
        assert_eq!(d[0].scope, Scope::Cluster);
        assert_eq!(Need::namespaced(Kind::ClusterRole, &["a".into()]).scope, Scope::Cluster);
    }
}
