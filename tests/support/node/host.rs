//! What a real node changes on the host, and how it is undone: the machine-wide lock, the
//! records taken before start (sysctls, host dirs, cgroups), the cleanup script, and the checks
//! that find a node's traces afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::io::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The node's working dir. Fixed, like the bridge name and the kubelet's host paths: one real
/// node per machine, and a killed run's leftovers are found by the next one.
pub const NODE_DIR: &str = "/tmp/kgents-gate-realnode";

/// Held (flock) by the test binary whose node runs, and by a watchdog while it cleans up.
pub const LOCK_FILE: &str = "/tmp/kgents-gate-realnode.lock";

/// The bridge the CNI plugin attaches pods to; its address is the node IP.
pub const BRIDGE: &str = "rn0";

/// Rules the harness inserts (blocked flows) carry this iptables comment.
pub const BLOCK_COMMENT: &str = "kgents-gate-block";

const CLEANUP_SCRIPT: &str = include_str!("cleanup.sh");

/// Sysctls the kubelet (kernel tunables), the CNI bridge plugin (forwarding) and kube-proxy
/// (route_localnet, conntrack) change; restored on teardown.
const SYSCTLS: &[&str] = &[
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv4.conf.all.route_localnet",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_tcp_timeout_established",
    "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
];

/// Paths outside the node dir that kubelet, containerd and libcni hard-code (or create before
/// reading their flags); removed on teardown when they did not exist before start.
const HOST_DIRS: &[&str] = &[
    "/var/lib/kubelet",
    "/var/log/pods",
    "/var/log/containers",
    "/var/lib/cni",
    "/run/containerd",
    "/usr/libexec/kubernetes",
    "/opt/containerd",
];

/// The machine-wide lock: an flock on [`LOCK_FILE`], released (and the file removed) on Drop.
pub struct MachineLock {
    file: File,
}

