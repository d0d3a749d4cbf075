//! Probe pods on the live cluster: their specs and labels (probe pods with a positive-control
//! container, listening targets), reading what a probe pod saw, permissions, deleting what a
//! run created, and finding leftovers of crashed runs in the cluster view.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

use super::script::{Seen, seen_in};

pub const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "kgents-gate";
pub const RUN_ID_LABEL: &str = "kgents-gate/run-id";
/// `probe`, `scratch`, `control-target`, `canary-target` or `canary-probe`.
pub const ROLE_LABEL: &str = "kgents-gate/role";
/// Objects of ours older than this belong to a run that crashed: swept at the start.
pub const STALE_AFTER: Duration = Duration::from_secs(600);
/// The scratch namespace of a run: `kgents-gate-scratch-<run id>`.
pub const SCRATCH_PREFIX: &str = "kgents-gate-scratch-";
/// The container that tries the destination, and the one that tries the control target.
pub const PROBE_CONTAINER: &str = "probe";
pub const CONTROL_CONTAINER: &str = "control";
/// The port the targets the gate starts listen on.
pub const TARGET_PORT: u16 = 8080;

/// The labels every object we create carries, plus the role.
pub fn our_labels(run_id: &str, role: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_KEY.to_string(), MANAGED_BY.to_string()),
        (RUN_ID_LABEL.to_string(), run_id.to_string()),
        (ROLE_LABEL.to_string(), role.to_string()),
    ])
}

/// The label selector of everything one run created.
pub fn run_selector(run_id: &str) -> String {
    format!("{MANAGED_BY_KEY}={MANAGED_BY},{RUN_ID_LABEL}={run_id}")
}

fn container(name: &str, image: &str, command: &[String]) -> Value {
    json!({
        "name": name, "image": image, "command": command,
        // The result is in the termination message; the log tail stands in when the tool failed
        // before writing it.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}}
    })
}

fn pod_of(
    name: &str,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    containers: Vec<Value>,
    deadline_secs: i64,
) -> Result<Pod, String> {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": deadline_secs.max(1),
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": false,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65534, "runAsGroup": 65534},
            "containers": containers,
        }
    }))
    .map_err(|e| format!("probe pod spec: {e}"))
}

/// A pod running `probe` once (restartPolicy Never) and, beside it in the same pod (the same
/// network identity), `control` against a target that must be reachable; it ends itself after
/// `deadline_secs`.
pub fn probe_pod(
    name: &str,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    image: &str,
    probe: &[String],
    control: Option<&[String]>,
    deadline_secs: i64,
) -> Result<Pod, String> {
    let mut containers = vec![container(PROBE_CONTAINER, image, probe)];
    if let Some(c) = control {
        containers.push(container(CONTROL_CONTAINER, image, c));
    }
    pod_of(name, namespace, labels, containers, deadline_secs)
}

/// A target the gate starts: busybox httpd on [`TARGET_PORT`], Ready once it listens.
pub fn target_pod(
    name: &str,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    image: &str,
    deadline_secs: i64,
) -> Result<Pod, String> {
    let serve: Vec<String> = ["httpd", "-f", "-p", "8080", "-h", "/tmp"].iter().map(|s| s.to_string()).collect();
    let mut c = container("target", image, &serve);
    c["ports"] = json!([{"containerPort": TARGET_PORT}]);
    c["readinessProbe"] = json!({"tcpSocket": {"port": TARGET_PORT}, "periodSeconds": 1});
    pod_of(name, namespace, labels, vec![c], deadline_secs)
}

/// `command` with `{host}`, `{port}` and `{timeout}` replaced.
pub fn fill_command(template: &[String], host: &str, port: u16, timeout: Duration) -> Vec<String> {
    let secs = timeout.as_secs().max(1).to_string();
    template
        .iter()
        .map(|a| a.replace("{host}", host).replace("{port}", &port.to_string()).replace("{timeout}", &secs))
        .collect()
}

