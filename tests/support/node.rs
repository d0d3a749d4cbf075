//! A real Kubernetes node beside the test control plane, for tests that need real readiness
//! probes and real pod networking: bridge rn0 (10.244.0.0/24), containerd with CNI, kubelet,
//! kube-scheduler and kube-proxy (iptables). One per machine.

mod config;
pub mod host;
mod lifecycle;
pub mod pods;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use host::{BLOCK_COMMENT, BRIDGE, HostRecords, MachineLock, NODE_DIR};

use super::control_plane::ControlPlane;
use super::process::{ScratchDir, ServerProcess};
use super::{cache_dir, require_binary};

/// The node's name (its kubelet's user is `system:node:realnode`).
pub const NODE_NAME: &str = "realnode";
/// The node IP: the bridge's address (the kubelet refuses a loopback node IP).
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 244, 0, 1);
/// Pod IPs come from here (CNI host-local); the host reaches them through rn0.
pub const POD_CIDR: &str = "10.244.0.0/24";
/// Images imported into the node's containerd; pods must say `imagePullPolicy: Never`.
pub const PAUSE_IMAGE: &str = "localhost/pause:3.4.1";
/// Debian's busybox-static: httpd, wget, and an nc without `-z`.
pub const BUSYBOX_IMAGE: &str = "localhost/busybox:1.35";
/// busybox 1.35 with upstream's defconfig (as the official image): its nc takes `-z`.
pub const BUSYBOX_UPSTREAM_IMAGE: &str = "localhost/busybox:1.35-upstream";
/// The upstream build without the nc applet: a shell image without nc.
pub const BUSYBOX_NONC_IMAGE: &str = "localhost/busybox-nonc:1.35";
/// Entrypoint `/nats-server` (pod `args` go to it), default args `--port 4222 --http_port 8222`.
pub const NATS_IMAGE: &str = "localhost/nats:2.10.26";
/// Entrypoint `redis-server --protected-mode no` (pod `args` go to it), default args without
/// persistence.
pub const REDIS_IMAGE: &str = "localhost/redis:7";

const IMAGE_ARCHIVES: &[&str] = &[
    "pause-3.4.1.tar",
    "busybox-1.35.tar",
    "busybox-1.35-upstream.tar",
    "busybox-nonc-1.35.tar",
    "nats-2.10.26-entrypoint.tar",
    "redis-7-entrypoint.tar",
];
/// How long a second test binary waits for the machine's node to be free.
const LOCK_WAIT: Duration = Duration::from_secs(600);

/// How to block a flow with [`RealNode::block_flow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowBlock {
    /// Answered with ICMP port unreachable: the client sees "Connection refused" at once, by pod
    /// IP and through a ClusterIP (a TCP reset would not be translated back after kube-proxy's
    /// DNAT, and the client would time out).
    Reject,
    /// Silently dropped: the client's connect times out.
    Drop,
}

/// An iptables rule in `FORWARD` blocking one flow; removed on Drop (and at teardown).
pub struct BlockedFlow<'a> {
    rule: Vec<String>,
    _node: &'a RealNode,
}

impl Drop for BlockedFlow<'_> {
    fn drop(&mut self) {
        let mut args = vec!["-w".to_string(), "5".into(), "-D".into()];
        args.extend(self.rule.iter().cloned());
        if let Err(e) = run_str("iptables", &args) {
            eprintln!("real node: removing a blocked flow: {e}");
        }
    }
}

/// How a command run with [`RealNode::exec`] ended (kubectl passes the exit code on).
#[derive(Debug, Clone)]
pub struct ExecOutcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// What is on the node (node-wide, or for one Kubernetes namespace where the runtime knows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeLeftovers {
    /// Running containerd tasks (pause sandboxes and containers); gone seconds after deletion.
    pub tasks: usize,
    /// Pod sandboxes containerd still knows (stopped ones go at the kubelet's GC, within ~1 min).
    pub sandboxes: usize,
    /// Containers containerd still knows, sandboxes included (same GC).
    pub containers: usize,
    /// Host ends of veth pairs on rn0 (node-wide).
    pub veths: usize,
    /// Pod IPs the CNI IPAM holds (node-wide).
    pub pod_ips: usize,
}