impl MachineLock {
    /// Waits up to `timeout` for the lock; another test binary with a real node holds it.
    pub fn acquire(timeout: Duration) -> Result<MachineLock, String> {
        let started = Instant::now();
        let mut told = false;
        loop {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(LOCK_FILE)
                .map_err(|e| format!("open {LOCK_FILE}: {e}"))?;
            // SAFETY: flock on a file descriptor we own.
            let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
            // A releaser removes the file while holding it: a lock on a removed file is no lock.
            let same = || file.metadata().ok().map(|m| m.ino()) == std::fs::metadata(LOCK_FILE).ok().map(|m| m.ino());
            if locked && same() {
                let mut file = file;
                let _ = file.set_len(0);
                let _ = writeln!(file, "{}", std::process::id());
                return Ok(MachineLock { file });
            }
            if locked {
                continue;
            }
            let holder = std::fs::read_to_string(LOCK_FILE).unwrap_or_default().trim().to_string();
            if started.elapsed() >= timeout {
                return Err(format!(
                    "only one real node can run on this machine, and process {holder} still has it after \
                     {timeout:?} (lock {LOCK_FILE})"
                ));
            }
            if !told {
                eprintln!("real node: waiting for the node of process {holder} to end (lock {LOCK_FILE})");
                told = true;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for MachineLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(LOCK_FILE);
        // The flock goes with the descriptor, closed when `file` drops.
        let _ = &self.file;
    }
}

/// The shell line the watchdog runs for a killed test binary: only with the lock free (a newer
/// run holding it has cleaned up before starting) and only for this owner's node dir.
pub fn watchdog_line(owner: &str) -> String {
    format!(
        "flock -n {LOCK_FILE} sh -c 'sh {NODE_DIR}/cleanup.sh {NODE_DIR} {owner}; rm -f {LOCK_FILE}' \
         >/dev/null 2>&1"
    )
}

/// Writes the cleanup script into the node dir (creating it) and runs it: the host part of
/// every teardown, and the cleanup of a stale node a killed run left.
pub fn run_cleanup() -> Result<(), String> {
    std::fs::create_dir_all(NODE_DIR).map_err(|e| format!("create {NODE_DIR}: {e}"))?;
    write_cleanup_script()?;
    let out = Command::new("sh")
        .arg(Path::new(NODE_DIR).join("cleanup.sh"))
        .arg(NODE_DIR)
        .output()
        .map_err(|e| format!("run the node cleanup script: {e}"))?;
    if !out.status.success() {
        return Err(format!("node cleanup script: {}: {}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

pub fn write_cleanup_script() -> Result<(), String> {
    let path = Path::new(NODE_DIR).join("cleanup.sh");
    std::fs::write(&path, CLEANUP_SCRIPT).map_err(|e| format!("write {}: {e}", path.display()))
}

/// What the host looked like before start, written into the node dir for the cleanup script.
pub struct HostRecords {
    pub sysctls: BTreeMap<String, String>,
    pub created_dirs: Vec<PathBuf>,
    pub created_cgroups: Vec<PathBuf>,
}

impl HostRecords {
    pub fn take_and_write(dir: &Path) -> Result<HostRecords, String> {
        let sysctls: BTreeMap<String, String> =
            SYSCTLS.iter().filter_map(|k| read_sysctl(k).map(|v| (k.to_string(), v))).collect();
        let created_dirs: Vec<PathBuf> =
            HOST_DIRS.iter().map(PathBuf::from).filter(|d| std::fs::symlink_metadata(d).is_err()).collect();
        let created_cgroups: Vec<PathBuf> =
            cgroup_controllers().into_iter().map(|c| c.join("kubepods")).filter(|d| !d.exists()).collect();
        let lines = |items: Vec<String>| items.iter().map(|l| format!("{l}\n")).collect::<String>();
        let files = [
            ("sysctl.before", lines(sysctls.iter().map(|(k, v)| format!("{k} {v}")).collect())),
            ("hostdirs.created", lines(created_dirs.iter().map(|d| d.display().to_string()).collect())),
            ("cgroups.created", lines(created_cgroups.iter().map(|d| d.display().to_string()).collect())),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).map_err(|e| format!("write {name}: {e}"))?;
        }
        Ok(HostRecords { sysctls, created_dirs, created_cgroups })
    }

    /// What of the recorded state is not back: sysctls with other values, created dirs and
    /// cgroups still there.
    pub fn not_restored(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (k, before) in &self.sysctls {
            let now = read_sysctl(k).unwrap_or_default();
            if &now != before {
                out.push(format!("sysctl {k} = {now} (was {before})"));
            }
        }
        for d in self.created_dirs.iter().chain(&self.created_cgroups) {
            if d.exists() {
                out.push(format!("{} still exists", d.display()));
            }
        }
        out
    }
}

/// A sysctl's value as `sysctl -n` prints it (tabs between numbers become spaces).
pub fn read_sysctl(key: &str) -> Option<String> {
    let path = Path::new("/proc/sys").join(key.replace('.', "/"));
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

pub fn write_sysctl(key: &str, value: &str) -> Result<(), String> {
    let path = Path::new("/proc/sys").join(key.replace('.', "/"));
    std::fs::write(&path, value).map_err(|e| format!("set sysctl {key}={value}: {e}"))
}

fn cgroup_controllers() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir() && !p.is_symlink()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// Runs a command and returns its stdout, or an error with its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program).args(args).output().map_err(|e| format!("run {program}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{program} {}: {}: {}", args.join(" "), out.status, err.trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Names of the KUBE-/CNI- chains and of rules with [`BLOCK_COMMENT`], over iptables and
/// ip6tables, tables filter, nat and mangle.
pub fn node_chains_and_rules() -> Vec<String> {
    let mut found = Vec::new();
    for ipt in ["iptables-save", "ip6tables-save"] {
        for table in ["filter", "nat", "mangle"] {
            let Ok(text) = run(ipt, &["-t", table]) else { continue };
            for line in text.lines() {
                let chain = line.strip_prefix(':').and_then(|l| l.split_whitespace().next());
                if let Some(chain) = chain.filter(|c| c.starts_with("KUBE-") || c.starts_with("CNI-")) {
                    found.push(format!("{ipt} {table} chain {chain}"));
                } else if line.contains(BLOCK_COMMENT) {
                    found.push(format!("{ipt} {table} rule {line}"));
                }
            }
        }
    }
    found
}

/// Everything of a real node still on the host: the bridge, its chains and blocked flows,
/// mounts under the node dir, the node dir, processes naming it (or our containerd socket),
/// and kubelet cgroups. Empty after a clean teardown.
pub fn node_traces() -> Vec<String> {
    let mut traces = Vec::new();
    if Path::new("/sys/class/net").join(BRIDGE).exists() {
        traces.push(format!("bridge {BRIDGE}"));
    }
    traces.extend(node_chains_and_rules());
    let prefix = format!("{NODE_DIR}/");
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    for point in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)) {
        if point.starts_with(&prefix) || point == NODE_DIR {
            traces.push(format!("mount {point}"));
        }
    }
    if Path::new(NODE_DIR).exists() {
        traces.push(format!("dir {NODE_DIR}"));
    }
    for (pid, cmdline) in processes() {
        if cmdline.contains(&prefix) {
            traces.push(format!("process {pid}: {}", cmdline.chars().take(120).collect::<String>()));
        }
    }
    for cgroup in cgroup_controllers().into_iter().map(|c| c.join("kubepods")) {
        if cgroup.exists() {
            traces.push(format!("cgroup {}", cgroup.display()));
        }
    }
    traces
}

/// (pid, command line with spaces) of every process we can read.
fn processes() -> Vec<(u32, String)> {
    let me = std::process::id();
    let entries = std::fs::read_dir("/proc").map(|rd| rd.filter_map(|e| e.ok()).collect::<Vec<_>>());
    let mut out = Vec::new();
    for entry in entries.unwrap_or_default() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&raw).replace('\0', " ");
            if !text.is_empty() {
                out.push((pid, text));
            }
        }
    }
    out
}

/// A broad picture of the host for before/after comparisons: sysctls under kernel, vm and
/// net (all/default and the interfaces present), network links, iptables chains, mount points,
/// the host dirs a node may create, and cgroups named kubepods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSnapshot {
    pub sysctls: BTreeMap<String, String>,
    pub links: BTreeSet<String>,
    pub chains: BTreeSet<String>,
    pub mounts: BTreeSet<String>,
    pub host_dirs: BTreeSet<String>,
}

