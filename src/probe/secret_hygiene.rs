//! `secret-hygiene` probe: the pure scan of `crate::secrets` over the shared cluster view. A kind
//! that could not be read makes the whole check unverified, naming every missing permission.

use serde_json::Value;

use crate::cluster::{ClusterView, Gap, Kind, Need};
use crate::outcome::{ProbeReport, ProbeState, Unverified};
use crate::probe::ProbeContext;
use crate::secrets::{CODES, SecretsParams, scan_report};

/// Namespaced kinds the findings read (see `crate::secrets::CODES`). Secrets are read in full for
/// their key names (`secret-ref-missing`); values are never reported.
pub const NAMESPACED_KINDS: &[Kind] = &[
    Kind::Secret,
    Kind::ConfigMap,
    Kind::Pod,
    Kind::Deployment,
    Kind::StatefulSet,
    Kind::DaemonSet,
    Kind::ReplicaSet,
    Kind::ReplicationController,
    Kind::Job,
    Kind::CronJob,
    Kind::ServiceAccount,
    Kind::Role,
    Kind::RoleBinding,
];

/// Cluster-scoped kinds: a ClusterRoleBinding grants in every namespace, and a RoleBinding may
/// refer to a ClusterRole.
pub const CLUSTER_KINDS: &[Kind] = &[Kind::ClusterRole, Kind::ClusterRoleBinding];

pub fn kinds() -> impl Iterator<Item = Kind> {
    NAMESPACED_KINDS.iter().chain(CLUSTER_KINDS).copied()
}

pub fn needs(p: &SecretsParams) -> Vec<Need> {
    let mut out: Vec<Need> = NAMESPACED_KINDS.iter().map(|k| Need::namespaced(*k, &p.namespaces)).collect();
    out.extend(CLUSTER_KINDS.iter().map(|k| Need::cluster(*k)));
    out
}

/// Every object of the kinds the scan reads, or the report saying what could not be read: every
/// forbidden kind's permission is named, not only the first.
pub fn objects_from_view(view: &ClusterView) -> Result<Vec<&Value>, Box<ProbeReport>> {
    let mut objects = Vec::new();
    let mut gaps: Vec<(Kind, &Gap)> = Vec::new();
    for k in kinds() {
        match view.objects(k) {
            Ok(list) => objects.extend(list.iter()),
            Err(g) => gaps.push((k, g)),
        }
    }
    let Some((first_kind, first_gap)) = gaps.first() else {
        return Ok(objects);
    };
    // A core kind not served is a broken API, not a check that does not apply.
    let mut first = first_gap.to_unverified(*first_kind).unwrap_or_else(|reason| Unverified::new("api-error", reason));
    let permissions: Vec<String> =
        gaps.iter().filter_map(|(k, g)| g.to_unverified(*k).ok().and_then(|u| u.missing_permission)).collect();
    let kinds: Vec<String> = gaps.iter().map(|(k, _)| k.to_string()).collect();
    // Every finding of this check needs every kind (a reference is "missing" only if the
    // Secrets were seen), so a missing kind leaves the whole check unverified.
    first.reason = format!("{} (cannot read: {})", first.reason, kinds.join(", "));
    if !permissions.is_empty() {
        first.missing_permission = Some(permissions.join("; "));
    }
    let report = ProbeReport { evidence: Vec::new(), state: ProbeState::Unverified(first) };
    Err(Box::new(report))
}

/// Secret types whose consumers (Ingress, Gateway, cert-manager Certificate) the view does not
/// hold: not judged unused, so the report says nothing it did not see.
pub const UNJUDGED_TYPES: &[&str] = &["kubernetes.io/tls"];

