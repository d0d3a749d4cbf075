//! Pods on the real node, through the API only: manifests with the node's defaults, waiting for
//! Ready or for the end with exit code and logs, pod IPs and Service ClusterIPs.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, LogParams, PostParams};
use serde_json::{Value, json};

use super::NODE_NAME;

/// How a pod that ran to its end ended.
#[derive(Debug, Clone)]
pub struct PodOutcome {
    /// `Succeeded` or `Failed`.
    pub phase: String,
    /// Exit code of the first container.
    pub exit_code: Option<i32>,
    /// Logs of the first container (kubelet via the API server).
    pub logs: String,
    /// From the create call (or the start of the wait) to the end being seen.
    pub took: Duration,
}

impl PodOutcome {
    pub fn succeeded(&self) -> bool {
        self.phase == "Succeeded" && self.exit_code == Some(0)
    }
}

/// A one-container pod for the real node: `imagePullPolicy: Never` (images are imported, there
/// is no registry), a nodeSelector for the node (fake nodes of `kubelet.rs` never run pods),
/// `restartPolicy: Never` and a 1 s termination grace (busybox as PID 1 ignores SIGTERM).
/// An empty `command` keeps the image's. Add to the JSON what a test needs (labels, ports,
/// probes).
pub fn pod_json(name: &str, image: &str, command: &[&str]) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": NODE_NAME},
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "main", "image": image, "imagePullPolicy": "Never",
            }],
        },
    });
    if !command.is_empty() {
        pod["spec"]["containers"][0]["command"] = json!(command);
    }
    pod
}

/// Creates the pod described by `pod` (e.g. from [`pod_json`]) in `namespace`.
pub async fn create_pod(client: &kube::Client, namespace: &str, pod: &Value) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod: Pod = serde_json::from_value(pod.clone()).unwrap_or_else(|e| panic!("not a Pod: {e}: {pod}"));
    let name = pod.metadata.name.clone().unwrap_or_default();
    match pods.create(&PostParams::default(), &pod).await {
        Ok(created) => created,
        Err(e) => panic!("create pod {namespace}/{name}: {e}"),
    }
}

/// The pod's `Ready` condition, if the kubelet wrote one.
pub fn ready_condition(pod: &Pod) -> Option<bool> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().find(|c| c.type_ == "Ready").map(|c| c.status == "True")
}

fn phase(pod: &Pod) -> String {
    pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default()
}

/// A short account of a pod's state for failure messages.
pub fn describe(pod: &Pod) -> String {
    let status = pod.status.as_ref().map(|s| serde_json::to_value(s).unwrap_or_default()).unwrap_or_default();
    let containers = status.get("containerStatuses").cloned().unwrap_or_default();
    format!("phase {:?}, ready {:?}, containers {containers}", phase(pod), ready_condition(pod))
}

/// Waits until pod `name` is Ready (its readiness probes passed on the kubelet).
pub async fn wait_ready(client: &kube::Client, namespace: &str, name: &str, timeout: Duration) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    super::super::eventually(&format!("pod {namespace}/{name} Ready"), timeout, || {
        let pods = pods.clone();
        async move {
            let pod = pods.get(name).await.map_err(|e| e.to_string())?;
            if ready_condition(&pod) == Some(true) { Ok(pod) } else { Err(describe(&pod)) }
        }
    })
    .await
}

/// Waits until pod `name` has ended (phase Succeeded or Failed, first container terminated) and
/// returns how, with its logs. `took` counts from the call.
pub async fn wait_finished(client: &kube::Client, namespace: &str, name: &str, timeout: Duration) -> PodOutcome {
    let started = Instant::now();
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let (phase, exit_code) = super::super::eventually(&format!("pod {namespace}/{name} to end"), timeout, || {
        let pods = pods.clone();
        async move {
            let pod = pods.get(name).await.map_err(|e| e.to_string())?;
            let phase = phase(&pod);
            let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
            let code = statuses.first().and_then(|c| c.state.as_ref()?.terminated.as_ref().map(|t| t.exit_code));
            match (phase.as_str(), code) {
                ("Succeeded" | "Failed", Some(code)) => Ok((phase, Some(code))),
                _ => Err(describe(&pod)),
            }
        }
    })
    .await;
    let took = started.elapsed();
    let logs = logs(client, namespace, name).await.unwrap_or_else(|e| format!("(no logs: {e})"));
    PodOutcome { phase, exit_code, logs, took }
}

/// Logs of the pod's first container, via the API server and the kubelet.
pub async fn logs(client: &kube::Client, namespace: &str, name: &str) -> Result<String, String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    pods.logs(name, &LogParams::default()).await.map_err(|e| format!("logs of pod {namespace}/{name}: {e}"))
}

/// Runs `script` with busybox `sh -c` in a new pod `name` and waits for its end. Busybox 1.35
/// notes: `wget -T` crashes, use `timeout 5 wget -q -O- URL`; `nc -w 3 IP PORT` bounds a
/// connect; there is no cluster DNS, use IPs.
pub async fn run_shell(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    script: &str,
    timeout: Duration,
) -> PodOutcome {
    let started = Instant::now();
    create_pod(client, namespace, &pod_json(name, super::BUSYBOX_IMAGE, &["sh", "-c", script])).await;
    let outcome = wait_finished(client, namespace, name, timeout).await;
    PodOutcome { took: started.elapsed(), ..outcome }
}

/// The pod's IP (set once its sandbox has a network).
pub async fn pod_ip(client: &kube::Client, namespace: &str, name: &str) -> Ipv4Addr {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    super::super::eventually(&format!("IP of pod {namespace}/{name}"), Duration::from_secs(60), || {
        let pods = pods.clone();
        async move {
            let pod = pods.get(name).await.map_err(|e| e.to_string())?;
            let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).ok_or_else(|| describe(&pod))?;
            ip.parse::<Ipv4Addr>().map_err(|e| format!("pod IP {ip:?}: {e}"))
        }
    })
    .await
}

/// The ClusterIP of Service `name`.
pub async fn cluster_ip(client: &kube::Client, namespace: &str, name: &str) -> Ipv4Addr {
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let svc = services.get(name).await.unwrap_or_else(|e| panic!("get service {namespace}/{name}: {e}"));
    let ip = svc.spec.and_then(|s| s.cluster_ip).unwrap_or_default();
    ip.parse::<Ipv4Addr>().unwrap_or_else(|e| panic!("ClusterIP {ip:?} of service {namespace}/{name}: {e}"))
}