impl HostSnapshot {
    pub fn take() -> HostSnapshot {
        let links: BTreeSet<String> = std::fs::read_dir("/sys/class/net")
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let mut sysctls = BTreeMap::new();
        for root in ["kernel", "vm", "net/bridge", "net/netfilter", "net/ipv4"] {
            collect_sysctls(&Path::new("/proc/sys").join(root), &links, &mut sysctls);
        }
        let mut chains = BTreeSet::new();
        for ipt in ["iptables-save", "ip6tables-save"] {
            for table in ["filter", "nat", "mangle"] {
                let text = run(ipt, &["-t", table]).unwrap_or_default();
                for line in text.lines().filter(|l| l.starts_with(':') || l.starts_with("-A")) {
                    chains.insert(format!("{ipt} {table} {}", line.split(" [").next().unwrap_or(line)));
                }
            }
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mounts = mounts.lines().filter_map(|l| l.split_whitespace().nth(4)).map(str::to_string).collect();
        let mut host_dirs: BTreeSet<String> =
            HOST_DIRS.iter().filter(|d| Path::new(d).exists()).map(|d| d.to_string()).collect();
        for cgroup in cgroup_controllers().into_iter().map(|c| c.join("kubepods")).filter(|c| c.exists()) {
            host_dirs.insert(cgroup.display().to_string());
        }
        HostSnapshot { sysctls, links, chains, mounts, host_dirs }
    }

    /// Human-readable differences from `self` (before) to `after`.
    pub fn differences(&self, after: &HostSnapshot) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.sysctls {
            match after.sysctls.get(k) {
                Some(now) if now != v => out.push(format!("sysctl {k}: {v} -> {now}")),
                _ => {}
            }
        }
        let sets = [
            ("link", &self.links, &after.links),
            ("iptables", &self.chains, &after.chains),
            ("mount", &self.mounts, &after.mounts),
            ("host dir", &self.host_dirs, &after.host_dirs),
        ];
        for (what, before, now) in sets {
            out.extend(now.difference(before).map(|x| format!("{what} added: {x}")));
            out.extend(before.difference(now).map(|x| format!("{what} gone: {x}")));
        }
        out
    }
}

/// Sysctls that change on their own (counters, entropy, pid numbers).
fn volatile(key: &str) -> bool {
    ["random", "ns_last_pid", "nf_conntrack_count", "pty.nr", "tainted", "sched_domain", "dentry", "inode"]
        .iter()
        .any(|v| key.contains(v))
}

fn collect_sysctls(dir: &Path, links: &BTreeSet<String>, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        let key = path.strip_prefix("/proc/sys").unwrap_or(&path).display().to_string().replace('/', ".");
        if path.is_dir() {
            // Per-interface settings only for interfaces that exist at the time of the snapshot.
            let dev = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let parent = path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or_default();
            if (parent == "conf" || parent == "neigh") && !["all", "default"].contains(&dev) && !links.contains(dev) {
                continue;
            }
            collect_sysctls(&path, links, out);
        } else if !volatile(&key)
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            out.insert(key, text.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
}
