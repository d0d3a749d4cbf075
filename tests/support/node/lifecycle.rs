//! Starting the real node (bridge, containerd with the images, kubelet, scheduler, kube-proxy)
//! and tearing it down in the reverse order, by process id.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::super::control_plane::{ControlPlane, KUBE_PROXY_USER, NODE_USER, client_from_kubeconfig, wait_ready};
use super::super::process::{ScratchDir, ServerProcess, cancel_at_exit, teardown_at_exit};
use super::super::{INSTALL_HINT, http_get, random_hex, require_binary, run_blocking};
use super::host::{self, BRIDGE, HostRecords, MachineLock, NODE_DIR};
use super::{
    IMAGE_ARCHIVES, LOCK_WAIT, NODE_IP, NODE_NAME, POD_CIDR, RealNode, TeardownReport, config, ctr, images_dir,
    kube_binary, kubectl_path, run_str, stop_at_exit,
};

impl RealNode {
    /// Checks what the node needs, takes the machine lock, cleans up a node a killed run left,
    /// records the host state and brings the node up; a failed start is torn down again.
    pub(super) fn start(plane: &'static ControlPlane) -> Result<RealNode, String> {
        for name in ["kubelet", "kube-scheduler", "kube-proxy"] {
            kube_binary(name);
        }
        for bin in [
            "/usr/bin/containerd",
            "/usr/bin/ctr",
            "/usr/bin/runc",
            "/usr/sbin/iptables",
            "/usr/sbin/ipset",
            "/usr/lib/cni/bridge",
        ] {
            require_binary(Path::new(bin), bin);
        }
        require_binary(&kubectl_path(), "kubectl 1.20.2");
        for archive in IMAGE_ARCHIVES {
            if !images_dir().join(archive).is_file() {
                return Err(format!(
                    "image archive {archive} missing in {}: run `{}`",
                    images_dir().display(),
                    INSTALL_HINT
                ));
            }
        }
        if !Path::new("/proc/sys/net/bridge").exists() {
            return Err(
                "br_netfilter is not loaded (no /proc/sys/net/bridge): FORWARD would not see pod traffic".into()
            );
        }
        let lock = MachineLock::acquire(LOCK_WAIT)?;
        let started = Instant::now();
        if Path::new(NODE_DIR).exists() || !host::node_traces().is_empty() {
            eprintln!("real node: cleaning up what an earlier run left: {:?}", host::node_traces());
            host::run_cleanup()?;
            let traces = host::node_traces();
            if !traces.is_empty() {
                return Err(format!("a node left by an earlier run could not be cleaned up: {traces:?}"));
            }
        }
        let dir = Path::new(NODE_DIR);
        std::fs::create_dir_all(dir.join("pids")).map_err(|e| format!("create {NODE_DIR}: {e}"))?;
        let owner = format!("{}-{}", std::process::id(), random_hex(4));
        std::fs::write(dir.join("owner"), &owner).map_err(|e| format!("write owner: {e}"))?;
        host::write_cleanup_script()?;
        let records = HostRecords::take_and_write(dir)?;
        let exit_hook = teardown_at_exit(stop_at_exit, &host::watchdog_line(&owner));
        let mut node = RealNode {
            plane,
            processes: Mutex::new(Vec::new()),
            records,
            logs: ScratchDir::new("realnode-logs"),
            started_in: Duration::ZERO,
            exit_hook,
            lock: Mutex::new(Some(lock)),
            report: Mutex::new(None),
        };
        match node.bring_up() {
            Ok(()) => {
                node.started_in = started.elapsed();
                Ok(node)
            }
            Err(e) => {
                let report = node.teardown();
                Err(format!("{e}\n(teardown after the failed start left: {:?})", report.leftovers))
            }
        }
    }

    fn spawn(&self, name: &str, cmd: Command) {
        let process = ServerProcess::spawn(name, cmd, &self.logs.path().join(format!("{name}.log")));
        let _ = std::fs::write(format!("{NODE_DIR}/pids/{name}.pid"), process.pid().to_string());
        self.processes.lock().unwrap_or_else(|e| e.into_inner()).push(process);
    }

    fn take_process(&self, name: &str) -> Option<ServerProcess> {
        let mut processes = self.processes.lock().unwrap_or_else(|e| e.into_inner());
        let at = processes.iter().position(|p| p.name() == name)?;
        Some(processes.remove(at))
    }

    /// Fails with the process's log tail if it has exited.
    fn check_running(&self, name: &str) -> Result<(), String> {
        let mut processes = self.processes.lock().unwrap_or_else(|e| e.into_inner());
        let Some(p) = processes.iter_mut().find(|p| p.name() == name) else {
            return Err(format!("{name} was not started"));
        };
        if p.exited().is_some() { Err(p.describe_failure("exited during start")) } else { Ok(()) }
    }

