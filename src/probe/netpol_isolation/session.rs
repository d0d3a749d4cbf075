//! What the network items of one audit share on the live cluster: one scratch namespace with a
//! control target (reachable under any policy in force there) and the enforcement canary, one
//! pod watch per namespace for every probe pod, probe pod names unique across items, the answers
//! of permission reviews, and one sweep of leftovers. Deleted at the end of the audit
//! ([`Session::finish`]), also after Ctrl-C or a timeout.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use futures::future::{BoxFuture, FutureExt as _, Shared};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, WatchEvent, WatchParams};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::pods::{self, Created, Permission, api_error, our_labels};
use super::scratch;
use crate::cluster::ClusterView;

/// What every item's live part needs to know of the others' wants, declared before they run.
#[derive(Debug, Clone, Default)]
struct Wants {
    canary: bool,
    /// The image of the shared targets and the canary probe: the first network item's.
    image: Option<String>,
    command: Option<Vec<String>>,
    connect_timeout: Option<Duration>,
}

/// The pods of our run in one namespace, as the watch last saw them.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub pods: BTreeMap<String, Pod>,
    /// Pods deleted since the watch started.
    pub gone: Vec<String>,
    /// The watch's last error, while it is failing.
    pub error: Option<String>,
}

/// The control and canary targets of the run, once they listen (or why not).
#[derive(Debug, Clone)]
pub struct Targets {
    pub namespace: String,
    /// The control target's IP.
    pub control: Result<String, String>,
    /// The canary target's IP; None when no item wants the canary.
    pub canary: Option<Result<String, String>>,
}

/// What the canary showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canary {
    Enforced,
    /// The namespace whose deny-all policy let a probe through.
    NotEnforced(String),
    Unknown(String),
}

type SharedTargets = Shared<BoxFuture<'static, Arc<Targets>>>;
type SharedCanary = Shared<BoxFuture<'static, Arc<Canary>>>;