/// Runs the scan over `objects` at `now` and describes what was read.
pub fn report_for<T: std::borrow::Borrow<Value>>(
    objects: &[T],
    p: &SecretsParams,
    now: jiff::Timestamp,
    offline: bool,
) -> ProbeReport {
    let mut opts = p.options(Some(now), None);
    opts.unused_unjudged_types = UNJUDGED_TYPES.iter().map(|t| t.to_string()).collect();
    let mut report = scan_report(objects, &opts);
    report.fact(
        "secret-unused.not-judged",
        format!("{} Secrets: Ingress, Gateway and Certificate objects are not read", UNJUDGED_TYPES.join(", ")),
    );
    for info in CODES {
        report.fact(format!("reads.{}", info.code), info.reads);
    }
    let scope = if p.namespaces.is_empty() { "all namespaces".to_string() } else { p.namespaces.join(", ") };
    report.fact("namespaces", scope);
    if !p.exclude_namespaces.is_empty() {
        report.fact("excluded-namespaces", p.exclude_namespaces.join(", "));
    }
    report.fact("secret-values", "never reported: findings name the object and key only");
    if offline {
        report.fact("source", "manifests (objects not yet applied have no age: rotation is judged only where set)");
    }
    report
}

pub async fn run(p: &SecretsParams, ctx: &ProbeContext) -> ProbeReport {
    let Some(view) = ctx.view.clone() else {
        return ProbeReport::unverified("no-cluster", "no cluster view was loaded for this audit");
    };
    match objects_from_view(&view) {
        Ok(objects) => report_for(&objects, p, jiff::Timestamp::now(), view.offline),
        Err(r) => *r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::KindData;

    fn params() -> SecretsParams {
        let t = toml::Table::new();
        let mut r = crate::probe::ParamReader::new(&t);
        SecretsParams::read(&mut r).unwrap()
    }

    #[test]
    fn every_forbidden_kind_is_named() {
        let mut view = ClusterView::new(false);
        for k in kinds() {
            view.set(k, KindData::Objects(Vec::new()));
        }
        let forbid = |r: &str| Gap::Forbidden { verb: "list".into(), resource: r.into(), namespace: None };
        view.set(Kind::Secret, KindData::Gap(forbid("secrets")));
        view.set(Kind::ClusterRole, KindData::Gap(forbid("clusterroles.rbac.authorization.k8s.io")));
        let r = objects_from_view(&view).unwrap_err();
        let u = &r.gaps()[0];
        assert_eq!(u.code, "forbidden");
        assert_eq!(
            u.missing_permission.as_deref(),
            Some("list secrets (cluster-wide); list clusterroles.rbac.authorization.k8s.io (cluster-wide)")
        );
        assert!(u.reason.contains("Secret, ClusterRole"), "{}", u.reason);
        assert!(r.findings().is_empty());
    }

    #[test]
    fn needs_follow_the_namespaces() {
        let mut p = params();
        p.namespaces = vec!["apps".into()];
        let n = needs(&p);
        let secret = n.iter().find(|n| n.kind == Kind::Secret).unwrap();
        assert!(secret.full, "key names are needed");
        assert_eq!(secret.scope, crate::cluster::kinds::Scope::Namespaces(vec!["apps".into()]));
        let crb = n.iter().find(|n| n.kind == Kind::ClusterRoleBinding).unwrap();
        assert_eq!(crb.scope, crate::cluster::kinds::Scope::Cluster);
    }

    #[test]
    fn tls_secrets_are_not_called_unused_and_reads_are_listed() {
        let objs = vec![
            serde_json::json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": {"name": "cert", "namespace": "apps"}, "data": {"tls.crt": ""}}),
            serde_json::json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": "old", "namespace": "apps"}, "data": {"k": ""}}),
        ];
        let r = report_for(&objs, &params(), jiff::Timestamp::now(), false);
        let unused: Vec<_> = r.findings().iter().filter(|f| f.code == crate::secrets::SECRET_UNUSED).collect();
        assert_eq!(unused.len(), 1);
        assert_eq!(unused[0].target.as_deref(), Some("Secret apps/old"));
        assert!(r.evidence.iter().any(|f| f.name == "secret-unused.not-judged"));
        assert_eq!(r.evidence.iter().filter(|f| f.name.starts_with("reads.")).count(), CODES.len());
    }
}
