//! Probe pods on the live cluster: their spec and labels, reading their outcome, permissions,
//! deleting them (recorded and by run label) and sweeping leftovers of crashed runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

pub const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "kgents-gate";
pub const RUN_ID_LABEL: &str = "kgents-gate/run-id";
/// `probe`, `canary-target` or `canary-probe`.
pub const ROLE_LABEL: &str = "kgents-gate/role";
/// Objects of ours older than this belong to a run that crashed: swept at the start.
pub const STALE_AFTER: Duration = Duration::from_secs(600);
pub const CANARY_PREFIX: &str = "kgents-gate-canary-";

/// The labels every object we create carries, plus the role.
pub fn our_labels(run_id: &str, role: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_KEY.to_string(), MANAGED_BY.to_string()),
        (RUN_ID_LABEL.to_string(), run_id.to_string()),
        (ROLE_LABEL.to_string(), role.to_string()),
    ])
}

/// A pod running `command` once (restartPolicy Never), ending itself after `deadline_secs`.
pub fn pod_spec(
    name: &str,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    image: &str,
    command: &[String],
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
            "containers": [{
                "name": "probe", "image": image, "command": command,
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}}
            }]
        }
    }))
    .map_err(|e| format!("probe pod spec: {e}"))
}

/// `command` with `{host}`, `{port}` and `{timeout}` replaced.
pub fn fill_command(template: &[String], host: &str, port: u16, timeout: Duration) -> Vec<String> {
    let secs = timeout.as_secs().max(1).to_string();
    template
        .iter()
        .map(|a| a.replace("{host}", host).replace("{port}", &port.to_string()).replace("{timeout}", &secs))
        .collect()
}

/// What a finished (or given up) probe pod says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Reachable,
    Blocked,
    /// The probe did not run to a conclusion: the reason.
    NotRun(String),
}

fn exit_code(pod: &Pod) -> Option<i32> {
    let st = pod.status.as_ref()?.container_statuses.as_ref()?.first()?;
    Some(st.state.as_ref()?.terminated.as_ref()?.exit_code)
}

/// The outcome of a pod, or None while it is still pending or running.
pub fn outcome_of(pod: &Pod) -> Option<Probe> {
    let status = pod.status.as_ref()?;
    match status.phase.as_deref() {
        Some("Succeeded") => Some(Probe::Reachable),
        Some("Failed") => match exit_code(pod) {
            Some(1) => Some(Probe::Blocked),
            Some(code) => Some(Probe::NotRun(format!("the probe command exited with code {code}, not 0 or 1"))),
            None => Some(Probe::NotRun(format!(
                "the pod failed before the probe ran ({})",
                status.reason.clone().unwrap_or_else(|| "no exit code".into())
            ))),
        },
        _ => None,
    }
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

/// A short form of an API error; 403 is reported with the permission.
pub fn api_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        other => other.to_string(),
    }
}

pub fn is_forbidden(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403)
}

/// The first of `(verb, group, resource, namespace)` the credentials lack, as
/// `verb resource in namespace NS` (or `(cluster-wide)`). Errors of the review itself are
/// ignored: the calls that follow report their own refusal.
pub async fn missing_permission(client: &kube::Client, wanted: &[(&str, &str, &str, Option<&str>)]) -> Option<String> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    for (verb, group, resource, ns) in wanted {
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
        if let Ok(r) = api.create(&PostParams::default(), &review).await
            && !r.status.is_some_and(|s| s.allowed)
        {
            return Some(match ns {
                Some(ns) => format!("{verb} {resource} in namespace {ns}"),
                None => format!("{verb} {resource} (cluster-wide)"),
            });
        }
    }
    None
}

/// Objects this run created, for cleanup.
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
    fn take(&self) -> (Vec<(String, String)>, Vec<String>) {
        let pods = self.pods.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
        let nss = self.namespaces.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
        (pods, nss)
    }
}

fn delete_now() -> DeleteParams {
    DeleteParams { grace_period_seconds: Some(0), ..Default::default() }
}

/// Deletes what this run created: the recorded pods, any pod with this run's label in
/// `namespaces` (a create whose answer was lost), and the scratch namespaces. Errors are
/// returned as text (the objects named) so the report can say what was left behind.
pub async fn cleanup(client: &kube::Client, created: &Created, namespaces: &[String], run_id: &str) -> Vec<String> {
    let (pods, scratch) = created.take();
    let mut left = Vec::new();
    for (ns, name) in &pods {
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        match tokio::time::timeout(Duration::from_secs(5), api.delete(name, &delete_now())).await {
            Ok(Ok(_)) => {}
            Ok(Err(kube::Error::Api(s))) if s.code == 404 => {}
            _ => left.push(format!("pod {ns}/{name}")),
        }
    }
    let lp = ListParams::default().labels(&format!("{MANAGED_BY_KEY}={MANAGED_BY},{RUN_ID_LABEL}={run_id}"));
    for ns in namespaces {
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        if let Ok(Ok(list)) = tokio::time::timeout(Duration::from_secs(5), api.list(&lp)).await {
            for p in list.items {
                let name = p.metadata.name.unwrap_or_default();
                if p.metadata.deletion_timestamp.is_none() && api.delete(&name, &delete_now()).await.is_err() {
                    left.push(format!("pod {ns}/{name}"));
                }
            }
        }
    }
    let api: Api<Namespace> = Api::all(client.clone());
    for ns in &scratch {
        match tokio::time::timeout(Duration::from_secs(5), api.delete(ns, &DeleteParams::default())).await {
            Ok(Ok(_)) => {}
            Ok(Err(kube::Error::Api(s))) if s.code == 404 => {}
            _ => left.push(format!("namespace {ns}")),
        }
    }
    left
}