/// How a teardown went: its steps' times and what it left (empty when clean).
#[derive(Debug, Clone)]
pub struct TeardownReport {
    pub took: Duration,
    pub steps: Vec<(&'static str, Duration)>,
    pub leftovers: Vec<String>,
}

/// The running node. Get it with [`RealNode::shared`].
pub struct RealNode {
    plane: &'static ControlPlane,
    processes: Mutex<Vec<ServerProcess>>,
    records: HostRecords,
    logs: ScratchDir,
    started_in: Duration,
    exit_hook: u64,
    lock: Mutex<Option<MachineLock>>,
    report: Mutex<Option<TeardownReport>>,
}

static ACTIVE: Mutex<Option<Arc<RealNode>>> = Mutex::new(None);
/// Tests using the node hold it shared; [`RealNode::stop_shared`] takes it exclusively.
static USERS: RwLock<()> = RwLock::new(());

/// A test's hold on the binary's node: the node stays up while any lease lives.
pub struct NodeLease {
    node: Arc<RealNode>,
    _use: RwLockReadGuard<'static, ()>,
}

impl std::ops::Deref for NodeLease {
    type Target = RealNode;
    fn deref(&self) -> &RealNode {
        &self.node
    }
}

/// The binary's node is stopped; no test of this binary can start one while this lives.
pub struct NodeStopped {
    /// `None` if no node was running.
    pub report: Option<TeardownReport>,
    _exclusive: RwLockWriteGuard<'static, ()>,
}

/// The exit hook: tears the binary's node down before the control plane's processes are killed.
fn stop_at_exit() {
    // A test that panicked while starting the node poisons the slot; the node is still there.
    let node = match ACTIVE.try_lock() {
        Ok(mut slot) => slot.take(),
        Err(std::sync::TryLockError::Poisoned(slot)) => slot.into_inner().take(),
        Err(std::sync::TryLockError::WouldBlock) => None,
    };
    if let Some(node) = node {
        let report = node.teardown();
        if !report.leftovers.is_empty() {
            eprintln!("real node: teardown left {:?}", report.leftovers);
        }
    }
}

impl RealNode {
    /// The node of this test binary, beside [`ControlPlane::shared`]; started on first use
    /// (about 10 s, waiting first if another test binary's node runs on this machine) and torn
    /// down when the binary ends, also on panic or kill. Panics with the reason if it cannot
    /// start.
    pub fn shared() -> NodeLease {
        let users = USERS.read().unwrap_or_else(|e| e.into_inner());
        let plane = ControlPlane::shared();
        let mut slot = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            match RealNode::start(plane) {
                Ok(node) => *slot = Some(Arc::new(node)),
                Err(e) => panic!("real node did not start: {e}"),
            }
        }
        let node = slot.as_ref().map(Arc::clone).expect("the node was just started");
        NodeLease { node, _use: users }
    }