/// What a probe pod saw: the destination, and the control target when it ran one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSeen {
    pub target: Seen,
    pub control: Option<Seen>,
}

fn container_seen(pod: &Pod, name: &str, image: &str) -> Option<Seen> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    seen_in(statuses.iter().find(|c| c.name == name)?, image)
}

/// What a probe pod saw, or None while a container it runs has no result yet.
pub fn pod_seen(pod: &Pod, image: &str) -> Option<PodSeen> {
    let with_control = pod.spec.as_ref().is_some_and(|s| s.containers.iter().any(|c| c.name == CONTROL_CONTAINER));
    let status = pod.status.as_ref()?;
    // The pod ended without a container's result (deadline, evicted): what is missing did not run.
    let ended = matches!(status.phase.as_deref(), Some("Failed" | "Succeeded"));
    let why = || {
        let reason = status.reason.clone().or_else(|| status.message.clone()).unwrap_or_else(|| "ended".into());
        Seen::NotRun(format!("the pod ended first ({reason})"))
    };
    let target = match container_seen(pod, PROBE_CONTAINER, image) {
        Some(s) => s,
        None if ended => why(),
        None => return None,
    };
    let control = match (with_control, container_seen(pod, CONTROL_CONTAINER, image)) {
        (false, _) => None,
        (true, Some(s)) => Some(s),
        (true, None) if ended => Some(why()),
        (true, None) => return None,
    };
    Some(PodSeen { target, control })
}

/// Why a target pod will never listen: it ended, or its container cannot start.
pub fn target_failed(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let container = status.container_statuses.iter().flatten().next();
    if let Some(Seen::ToolError(e)) = container.and_then(|c| seen_in(c, "")) {
        return Some(e);
    }
    matches!(status.phase.as_deref(), Some("Failed" | "Succeeded"))
        .then(|| format!("it ended ({})", status.reason.clone().unwrap_or_else(|| "no reason given".into())))
}

/// Ready with an IP: a target that can be tried.
pub fn ready_ip(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let ready = status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
    if ready { status.pod_ip.clone() } else { None }
}

/// Why a pod has not finished: waiting reason, not scheduled, or its phase.
pub fn pending_reason(pod: &Pod) -> String {
    let Some(status) = pod.status.as_ref() else { return "no status yet (not scheduled)".into() };
    let waiting =
        status.container_statuses.iter().flatten().find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
    if let Some(w) = waiting {
        return format!("container waiting: {w}");
    }
    let scheduled = status.conditions.iter().flatten().any(|c| c.type_ == "PodScheduled" && c.status == "True");
    if !scheduled {
        return "never scheduled to a node".into();
    }
    format!("phase {}", status.phase.clone().unwrap_or_else(|| "unknown".into()))
}

/// A short form of an API error.
pub fn api_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, crate::redact::redact_text(&s.message)),
        other => crate::redact::redact_text(&other.to_string()).into_owned(),
    }
}

pub fn is_forbidden(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403)
}

/// One permission as `(verb, group, resource, namespace)`.
pub type Permission<'a> = (&'a str, &'a str, &'a str, Option<&'a str>);

pub fn permission_text((verb, _, resource, ns): &Permission<'_>) -> String {
    match ns {
        Some(ns) => format!("{verb} {resource} in namespace {ns}"),
        None => format!("{verb} {resource} (cluster-wide)"),
    }
}

/// Whether the credentials have `perm` (a SelfSubjectAccessReview). Errors of the review itself
/// count as allowed: the calls that follow report their own refusal.
pub async fn has_permission(client: &kube::Client, perm: &Permission<'_>) -> bool {
    let (verb, group, resource, ns) = perm;
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.to_string()),
                group: Some(group.to_string()),
                resource: Some(resource.to_string()),
                namespace: ns.map(String::from),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &review).await {
        Ok(r) => r.status.is_some_and(|s| s.allowed),
        Err(_) => true,
    }
}

