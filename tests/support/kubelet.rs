//! Playing the kubelet the test control plane lacks: writing pod status (Running and Ready or
//! not, exited with a code, waiting with a reason), Node objects, and pod bindings.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// A pod state the harness can write into `pods/<name>/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodState {
    /// Running, containers started and ready, `Ready` condition True.
    Ready,
    /// Running, containers started but not ready (a failing readiness probe).
    NotReady,
    /// Every container terminated with this exit code: phase Succeeded for 0, else Failed.
    Exited(i32),
    /// Pending with containers waiting for `reason` (e.g. `ImagePullBackOff`).
    Waiting(String),
    /// Every container terminated: those named with their exit code and termination message
    /// (what a container writes to /dev/termination-log), the others with 0 and none. Phase
    /// Succeeded when every code is 0, else Failed.
    Ended(Vec<(String, i32, String)>),
}

fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A distinct fake pod IP per pod (10.244.0.0/16), so pods look like a real network's.
fn next_pod_ip() -> String {
    static N: AtomicU32 = AtomicU32::new(2);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("10.244.{}.{}", (n >> 8) & 0xff, n & 0xff)
}

fn condition(kind: &str, ok: bool, at: &str) -> Value {
    json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastTransitionTime": at})
}

/// The status a kubelet would write for `pod` in `state`.
pub fn status_for(pod: &Pod, state: &PodState) -> Value {
    let at = now();
    let spec = pod.spec.clone().unwrap_or_default();
    let old_ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone());
    let ip = old_ip.unwrap_or_else(next_pod_ip);
    let (phase, ready, container_state) = match state {
        PodState::Ready => ("Running", true, json!({"running": {"startedAt": at}})),
        PodState::NotReady => ("Running", false, json!({"running": {"startedAt": at}})),
        PodState::Exited(code) => {
            let phase = if *code == 0 { "Succeeded" } else { "Failed" };
            let reason = if *code == 0 { "Completed" } else { "Error" };
            let term = json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": at, "finishedAt": at}});
            (phase, false, term)
        }
        PodState::Waiting(reason) => ("Pending", false, json!({"waiting": {"reason": reason}})),
        PodState::Ended(ends) => {
            let failed = ends.iter().any(|(_, code, _)| *code != 0);
            (if failed { "Failed" } else { "Succeeded" }, false, json!({}))
        }
    };
    let containers: Vec<Value> = spec
        .containers
        .iter()
        .map(|c| {
            let cstate = match state {
                PodState::Ended(ends) => {
                    let (code, message) = ends
                        .iter()
                        .find(|(name, _, _)| *name == c.name)
                        .map_or((0, String::new()), |(_, code, message)| (*code, message.clone()));
                    let reason = if code == 0 { "Completed" } else { "Error" };
                    json!({"terminated": {"exitCode": code, "reason": reason, "message": message,
                        "startedAt": at, "finishedAt": at}})
                }
                _ => container_state.clone(),
            };
            json!({
                "name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                "containerID": format!("harness://{}", c.name), "ready": ready,
                "started": matches!(state, PodState::Ready | PodState::NotReady),
                "restartCount": 0, "state": cstate,
            })
        })
        .collect();
    let init: Vec<Value> = spec
        .init_containers
        .unwrap_or_default()
        .iter()
        .map(|c| {
            json!({
                "name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                "ready": true, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": at, "finishedAt": at}},
            })
        })
        .collect();
    let pending = matches!(state, PodState::Waiting(_));
    json!({"status": {
        "phase": phase,
        "hostIP": "127.0.0.1",
        "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": at,
        "conditions": [
            condition("Initialized", !pending, &at),
            condition("Ready", ready, &at),
            condition("ContainersReady", ready, &at),
            condition("PodScheduled", true, &at),
        ],
        "containerStatuses": containers,
        "initContainerStatuses": init,
    }})
}

/// Writes `state` into the status of pod `namespace/name`.
pub async fn set_pod_state(client: &kube::Client, namespace: &str, name: &str, state: PodState) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = pods.get(name).await.unwrap_or_else(|e| panic!("get pod {namespace}/{name}: {e}"));
    write_state(&pods, &pod, &state).await.unwrap_or_else(|e| panic!("{e}"))
}

async fn write_state(pods: &Api<Pod>, pod: &Pod, state: &PodState) -> Result<Pod, String> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let patch = status_for(pod, state);
    pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| format!("patch status of pod {name}: {e}"))
}

