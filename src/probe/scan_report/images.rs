//! The container images a deployment runs, from the cluster view: live, the image each Pod's
//! container status names (`imageID`, a digest); from manifests, the image references of bare
//! Pods and of workload pod templates. Init containers count; ephemeral (debug) containers do not.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::cluster::{ClusterView, Kind};
use crate::outcome::Unverified;
use crate::secrets::NamespaceScope;

/// Kinds whose pod template names images (with Pods, whose spec does).
pub const WORKLOAD_KINDS: &[Kind] = &[
    Kind::Deployment,
    Kind::StatefulSet,
    Kind::DaemonSet,
    Kind::ReplicaSet,
    Kind::ReplicationController,
    Kind::Job,
    Kind::CronJob,
];

/// One image in use, under the reference the reports are matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedImage {
    /// A live container's `imageID` without the runtime's scheme (`nats@sha256:...` from
    /// `docker-pullable://nats@sha256:...`), else the `image` of the spec.
    pub reference: String,
    /// The `image` the spec asks for, when it differs from `reference`.
    pub spec_image: Option<String>,
    /// Who runs it: `Pod ns/name container app`, `Deployment ns/name container app`.
    pub users: Vec<String>,
    /// Live and the status had no imageID yet (not pulled): matched by the spec's reference.
    pub no_image_id: bool,
}

/// The images in scope, or what kept them from being seen.
pub fn deployed_images(view: &ClusterView, scope: &NamespaceScope) -> Result<Vec<DeployedImage>, Unverified> {
    let kinds: Vec<Kind> =
        if view.offline { [Kind::Pod].iter().chain(WORKLOAD_KINDS).copied().collect() } else { vec![Kind::Pod] };
    let mut images: BTreeMap<String, DeployedImage> = BTreeMap::new();
    for kind in kinds {
        let objects = view.objects(kind).map_err(|g| {
            let mut u = g.to_unverified(kind).unwrap_or_else(|reason| Unverified::new("api-error", reason));
            u.reason = format!("{}: the reports cannot be tied to the deployed images", u.reason);
            u
        })?;
        for o in objects.iter().filter(|o| scope.contains(Some(namespace(o)))) {
            for (reference, used) in images_of(o, kind, view.offline) {
                let entry = images
                    .entry(reference.reference.clone())
                    .or_insert_with(|| DeployedImage { users: Vec::new(), ..reference.clone() });
                entry.users.push(used);
            }
        }
    }
    Ok(images.into_values().collect())
}

fn namespace(o: &Value) -> &str {
    o.pointer("/metadata/namespace").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or("default")
}

/// The pod spec of a Pod or of a workload's template.
fn pod_spec(o: &Value, kind: Kind) -> Option<&Value> {
    match kind {
        Kind::Pod => o.get("spec"),
        Kind::CronJob => o.pointer("/spec/jobTemplate/spec/template/spec"),
        _ => o.pointer("/spec/template/spec"),
    }
}

/// Each container's image of one object, with who uses it.
fn images_of(o: &Value, kind: Kind, offline: bool) -> Vec<(DeployedImage, String)> {
    let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
    let who = format!("{kind} {}/{name}", namespace(o));
    // A finished Pod (a Job's completed run) no longer runs its images.
    if kind == Kind::Pod
        && !offline
        && matches!(o.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"))
    {
        return Vec::new();
    }
    let Some(spec) = pod_spec(o, kind) else { return Vec::new() };
    let mut out = Vec::new();
    for (list, statuses) in [("initContainers", "initContainerStatuses"), ("containers", "containerStatuses")] {
        for c in spec.get(list).and_then(Value::as_array).into_iter().flatten() {
            let container = c.get("name").and_then(Value::as_str).unwrap_or("?");
            let Some(image) = c.get("image").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()) else {
                continue;
            };
            let image_id = (kind == Kind::Pod && !offline).then(|| status_image_id(o, statuses, container)).flatten();
            let live_pod = kind == Kind::Pod && !offline;
            let deployed = match image_id {
                Some(id) => DeployedImage {
                    reference: without_runtime_scheme(id).to_string(),
                    spec_image: Some(image.to_string()),
                    users: Vec::new(),
                    no_image_id: false,
                },
                None => DeployedImage {
                    reference: image.to_string(),
                    spec_image: None,
                    users: Vec::new(),
                    no_image_id: live_pod,
                },
            };
            out.push((deployed, format!("{who} container {container}")));
        }
    }
    out
}