/// Objects created, for cleanup.
#[derive(Debug, Clone, Default)]
pub struct Created {
    pods: Arc<Mutex<Vec<(String, String)>>>,
    namespaces: Arc<Mutex<Vec<String>>>,
}

impl Created {
    pub fn pod(&self, ns: &str, name: &str) {
        if let Ok(mut v) = self.pods.lock() {
            v.push((ns.to_string(), name.to_string()));
        }
    }
    pub fn namespace(&self, name: &str) {
        if let Ok(mut v) = self.namespaces.lock() {
            v.push(name.to_string());
        }
    }
    pub fn take_pods(&self) -> Vec<(String, String)> {
        self.pods.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default()
    }
    pub fn take_namespaces(&self) -> Vec<String> {
        self.namespaces.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default()
    }
}

fn delete_now() -> DeleteParams {
    DeleteParams { grace_period_seconds: Some(0), ..Default::default() }
}

/// Deletes pods by name; returns those that could not be deleted (`pod NS/NAME`).
pub async fn delete_pods(client: &kube::Client, pods: &[(String, String)]) -> Vec<String> {
    let deletes = pods.iter().map(|(ns, name)| async move {
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        match tokio::time::timeout(Duration::from_secs(5), api.delete(name, &delete_now())).await {
            Ok(Ok(_)) => None,
            Ok(Err(kube::Error::Api(s))) if s.code == 404 => None,
            _ => Some(format!("pod {ns}/{name}")),
        }
    });
    futures::future::join_all(deletes).await.into_iter().flatten().collect()
}

/// Deletes namespaces (and so everything in them); returns those that could not be deleted.
pub async fn delete_namespaces(client: &kube::Client, names: &[String]) -> Vec<String> {
    let api: Api<Namespace> = Api::all(client.clone());
    let mut left = Vec::new();
    for ns in names {
        match tokio::time::timeout(Duration::from_secs(5), api.delete(ns, &DeleteParams::default())).await {
            Ok(Ok(_)) => {}
            Ok(Err(kube::Error::Api(s))) if s.code == 404 => {}
            _ => left.push(format!("namespace {ns}")),
        }
    }
    left
}

fn older_than(created: Option<&str>, age: Duration) -> bool {
    let Some(t) = created.and_then(|t| t.parse::<jiff::Timestamp>().ok()) else { return false };
    let now = jiff::Timestamp::now().as_second();
    now.saturating_sub(t.as_second()) > age.as_secs() as i64
}