/// `status` (from [`status_for`]) with the `imageID` a runtime reports for some containers, by
/// container name (init or regular), e.g. `docker-pullable://redis@sha256:...` as dockershim
/// writes it or `docker.io/library/redis@sha256:...` as containerd does.
pub fn with_image_ids(mut status: Value, image_ids: &[(&str, &str)]) -> Value {
    for list in ["containerStatuses", "initContainerStatuses"] {
        if let Some(items) = status.pointer_mut(&format!("/status/{list}")).and_then(Value::as_array_mut) {
            for c in items {
                let name = c.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                if let Some((_, id)) = image_ids.iter().find(|(n, _)| *n == name) {
                    c["imageID"] = Value::String(id.to_string());
                }
            }
        }
    }
    status
}

/// Writes `state` into the status of pod `namespace/name`, with the image IDs the runtime
/// pulled for its containers (see [`with_image_ids`]).
pub async fn set_pod_state_with_image_ids(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    state: PodState,
    image_ids: &[(&str, &str)],
) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = pods.get(name).await.unwrap_or_else(|e| panic!("get pod {namespace}/{name}: {e}"));
    let patch = with_image_ids(status_for(&pod, &state), image_ids);
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("patch status of pod {name}: {e}"))
}

/// Whether the pod's `Ready` condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Waits until `count` live pods match `selector` in `namespace`, marking each Ready as it
/// appears; returns them. Works for StatefulSets with OrderedReady, whose pods appear one by
/// one, each after the previous is Ready.
pub async fn ready_pods(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
    count: usize,
    timeout: Duration,
) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let what = format!("{count} Ready pods matching {selector:?} in {namespace}");
    super::eventually(&what, timeout, || {
        let pods = pods.clone();
        async move {
            let list = pods.list(&ListParams::default().labels(selector)).await.map_err(|e| e.to_string())?;
            let mut ready = Vec::new();
            for pod in list.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
                if is_ready(&pod) {
                    ready.push(pod);
                } else {
                    ready.push(write_state(&pods, &pod, &PodState::Ready).await?);
                }
            }
            if ready.len() == count { Ok(ready) } else { Err(format!("{} Ready so far", ready.len())) }
        }
    })
    .await
}

/// A background kubelet for one namespace: every pod matching the selector gets the state
/// `decide` picks (`None` leaves it alone, e.g. Pending), once per pod. Stops on Drop.
pub struct PodStatePlayer {
    task: tokio::task::JoinHandle<()>,
}

impl PodStatePlayer {
    /// Starts the player on the current runtime. Useful for pods made by the code under test
    /// (probe pods, Jobs): e.g. `|_| Some(PodState::Exited(0))`.
    pub fn start<F>(client: &kube::Client, namespace: &str, selector: &str, decide: F) -> PodStatePlayer
    where
        F: Fn(&Pod) -> Option<PodState> + Send + 'static,
    {
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let params = ListParams::default().labels(selector);
        let task = tokio::spawn(async move {
            let mut done: HashMap<String, PodState> = HashMap::new();
            loop {
                if let Ok(list) = pods.list(&params).await {
                    for pod in list.items {
                        let uid = pod.metadata.uid.clone().unwrap_or_default();
                        if done.contains_key(&uid) || pod.metadata.deletion_timestamp.is_some() {
                            continue;
                        }
                        if let Some(state) = decide(&pod)
                            && write_state(&pods, &pod, &state).await.is_ok()
                        {
                            done.insert(uid, state);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        PodStatePlayer { task }
    }
}

impl Drop for PodStatePlayer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Creates a Ready Node `name` with `labels` (and 4 CPU / 8 GiB / 110 pods allocatable).
pub async fn create_node(client: &kube::Client, name: &str, labels: &[(&str, &str)]) -> Node {
    let labels: HashMap<&str, &str> = labels.iter().copied().collect();
    let node: Node = serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).expect("node");
    let nodes: Api<Node> = Api::all(client.clone());
    nodes.create(&PostParams::default(), &node).await.unwrap_or_else(|e| panic!("create node {name}: {e}"));
    let at = now();
    let resources = json!({"cpu": "4", "memory": "8Gi", "pods": "110"});
    let status = json!({"status": {
        "capacity": resources, "allocatable": resources,
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "lastHeartbeatTime": at, "lastTransitionTime": at}],
        "nodeInfo": {"kubeletVersion": "v1.20.2", "kubeProxyVersion": "v1.20.2", "architecture": "amd64",
                     "operatingSystem": "linux", "osImage": "test", "kernelVersion": "", "machineID": "",
                     "systemUUID": "", "bootID": "", "containerRuntimeVersion": "harness://1"},
    }});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap_or_else(|e| panic!("set status of node {name}: {e}"))
}

/// Binds pod `namespace/name` to `node`, as the scheduler would (sets `spec.nodeName`).
pub async fn bind_pod(client: &kube::Client, namespace: &str, name: &str, node: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let binding = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    pods.create_subresource::<Value, Value>("binding", name, &PostParams::default(), &binding)
        .await
        .unwrap_or_else(|e| panic!("bind pod {namespace}/{name} to {node}: {e}"));
}