    fn bring_up(&self) -> Result<(), String> {
        let dir = Path::new(NODE_DIR);
        let r = NODE_DIR;
        // br_netfilter must hand bridged traffic to iptables (recorded, restored on teardown).
        if host::read_sysctl("net.bridge.bridge-nf-call-iptables").as_deref() != Some("1") {
            host::write_sysctl("net.bridge.bridge-nf-call-iptables", "1")?;
        }
        config::write_all(dir, self.plane.ca_pem())?;
        // Copied into the node dir, so every node process names it (the cleanup script finds a
        // killed run's processes by that).
        let copy = |from: PathBuf, name: &str| -> Result<PathBuf, String> {
            let to = dir.join("pki").join(name);
            std::fs::copy(&from, &to).map_err(|e| format!("copy {}: {e}", from.display()))?;
            Ok(to)
        };
        let admin = copy(self.plane.admin_kubeconfig(), "admin.kubeconfig")?;
        let node_kubeconfig = copy(self.plane.kubeconfig_for(NODE_USER), "kubelet.kubeconfig")?;
        let proxy_kubeconfig = copy(self.plane.kubeconfig_for(KUBE_PROXY_USER), "kube-proxy.kubeconfig")?;
        bind_node_role(&admin)?;

        // The bridge exists before the kubelet, so the node IP (and its listen address) is rn0's.
        let cidr = format!("{NODE_IP}/24");
        let bridge: [&[&str]; 3] = [
            &["link", "add", BRIDGE, "type", "bridge"],
            &["addr", "add", &cidr, "dev", BRIDGE],
            &["link", "set", BRIDGE, "up"],
        ];
        for args in bridge {
            host::run("ip", args)?;
        }

        let mut cmd = Command::new("/usr/bin/containerd");
        cmd.arg("--config").arg(dir.join("containerd/config.toml"));
        self.spawn("containerd", cmd);
        let until = Instant::now() + Duration::from_secs(30);
        while ctr(&["version"]).is_err() {
            self.check_running("containerd")?;
            if Instant::now() > until {
                return Err("containerd did not answer within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for archive in IMAGE_ARCHIVES {
            let path = images_dir().join(archive).display().to_string();
            ctr(&["images", "import", &path]).map_err(|e| format!("import {archive}: {e}"))?;
        }

        let mut cmd = Command::new(kube_binary("kubelet"));
        cmd.arg(format!("--config={r}/kubelet/config.yaml"))
            .arg(format!("--kubeconfig={}", node_kubeconfig.display()))
            .args([
                "--container-runtime=remote",
                &format!("--container-runtime-endpoint=unix://{r}/containerd/containerd.sock"),
            ])
            .args([
                "--runtime-request-timeout=5m",
                &format!("--root-dir={r}/kubelet/root"),
                &format!("--cert-dir={r}/kubelet/pki"),
            ])
            // The default is under /usr/libexec.
            .arg(format!("--volume-plugin-dir={r}/kubelet/volume-plugins"))
            .args([&format!("--hostname-override={NODE_NAME}"), &format!("--node-ip={NODE_IP}"), "--v=2"]);
        self.spawn("kubelet", cmd);

        let mut cmd = Command::new(kube_binary("kube-scheduler"));
        cmd.arg(format!("--kubeconfig={}", admin.display())).args([
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--port=0",
            "--v=1",
        ]);
        self.spawn("kube-scheduler", cmd);

        let mut cmd = Command::new(kube_binary("kube-proxy"));
        cmd.arg(format!("--kubeconfig={}", proxy_kubeconfig.display()))
            .args([
                "--proxy-mode=iptables",
                &format!("--hostname-override={NODE_NAME}"),
                &format!("--cluster-cidr={POD_CIDR}"),
            ])
            .args([
                "--bind-address=127.0.0.1",
                "--healthz-bind-address=127.0.0.1:10256",
                "--metrics-bind-address=127.0.0.1:10249",
            ])
            // 0: leave the host's conntrack settings alone.
            .args([
                "--conntrack-max-per-core=0",
                "--conntrack-tcp-timeout-established=0",
                "--conntrack-tcp-timeout-close-wait=0",
            ])
            .arg("--v=2");
        self.spawn("kube-proxy", cmd);

        let mut proxy = self.take_process("kube-proxy").ok_or("kube-proxy was not started")?;
        let (proxy, healthy) = run_blocking(async move {
            let result = wait_ready(&mut proxy, Duration::from_secs(30), || async {
                http_get("http://127.0.0.1:10256/healthz").await.map(|_| ())
            })
            .await;
            (proxy, result)
        });
        self.processes.lock().unwrap_or_else(|e| e.into_inner()).push(proxy);
        healthy?;

        let mut kubelet = self.take_process("kubelet").ok_or("kubelet was not started")?;
        let (kubelet, ready) = run_blocking(async move {
            let client = client_from_kubeconfig(&admin);
            let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client);
            let result = wait_ready(&mut kubelet, Duration::from_secs(90), || async {
                let node = nodes.get(NODE_NAME).await.map_err(|e| e.to_string())?;
                let conditions = node.status.and_then(|s| s.conditions).unwrap_or_default();
                let ready = conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
                ready.then_some(()).ok_or_else(|| format!("conditions {conditions:?}"))
            })
            .await;
            (kubelet, result)
        });
        self.processes.lock().unwrap_or_else(|e| e.into_inner()).push(kubelet);
        ready?;
        self.check_running("containerd")?;
        self.check_running("kube-scheduler")
    }

    /// Tears the node down (idempotent; a second call returns the first report): the node's pods
    /// deleted through the API so the kubelet frees veths and IPs, kube-proxy stopped and
    /// `--cleanup`, kubelet stopped and its Node deleted, containerd's remaining tasks killed,
    /// containerd and scheduler stopped, then the host cleanup script (mounts, bridge, KUBE-/CNI-
    /// chains, sysctls, host dirs, cgroups, node dir) and the machine lock released.
    pub(super) fn teardown(&self) -> TeardownReport {
        let mut lock = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if lock.is_none() {
            let done = self.report.lock().unwrap_or_else(|e| e.into_inner()).clone();
            return done.unwrap_or(TeardownReport { took: Duration::ZERO, steps: vec![], leftovers: vec![] });
        }
        let started = Instant::now();
        let mut steps = Vec::new();
        let mut step = |name: &'static str, at: &mut Instant| {
            steps.push((name, at.elapsed()));
            *at = Instant::now();
        };
        let mut at = Instant::now();
        let mut problems = Vec::new();
        let running = |n: &str| self.check_running(n).is_ok();
        if running("kubelet") && running("containerd") {
            let _ = self.kubectl().args(["cordon", NODE_NAME]).output();
            let field = format!("--field-selector=spec.nodeName={NODE_NAME}");
            let deleted = self
                .kubectl()
                .args(["delete", "pods", "--all-namespaces", &field, "--grace-period=1", "--wait=false"])
                .output();
            if let Err(e) = deleted {
                problems.push(format!("kubectl delete pods: {e}"));
            }
            let until = Instant::now() + Duration::from_secs(60);
            while ctr(&["tasks", "ls", "-q"]).is_ok_and(|t| !t.trim().is_empty()) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        step("pods deleted by the kubelet", &mut at);
        if let Some(mut proxy) = self.take_process("kube-proxy") {
            proxy.terminate(Duration::from_secs(10));
            if let Err(e) = run_str(&kube_binary("kube-proxy").display().to_string(), &["--cleanup".to_string()]) {
                problems.push(format!("kube-proxy --cleanup: {e}"));
            }
        }
        step("kube-proxy stopped and cleaned up", &mut at);
        if let Some(mut kubelet) = self.take_process("kubelet") {
            kubelet.terminate(Duration::from_secs(10));
            let _ = self.kubectl().args(["delete", "node", NODE_NAME, "--ignore-not-found", "--wait=false"]).output();
        }
        step("kubelet stopped", &mut at);
        if running("containerd") {
            for task in ctr(&["tasks", "ls", "-q"]).unwrap_or_default().lines() {
                let _ = ctr(&["tasks", "kill", "-s", "SIGKILL", task]);
                let _ = ctr(&["tasks", "rm", "-f", task]);
            }
            for container in ctr(&["containers", "ls", "-q"]).unwrap_or_default().lines() {
                let _ = ctr(&["containers", "rm", container]);
            }
        }
        for name in ["containerd", "kube-scheduler"] {
            if let Some(mut p) = self.take_process(name) {
                p.terminate(Duration::from_secs(10));
            }
        }
        step("containerd and kube-scheduler stopped", &mut at);
        if let Err(e) = host::run_cleanup() {
            problems.push(e);
        }
        step("host cleaned up", &mut at);
        problems.extend(self.records.not_restored());
        problems.extend(host::node_traces());
        cancel_at_exit(self.exit_hook);
        *lock = None;
        let report = TeardownReport { took: started.elapsed(), steps, leftovers: problems };
        *self.report.lock().unwrap_or_else(|e| e.into_inner()) = Some(report.clone());
        report
    }
}

/// The kubelet's group may act as a node: 1.20 binds the `system:node` role to nobody.
fn bind_node_role(admin_kubeconfig: &Path) -> Result<(), String> {
    let kubeconfig = admin_kubeconfig.to_path_buf();
    run_blocking(async move {
        use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
        let client = client_from_kubeconfig(&kubeconfig);
        let api: kube::Api<ClusterRoleBinding> = kube::Api::all(client);
        let binding: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kgents-gate-realnode"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:node"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}],
        }))
        .map_err(|e| e.to_string())?;
        match api.create(&Default::default(), &binding).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(e) => Err(format!("bind system:node to system:nodes: {e}")),
        }
    })
}