/// Our objects in `objects` (Pods or Namespaces of the cluster view) left by runs that crashed:
/// labelled ours, of another run, older than [`STALE_AFTER`]. `(namespace, name)`.
pub fn stale(objects: &[Value], run_id: &str) -> Vec<(Option<String>, String)> {
    objects
        .iter()
        .filter_map(|o| {
            let meta = o.get("metadata")?;
            let labels = meta.get("labels")?;
            let ours = labels.get(MANAGED_BY_KEY).and_then(Value::as_str) == Some(MANAGED_BY);
            let other_run = labels.get(RUN_ID_LABEL).and_then(Value::as_str) != Some(run_id);
            let created = meta.get("creationTimestamp").and_then(Value::as_str);
            let deleting = meta.get("deletionTimestamp").is_some();
            (ours && other_run && !deleting && older_than(created, STALE_AFTER)).then(|| {
                let ns = meta.get("namespace").and_then(Value::as_str).map(String::from);
                (ns, meta.get("name").and_then(Value::as_str).unwrap_or_default().to_string())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(containers: &[&str], status: Value) -> Pod {
        let containers: Vec<Value> = containers.iter().map(|c| json!({"name": c, "image": "i"})).collect();
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": containers}, "status": status}))
            .unwrap()
    }

    fn terminated(name: &str, message: &str) -> Value {
        json!({"name": name, "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "message": message}}})
    }

    #[test]
    fn a_probe_pod_concludes_when_both_containers_have_a_result() {
        let both = [PROBE_CONTAINER, CONTROL_CONTAINER];
        let one =
            pod(&both, json!({"phase": "Running", "containerStatuses": [terminated("probe", "KGENTS-PROBE refused")]}));
        assert_eq!(pod_seen(&one, "i"), None, "the control is still running");
        let done = pod(
            &both,
            json!({"phase": "Succeeded", "containerStatuses": [
            terminated("probe", "KGENTS-PROBE refused"), terminated("control", "KGENTS-PROBE reachable")]}),
        );
        assert_eq!(
            pod_seen(&done, "i"),
            Some(PodSeen { target: Seen::Refused(String::new()), control: Some(Seen::Reachable) })
        );
        let alone = pod(
            &[PROBE_CONTAINER],
            json!({"phase": "Succeeded", "containerStatuses": [
            terminated("probe", "KGENTS-PROBE reachable")]}),
        );
        assert_eq!(pod_seen(&alone, "i"), Some(PodSeen { target: Seen::Reachable, control: None }));
        let deadline = pod(&both, json!({"phase": "Failed", "reason": "DeadlineExceeded"}));
        let seen = pod_seen(&deadline, "i").unwrap();
        assert!(matches!(&seen.target, Seen::NotRun(r) if r.contains("DeadlineExceeded")), "{seen:?}");
        assert_eq!(pod_seen(&pod(&both, json!({"phase": "Pending"})), "i"), None);
    }

    #[test]
    fn pending_reasons_name_the_cause() {
        let pulling = pod(
            &["probe"],
            json!({"phase": "Pending", "containerStatuses": [{"name": "probe", "image": "i",
            "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}),
        );
        assert_eq!(pending_reason(&pulling), "container waiting: ImagePullBackOff");
        assert_eq!(pending_reason(&pod(&["probe"], json!({"phase": "Pending"}))), "never scheduled to a node");
        let p: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap();
        assert!(pending_reason(&p).contains("not scheduled"));
    }

    #[test]
    fn probe_pods_run_once_end_themselves_and_carry_our_labels() {
        let cmd = fill_command(&super::super::script::default_command(), "10.0.0.7", 4222, Duration::from_millis(2500));
        assert_eq!(&cmd[4..], ["10.0.0.7", "4222", "2"]);
        let control =
            fill_command(&super::super::script::default_command(), "10.0.0.9", TARGET_PORT, Duration::from_secs(3));
        let labels = our_labels("abc", "probe");
        let p = probe_pod("n", "ns", &labels, "busybox:1.36", &cmd, Some(&control), 30).unwrap();
        let spec = p.spec.unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(spec.active_deadline_seconds, Some(30));
        assert_eq!(spec.automount_service_account_token, Some(false));
        let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, [PROBE_CONTAINER, CONTROL_CONTAINER]);
        assert_eq!(spec.containers[0].command.as_deref(), Some(&cmd[..]));
        assert_eq!(spec.containers[1].termination_message_policy.as_deref(), Some("FallbackToLogsOnError"));
        let l = p.metadata.labels.unwrap();
        assert_eq!(l.get(MANAGED_BY_KEY).map(String::as_str), Some(MANAGED_BY));
        assert_eq!(l.get(RUN_ID_LABEL).map(String::as_str), Some("abc"));
    }

    #[test]
    fn only_old_objects_of_other_runs_are_stale() {
        let old = "2020-01-01T00:00:00Z";
        let now = jiff::Timestamp::now().to_string();
        let obj = |run: &str, at: &str| {
            json!({"metadata": {"name": format!("p-{run}"), "namespace": "ns", "creationTimestamp": at,
                "labels": {MANAGED_BY_KEY: MANAGED_BY, RUN_ID_LABEL: run}}})
        };
        let foreign = json!({"metadata": {"name": "theirs", "creationTimestamp": old, "labels": {"app": "x"}}});
        let objects = vec![obj("a", old), obj("b", &now), obj("mine", old), foreign];
        assert_eq!(stale(&objects, "mine"), [(Some("ns".to_string()), "p-a".to_string())]);
    }
}