fn older_than(created: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>, age: Duration) -> bool {
    let Some(t) = created else { return false };
    // k8s-openapi carries its own jiff version: compare in plain seconds.
    let now = jiff::Timestamp::now().as_second();
    now.saturating_sub(t.0.as_second()) > age.as_secs() as i64
}

/// Deletes our pods (and scratch namespaces) left by runs that crashed: older than `STALE_AFTER`.
/// Returns how many were deleted. Best effort: refusals are left to the permission check.
pub async fn sweep(client: &kube::Client, namespaces: &[String], canary: bool) -> usize {
    let lp = ListParams::default().labels(&format!("{MANAGED_BY_KEY}={MANAGED_BY}"));
    let mut swept = 0;
    for ns in namespaces {
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        let Ok(list) = api.list(&lp).await else { continue };
        for p in list.items {
            if older_than(p.metadata.creation_timestamp.as_ref(), STALE_AFTER)
                && let Some(name) = p.metadata.name
                && api.delete(&name, &delete_now()).await.is_ok()
            {
                swept += 1;
            }
        }
    }
    if canary {
        let api: Api<Namespace> = Api::all(client.clone());
        if let Ok(list) = api.list(&lp).await {
            for n in list.items {
                let Some(name) = n.metadata.name.clone() else { continue };
                if name.starts_with(CANARY_PREFIX)
                    && n.metadata.deletion_timestamp.is_none()
                    && older_than(n.metadata.creation_timestamp.as_ref(), STALE_AFTER)
                    && api.delete(&name, &DeleteParams::default()).await.is_ok()
                {
                    swept += 1;
                }
            }
        }
    }
    swept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "status": status})).unwrap()
    }

    fn terminated(phase: &str, code: i32) -> Pod {
        pod(json!({"phase": phase, "containerStatuses": [{"name": "probe", "image": "i", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"terminated": {"exitCode": code}}}]}))
    }

    #[test]
    fn exit_codes_decide_reachable_and_blocked_only() {
        assert_eq!(outcome_of(&terminated("Succeeded", 0)), Some(Probe::Reachable));
        assert_eq!(outcome_of(&terminated("Failed", 1)), Some(Probe::Blocked));
        // "command not found" says nothing about the network.
        assert!(matches!(outcome_of(&terminated("Failed", 127)), Some(Probe::NotRun(r)) if r.contains("127")));
        let deadline = pod(json!({"phase": "Failed", "reason": "DeadlineExceeded"}));
        assert!(matches!(outcome_of(&deadline), Some(Probe::NotRun(r)) if r.contains("DeadlineExceeded")));
        assert_eq!(outcome_of(&pod(json!({"phase": "Pending"}))), None);
        assert_eq!(outcome_of(&pod(json!({"phase": "Running"}))), None);
    }

    #[test]
    fn pending_reasons_name_the_cause() {
        let pulling =
            pod(json!({"phase": "Pending", "containerStatuses": [{"name": "probe", "image": "i", "imageID": "",
            "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}));
        assert_eq!(pending_reason(&pulling), "container waiting: ImagePullBackOff");
        assert_eq!(pending_reason(&pod(json!({"phase": "Pending"}))), "never scheduled to a node");
        let p: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap();
        assert!(pending_reason(&p).contains("not scheduled"));
    }

    #[test]
    fn probe_pods_run_once_end_themselves_and_carry_our_labels() {
        let cmd = fill_command(&super::super::params::default_command(), "10.0.0.7", 4222, Duration::from_millis(2500));
        assert_eq!(cmd, ["nc", "-z", "-w", "2", "10.0.0.7", "4222"]);
        let labels = our_labels("abc", "probe");
        let p = pod_spec("n", "ns", &labels, "busybox:1.36", &cmd, 30).unwrap();
        let spec = p.spec.unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(spec.active_deadline_seconds, Some(30));
        assert_eq!(spec.automount_service_account_token, Some(false));
        assert_eq!(spec.containers[0].command.as_deref(), Some(&cmd[..]));
        let l = p.metadata.labels.unwrap();
        assert_eq!(l.get(MANAGED_BY_KEY).map(String::as_str), Some(MANAGED_BY));
        assert_eq!(l.get(RUN_ID_LABEL).map(String::as_str), Some("abc"));
    }

    #[test]
    fn only_old_objects_are_stale() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let now = k8s_openapi::jiff::Timestamp::now();
        let old = Time(now.checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(3600)).unwrap());
        assert!(older_than(Some(&old), STALE_AFTER));
        assert!(!older_than(Some(&Time(now)), STALE_AFTER));
        assert!(!older_than(None, STALE_AFTER));
    }
}