/// `redis@sha256:...` from dockershim's `docker-pullable://redis@sha256:...`: the scheme names the
/// runtime, not the image (and `scheme://name@digest` would read as a URL with a user name).
fn without_runtime_scheme(image_id: &str) -> &str {
    match image_id.split_once("://") {
        Some((scheme, rest)) if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
            rest
        }
        _ => image_id,
    }
}

/// The `imageID` a container status reports, if set.
fn status_image_id<'a>(pod: &'a Value, statuses: &str, container: &str) -> Option<&'a str> {
    pod.pointer(&format!("/status/{statuses}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(container))
        .and_then(|s| s.get("imageID"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::KindData;
    use serde_json::json;

    fn scope() -> NamespaceScope {
        NamespaceScope { include: Default::default(), exclude: ["kube-system".to_string()].into() }
    }

    #[test]
    fn live_pods_give_their_image_ids_and_finished_pods_none() {
        let mut view = ClusterView::new(false);
        let pod = |name: &str, phase: &str, id: &str| {
            json!({"kind": "Pod", "metadata": {"name": name, "namespace": "a"},
                "spec": {"initContainers": [{"name": "init", "image": "busybox:1"}],
                         "containers": [{"name": "app", "image": "nats:2.10"}, {"name": "side", "image": "  "}]},
                "status": {"phase": phase, "containerStatuses": [{"name": "app", "imageID": id}]}})
        };
        let system = json!({"kind": "Pod", "metadata": {"name": "dns", "namespace": "kube-system"},
            "spec": {"containers": [{"name": "c", "image": "coredns:1"}]}});
        view.set(
            Kind::Pod,
            KindData::Objects(vec![
                pod("p1", "Running", "docker-pullable://nats@sha256:aa"),
                pod("p2", "Running", "docker-pullable://nats@sha256:aa"),
                pod("p3", "Pending", ""),
                pod("done", "Succeeded", "docker-pullable://nats@sha256:old"),
                system,
            ]),
        );
        let images = deployed_images(&view, &scope()).unwrap();
        let refs: Vec<&str> = images.iter().map(|i| i.reference.as_str()).collect();
        assert_eq!(refs, ["busybox:1", "nats:2.10", "nats@sha256:aa"]);
        assert_eq!(images[2].users, ["Pod a/p1 container app", "Pod a/p2 container app"]);
        assert_eq!(images[2].spec_image.as_deref(), Some("nats:2.10"));
        assert!(images[1].no_image_id, "p3 has not pulled its image yet");
        // Live, workloads are not read: the Pods are what runs.
        assert!(view.objects(Kind::Deployment).is_err());
    }

    #[test]
    fn manifests_give_pod_and_template_references() {
        let mut view = ClusterView::new(true);
        view.set(
            Kind::Pod,
            KindData::Objects(vec![json!({"kind": "Pod", "metadata": {"name": "bare"},
                "spec": {"containers": [{"name": "c", "image": "redis:7"}]}})]),
        );
        view.set(
            Kind::CronJob,
            KindData::Objects(vec![json!({"kind": "CronJob", "metadata": {"name": "nightly", "namespace": "b"},
                "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "j", "image": "tool:3"}]}}}}}})]),
        );
        for k in WORKLOAD_KINDS.iter().filter(|k| **k != Kind::CronJob) {
            view.set(*k, KindData::Objects(Vec::new()));
        }
        let images = deployed_images(&view, &scope()).unwrap();
        let got: Vec<(&str, &str)> = images.iter().map(|i| (i.reference.as_str(), i.users[0].as_str())).collect();
        assert_eq!(got, [("redis:7", "Pod default/bare container c"), ("tool:3", "CronJob b/nightly container j")]);
        // A kind that could not be read leaves the images unknown, never empty.
        view.set(Kind::Job, KindData::Gap(crate::cluster::Gap::Offline));
        assert_eq!(deployed_images(&view, &scope()).unwrap_err().code, "offline");
    }
}