    /// Waits until no test holds a lease, tears the binary's node down (if one runs) and keeps
    /// others from starting one until the returned value drops. Do not call it holding a lease.
    pub fn stop_shared() -> NodeStopped {
        let exclusive = USERS.write().unwrap_or_else(|e| e.into_inner());
        let node = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).take();
        NodeStopped { report: node.map(|n| n.teardown()), _exclusive: exclusive }
    }

    /// From taking the machine lock to the node Ready and kube-proxy healthy.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    pub fn plane(&self) -> &'static ControlPlane {
        self.plane
    }

    /// Where the node's processes log (kept with `KGENTS_GATE_KEEP_TEST_DIRS=1`).
    pub fn log_dir(&self) -> &Path {
        self.logs.path()
    }

    /// Debian's kubectl 1.20.2 with the admin kubeconfig (and its cache in the node dir).
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(kubectl_path());
        cmd.arg(format!("--kubeconfig={}", self.plane.admin_kubeconfig().display()))
            .arg(format!("--cache-dir={NODE_DIR}/kubectl-cache"))
            .arg("--request-timeout=15s");
        cmd
    }

    /// Runs `script` with `sh -c` in container `main` (or the first) of a running pod, through
    /// `kubectl exec` (API server to kubelet with the client certificate).
    pub async fn exec(&self, namespace: &str, pod: &str, script: &str) -> ExecOutcome {
        let mut cmd = tokio::process::Command::from(self.kubectl());
        cmd.args(["exec", "-n", namespace, pod, "--", "sh", "-c", script]);
        let out = match cmd.output().await {
            Ok(out) => out,
            Err(e) => panic!("run kubectl exec: {e}"),
        };
        ExecOutcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Blocks TCP from `src` to `dst:port` in `FORWARD`, which sees pod-to-pod traffic on the
    /// bridge (br_netfilter) and pod-to-ClusterIP traffic after kube-proxy's DNAT (so name the
    /// pod IP, not the ClusterIP). Host-to-pod traffic does not pass `FORWARD`.
    pub fn block_flow(&self, src: Ipv4Addr, dst: Ipv4Addr, port: u16, how: FlowBlock) -> BlockedFlow<'_> {
        self.block(Some(src), dst, port, how)
    }

    /// As [`RealNode::block_flow`], from every pod: for sources whose IP is not known in advance
    /// (pods the code under test creates).
    pub fn block_flow_to(&self, dst: Ipv4Addr, port: u16, how: FlowBlock) -> BlockedFlow<'_> {
        self.block(None, dst, port, how)
    }

    fn block(&self, src: Option<Ipv4Addr>, dst: Ipv4Addr, port: u16, how: FlowBlock) -> BlockedFlow<'_> {
        let src = src.map_or_else(|| POD_CIDR.to_string(), |s| format!("{s}/32"));
        let mut rule: Vec<String> =
            ["FORWARD", "-s", &src, "-d", &format!("{dst}/32")].iter().map(|s| s.to_string()).collect();
        rule.extend(
            ["-p", "tcp", "--dport", &port.to_string(), "-m", "comment", "--comment", BLOCK_COMMENT].map(String::from),
        );
        match how {
            FlowBlock::Reject => {
                rule.extend(["-j", "REJECT", "--reject-with", "icmp-port-unreachable"].map(String::from))
            }
            FlowBlock::Drop => rule.extend(["-j", "DROP"].map(String::from)),
        }
        let mut args = vec!["-w".to_string(), "5".into(), "-I".into()];
        args.extend(rule.iter().cloned());
        if let Err(e) = run_str("iptables", &args) {
            panic!("block flow {src} -> {dst}:{port}: {e}");
        }
        BlockedFlow { rule, _node: self }
    }

    /// Waits until kube-proxy has programmed `cluster_ip:port` with at least one endpoint.
    pub async fn wait_service_programmed(&self, cluster_ip: Ipv4Addr, port: u16, timeout: Duration) {
        let (dest, dport) = (format!("-d {cluster_ip}/32"), format!("--dport {port} "));
        super::eventually(&format!("kube-proxy rules for {cluster_ip}:{port}"), timeout, || {
            let nat = host::run("iptables-save", &["-t", "nat"]);
            let (dest, dport) = (dest.clone(), dport.clone());
            async move {
                let nat = nat?;
                let programmed =
                    nat.lines().any(|l| l.contains(&dest) && l.contains(&dport) && l.contains("-j KUBE-SVC-"));
                programmed.then_some(()).ok_or_else(|| "no KUBE-SVC rule yet".to_string())
            }
        })
        .await
    }

    /// Imports an image archive (OCI or docker-archive) into the node's containerd, as the setup
    /// imports its own images: pods then run it with `imagePullPolicy: Never`.
    pub fn import_image(&self, archive: &Path) -> Result<String, String> {
        ctr(&["images", "import", &archive.display().to_string()])
    }

    /// What the runtime holds: tasks, sandboxes and containers for `namespace` (or all), veths
    /// and pod IPs node-wide.
    pub fn leftovers(&self, namespace: Option<&str>) -> NodeLeftovers {
        let filter = namespace.map(|ns| format!("labels.\"io.kubernetes.pod.namespace\"=={ns}")).unwrap_or_default();
        let ids = |extra: &str| -> Vec<String> {
            let f = [filter.as_str(), extra].iter().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>().join(",");
            let mut args = vec!["containers", "ls", "-q"];
            if !f.is_empty() {
                args.push(&f);
            }
            ctr(&args).unwrap_or_default().lines().map(str::to_string).collect()
        };
        let containers = ids("");
        let sandboxes = ids("labels.\"io.cri-containerd.kind\"==sandbox").len();
        let tasks = ctr(&["tasks", "ls", "-q"]).unwrap_or_default();
        let tasks = tasks.lines().filter(|t| containers.iter().any(|c| c == t)).count();
        let count = |dir: &str| {
            std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok()).collect::<Vec<_>>()).unwrap_or_default()
        };
        let veths = count(&format!("/sys/class/net/{BRIDGE}/brif")).len();
        let ipam = count(&format!("{NODE_DIR}/cni/ipam/realnode"));
        let pod_ips = ipam.iter().filter(|e| e.file_name().to_string_lossy().parse::<Ipv4Addr>().is_ok()).count();
        NodeLeftovers { tasks, sandboxes, containers: containers.len(), veths, pod_ips }
    }
}

impl Drop for RealNode {
    fn drop(&mut self) {
        self.teardown();
    }
}

fn kube_binary(name: &str) -> PathBuf {
    require_binary(&cache_dir().join("kubernetes-1.20.2/bin").join(name), &format!("{name} 1.20.2"))
}

/// Debian's kubectl 1.20.2, extracted by the setup script.
pub fn kubectl_path() -> PathBuf {
    cache_dir().join("kubectl-1.20.2/usr/bin/kubectl")
}

fn images_dir() -> PathBuf {
    cache_dir().join("node-images")
}

/// `ctr` against the node's containerd, namespace k8s.io (the CRI's).
fn ctr(args: &[&str]) -> Result<String, String> {
    let address = format!("{NODE_DIR}/containerd/containerd.sock");
    let mut all = vec!["-a", &address, "-n", "k8s.io"];
    all.extend_from_slice(args);
    host::run("/usr/bin/ctr", &all)
}

fn run_str(program: &str, args: &[String]) -> Result<String, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    host::run(program, &args)
}