/// The live state shared by the network items of one audit.
#[derive(Default)]
pub struct Session {
    wants: Mutex<Wants>,
    next_pod: AtomicUsize,
    client: Mutex<Option<(kube::Client, String)>>,
    deadline: Mutex<Option<Instant>>,
    watches: Mutex<HashMap<String, watch::Receiver<Seen>>>,
    targets: Mutex<Option<(SharedTargets, SharedCanary)>>,
    permissions: tokio::sync::Mutex<HashMap<String, bool>>,
    swept: tokio::sync::OnceCell<usize>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    pub(super) created: Created,
    pub(super) stop: CancellationToken,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("probe_pods", &self.next_pod.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

impl Session {
    /// The audit's deadline: the shared targets live until then.
    pub fn set_deadline(&self, deadline: Instant) {
        if let Ok(mut d) = self.deadline.lock() {
            *d = Some(deadline);
        }
    }

    /// Declares what an item needs of the shared part (before the items run; again at run time).
    pub fn register(&self, p: &super::IsolationParams) {
        if !p.live {
            return;
        }
        if let Ok(mut w) = self.wants.lock() {
            w.canary |= p.canary;
            if w.image.is_none() {
                w.image = Some(p.image.clone());
                w.command = Some(p.command.clone());
                w.connect_timeout = Some(p.connect_timeout);
            }
        }
    }

    /// Remembers the connection and run for the shared work and the final cleanup.
    pub(super) fn bind(&self, client: &kube::Client, run_id: &str, item_deadline: Instant) {
        if let Ok(mut c) = self.client.lock()
            && c.is_none()
        {
            *c = Some((client.clone(), run_id.to_string()));
        }
        if let Ok(mut d) = self.deadline.lock()
            && d.is_none()
        {
            *d = Some(item_deadline);
        }
    }

    pub(super) fn deadline(&self) -> Instant {
        self.deadline.lock().ok().and_then(|d| *d).unwrap_or_else(|| Instant::now() + Duration::from_secs(30))
    }

    /// A probe pod name no other item of the audit uses.
    pub(super) fn next_pod_name(&self, run_id: &str) -> String {
        format!("kgents-gate-probe-{run_id}-{}", self.next_pod.fetch_add(1, Ordering::Relaxed))
    }

    /// The first of `wanted` the credentials lack, asking the API server once per audit.
    pub(super) async fn missing(&self, client: &kube::Client, wanted: &[Permission<'_>]) -> Option<String> {
        let mut cache = self.permissions.lock().await;
        for perm in wanted {
            let key = format!("{perm:?}");
            let allowed = match cache.get(&key) {
                Some(a) => *a,
                None => {
                    let a = pods::has_permission(client, perm).await;
                    cache.insert(key, a);
                    a
                }
            };
            if !allowed {
                return Some(pods::permission_text(perm));
            }
        }
        None
    }

    /// Deletes, once per audit, our pods and namespaces of crashed runs that the view shows.
    pub(super) async fn sweep(&self, client: &kube::Client, view: &ClusterView, run_id: &str) -> usize {
        *self
            .swept
            .get_or_init(|| async {
                let kind_objects = |k| view.objects(k).map(|v| v.to_vec()).unwrap_or_default();
                let stale_pods: Vec<(String, String)> = pods::stale(&kind_objects(crate::cluster::Kind::Pod), run_id)
                    .into_iter()
                    .filter_map(|(ns, name)| Some((ns?, name)))
                    .collect();
                let stale_ns: Vec<String> = pods::stale(&kind_objects(crate::cluster::Kind::Namespace), run_id)
                    .into_iter()
                    .map(|(_, name)| name)
                    .filter(|n| n.starts_with(pods::SCRATCH_PREFIX) || n.starts_with("kgents-gate-canary-"))
                    .collect();
                let failed = pods::delete_pods(client, &stale_pods).await.len()
                    + pods::delete_namespaces(client, &stale_ns).await.len();
                (stale_pods.len() + stale_ns.len()).saturating_sub(failed)
            })
            .await
    }

    /// The watch of our run's pods in `namespace`, started on first use.
    pub(super) fn watch(&self, client: &kube::Client, namespace: &str, run_id: &str) -> watch::Receiver<Seen> {
        let mut watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rx) = watches.get(namespace) {
            return rx.clone();
        }
        let (tx, rx) = watch::channel(Seen::default());
        let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let task = tokio::spawn(run_watch(api, pods::run_selector(run_id), tx, self.stop.clone()));
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).push(task);
        watches.insert(namespace.to_string(), rx.clone());
        rx
    }

    /// The shared targets and canary, started by the first item that asks.
    pub(super) fn targets(self: &Arc<Self>) -> (SharedTargets, SharedCanary) {
        let mut slot = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = slot.as_ref() {
            return t.clone();
        }
        let wants = wants_of(&self.wants.lock().map(|w| w.clone()).unwrap_or_default());
        let me = Arc::clone(self);
        let for_setup = wants.clone();
        let setup = tokio::spawn(async move { Arc::new(scratch::start(&me, &for_setup).await) });
        let targets: SharedTargets = async move {
            setup.await.unwrap_or_else(|e| {
                Arc::new(Targets {
                    namespace: String::new(),
                    control: Err(format!("the target setup stopped: {e}")),
                    canary: None,
                })
            })
        }
        .boxed()
        .shared();
        let me = Arc::clone(self);
        let for_canary = targets.clone();
        let canary_task = tokio::spawn(async move {
            let t = for_canary.await;
            Arc::new(scratch::canary(&me, &wants, &t).await)
        });
        let canary: SharedCanary = async move {
            canary_task.await.unwrap_or_else(|e| Arc::new(Canary::Unknown(format!("the canary stopped: {e}"))))
        }
        .boxed()
        .shared();
        *slot = Some((targets.clone(), canary.clone()));
        (targets, canary)
    }

    pub(super) fn client_and_run(&self) -> Option<(kube::Client, String)> {
        self.client.lock().ok().and_then(|c| c.clone())
    }

    /// Stops the watches and shared work and deletes everything the run created that is still
    /// there: probe pods the items did not delete (also those whose create answer was lost, as the
    /// watches saw them) and the scratch namespace. Returns what could not be deleted.
    pub async fn finish(&self) -> Vec<String> {
        let Some((client, _)) = self.client_and_run() else { return Vec::new() };
        self.stop.cancel();
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in &tasks {
            t.abort();
        }
        let mut leftover = self.created.take_pods();
        let watched: Vec<(String, watch::Receiver<Seen>)> =
            self.watches.lock().map(|w| w.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
        let scratch: Vec<String> = self.created.take_namespaces();
        for (ns, rx) in watched {
            if scratch.contains(&ns) {
                continue;
            }
            for (name, pod) in &rx.borrow().pods {
                let key = (ns.clone(), name.clone());
                if pod.metadata.deletion_timestamp.is_none() && !leftover.contains(&key) {
                    leftover.push(key);
                }
            }
        }
        let mut left = pods::delete_pods(&client, &leftover).await;
        left.extend(pods::delete_namespaces(&client, &scratch).await);
        left
    }
}

/// The wants with the defaults filled in.
fn wants_of(w: &Wants) -> scratch::Wants {
    scratch::Wants {
        canary: w.canary,
        image: w.image.clone().unwrap_or_else(|| super::params::DEFAULT_IMAGE.to_string()),
        command: w.command.clone().unwrap_or_else(super::script::default_command),
        connect_timeout: w.connect_timeout.unwrap_or(Duration::from_secs(3)),
    }
}

/// Follows our run's pods in one namespace: a WATCH from resourceVersion 0 (the current pods
/// first), renewed every 15 s (below the client's read timeout) from the last version seen.
async fn run_watch(api: Api<Pod>, selector: String, tx: watch::Sender<Seen>, stop: CancellationToken) {
    let mut version = "0".to_string();
    while !stop.is_cancelled() {
        let wp = WatchParams::default().labels(&selector).timeout(15);
        let stream = tokio::select! {
            s = api.watch(&wp, &version) => s,
            _ = stop.cancelled() => return,
        };
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tx.send_modify(|s| s.error = Some(format!("cannot watch the probe pods: {}", api_error(&e))));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stop.cancelled() => return,
                }
            }
        };
        let mut stream = std::pin::pin!(stream);
        loop {
            let event = tokio::select! {
                e = stream.next() => e,
                _ = stop.cancelled() => return,
            };
            match event {
                None => break,
                Some(Ok(WatchEvent::Added(pod) | WatchEvent::Modified(pod))) => {
                    if let Some(v) = pod.metadata.resource_version.clone() {
                        version = v;
                    }
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    tx.send_modify(|s| {
                        s.error = None;
                        s.pods.insert(name, pod);
                    });
                }
                Some(Ok(WatchEvent::Deleted(pod))) => {
                    if let Some(v) = pod.metadata.resource_version.clone() {
                        version = v;
                    }
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    tx.send_modify(|s| {
                        s.pods.remove(&name);
                        s.gone.push(name);
                    });
                }
                Some(Ok(WatchEvent::Bookmark(b))) => version = b.metadata.resource_version,
                Some(Ok(WatchEvent::Error(status))) => {
                    // 410 Gone: the version is too old; start over from the current state.
                    if status.code == 410 {
                        version = "0".into();
                    } else {
                        tx.send_modify(|s| s.error = Some(format!("the pod watch failed: {}", status.message)));
                    }
                    break;
                }
                Some(Err(_)) => break,
            }
        }
    }
}

/// Waits until `pick` finds what it looks for in the watch of a namespace, or `deadline` passes
/// or `cancel` fires (Err with the last thing `pick` said is missing).
pub(super) async fn wait_until<T>(
    rx: &mut watch::Receiver<Seen>,
    deadline: Instant,
    cancel: &CancellationToken,
    mut pick: impl FnMut(&Seen) -> Result<T, String>,
) -> Result<T, String> {
    loop {
        let why = match pick(&rx.borrow_and_update()) {
            Ok(t) => return Ok(t),
            Err(why) => why,
        };
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return Err(why) },
            _ = tokio::time::sleep_until(deadline) => return Err(format!("did not finish in time: {why}")),
            _ = cancel.cancelled() => return Err("cancelled".into()),
        }
    }
}

/// Labels of a probe pod standing for a source: the source's own plus ours.
pub(super) fn probe_labels(selector: &BTreeMap<String, String>, run_id: &str) -> BTreeMap<String, String> {
    let mut labels = selector.clone();
    labels.extend(our_labels(run_id, "probe"));
    labels
}
