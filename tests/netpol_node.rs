//! The live part of `netpol.isolation` on the real node (tests/support/node.rs): probe pods run
//! the default probe script in real images (Debian's busybox, whose nc has no `-z`; upstream
//! busybox, whose nc has it; a busybox without nc), connect over the CNI bridge, are refused or
//! dropped by iptables rules in `FORWARD`, and the bridge plugin enforces no NetworkPolicy, so the
//! canary must say so. Audits run through the binary, one at a time (they share the node and the
//! API server's request counts).

mod support;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use support::node::pods;
use support::node::{BUSYBOX_IMAGE, BUSYBOX_NONC_IMAGE, BUSYBOX_UPSTREAM_IMAGE};
use support::{ControlPlane, FlowBlock, RealNode, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");
const MINUTE: Duration = Duration::from_secs(60);
const OURS: &str = "app.kubernetes.io/managed-by=kgents-gate";

/// One audit at a time: they share the 2-core node, and request counts must be the audit's own.
static AUDITS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A destination namespace with a default deny and an allow for `ok` on 8080, busybox httpd
/// pods (one per app label), and two source namespaces without pods: `ok` (allowed) and `no`.
struct World {
    dst: String,
    ok: String,
    no: String,
    /// Pod IP per app label.
    ips: Vec<(String, Ipv4Addr)>,
}

impl World {
    fn ip(&self, app: &str) -> Ipv4Addr {
        self.ips.iter().find(|(a, _)| a == app).map(|(_, ip)| *ip).expect("a destination of this world")
    }
}

async fn labeled(cp: &ControlPlane, prefix: &str) -> String {
    let name = support::unique_name(prefix);
    cp.create_namespace_labeled(&name, &[("kubernetes.io/metadata.name", &name)]).await
}

async fn world(cp: &ControlPlane, apps: &[&str]) -> World {
    let client = cp.client();
    let (dst, ok, no) = (labeled(cp, "np-dst").await, labeled(cp, "np-ok").await, labeled(cp, "np-no").await);
    let yaml = format!(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: default-deny}}
spec: {{podSelector: {{}}, policyTypes: [Ingress]}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: web-access}}
spec:
  podSelector: {{}}
  policyTypes: [Ingress]
  ingress:
  - from: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {ok}}}}}}}]
    ports: [{{port: 8080, protocol: TCP}}]
"#
    );
    cp.apply_yaml_in(&dst, &yaml).await;
    for app in apps {
        let mut pod = pods::pod_json(app, BUSYBOX_IMAGE, &["httpd", "-f", "-p", "8080", "-h", "/var/www"]);
        pod["metadata"]["labels"] = json!({"app": app});
        pod["spec"]["containers"][0]["ports"] = json!([{"containerPort": 8080}]);
        pod["spec"]["containers"][0]["readinessProbe"] = json!({"tcpSocket": {"port": 8080}, "periodSeconds": 1});
        pods::create_pod(&client, &dst, &pod).await;
    }
    let mut ips = Vec::new();
    for app in apps {
        pods::wait_ready(&client, &dst, app, MINUTE).await;
        ips.push((app.to_string(), pods::pod_ip(&client, &dst, app).await));
    }
    World { dst, ok, no, ips }
}

fn item(id: &str, w: &World, app: &str, with: &str) -> String {
    format!(
        "[[item]]\nid = \"{id}\"\ncategory = \"network\"\ntitle = \"{id}\"\ncheck = \"netpol.isolation\"\nowner = \"platform\"\n\
         [item.with]\nnamespace = \"{}\"\nselector = {{ app = \"{app}\" }}\nport = 8080\n{with}\n",
        w.dst
    )
}

fn sources(w: &World) -> String {
    format!("allow_from = [\"{}\"]\ndeny_from = [\"{}\"]", w.ok, w.no)
}

fn checklist(items: &[String]) -> String {
    format!(
        "[launch]\nname = \"netpol on a real node\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"network\"\n\
         title = \"Network\"\n\n{}",
        items.concat()
    )
}

fn gate(cp: &ControlPlane, dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["audit", "--out-dir", "out", "--format", "json", "--kubeconfig"])
        .arg(cp.admin_kubeconfig())
        .args(extra)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env("HOME", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn report(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("out/kgents-gate-report.json")).expect("the JSON report");
    serde_json::from_str(&text).expect("a JSON report")
}

fn item_of<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["items"].as_array().and_then(|a| a.iter().find(|i| i["id"] == id)).unwrap_or_else(|| panic!("no item {id}"))
}

fn codes(item: &Value) -> Vec<String> {
    item["findings"].as_array().into_iter().flatten().filter_map(|f| f["code"].as_str().map(String::from)).collect()
}

fn gap_codes(item: &Value) -> Vec<String> {
    item["gaps"].as_array().into_iter().flatten().filter_map(|g| g["code"].as_str().map(String::from)).collect()
}

fn fact(item: &Value, name: &str) -> String {
    let facts = item["evidence"].as_array().into_iter().flatten();
    facts.filter(|f| f["name"] == name).filter_map(|f| f["value"].as_str()).next().unwrap_or_default().to_string()
}

/// Nothing of ours is left in the API: no probe pod in the namespaces, scratch namespaces gone
/// or going.
async fn assert_nothing_left_in_the_api(cp: &ControlPlane, namespaces: &[&str]) {
    for ns in namespaces {
        let left = Api::<Pod>::namespaced(cp.client(), ns).list(&ListParams::default().labels(OURS)).await.unwrap();
        let names: Vec<_> = left.items.iter().filter_map(|p| p.metadata.name.clone()).collect();
        assert!(names.is_empty(), "probe pods left in {ns}: {names:?}");
    }
    let scratch = Api::<Namespace>::all(cp.client())
        .list(&ListParams::default().labels("kgents-gate/role=scratch"))
        .await
        .unwrap();
    for n in scratch.items {
        assert!(n.metadata.deletion_timestamp.is_some(), "scratch namespace {:?} not deleted", n.metadata.name);
    }
}

#[tokio::test]
async fn three_network_items_share_one_canary_and_prove_their_results_on_a_bridge_that_enforces_nothing() {
    let node = RealNode::shared();
    let cp = node.plane();
    let _one = AUDITS.lock().await;
    let w = world(cp, &["web"]).await;
    let items = [
        // Debian's busybox: nc without -z (the probe connects for real, inside timeout).
        item("network.debian", &w, "web", &format!("{}\nimage = \"{BUSYBOX_IMAGE}\"", sources(&w))),
        // Upstream busybox: nc -z.
        item("network.upstream", &w, "web", &format!("{}\nimage = \"{BUSYBOX_UPSTREAM_IMAGE}\"", sources(&w))),
        // No nc at all: a denied source under a broken tool is unverified, never a pass.
        item(
            "network.nonc",
            &w,
            "web",
            &format!("deny_from = [\"{}\"]\nimage = \"{BUSYBOX_NONC_IMAGE}\"\ncanary = false", w.no),
        ),
    ];
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("checklist.toml"), checklist(&items)).unwrap();
    // The namespace controller lists the pods of a namespace being deleted: let earlier tests'
    // scratch namespaces go first, so the counts are this audit's.
    eventually("no scratch namespace of an earlier audit left", MINUTE, || async {
        let (api, lp) = (Api::<Namespace>::all(cp.client()), ListParams::default().labels("kgents-gate/role=scratch"));
        let left = api.list(&lp).await.map_err(|e| e.to_string())?.items.len();
        if left == 0 { Ok(()) } else { Err(format!("{left} left")) }
    })
    .await;
    let before = cp.request_counts().await;
    let started = Instant::now();
    let out = gate(cp, ws.path(), &["--item-timeout", "60s"]).output().unwrap();
    let took = started.elapsed();
    let after = cp.request_counts().await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "blocked: {stderr}");
    let r = report(ws.path());
    let delta = |verb: &str, res: &str| after.count(verb, res) - before.count(verb, res);
    // Creates only, not the scheduler's pods/binding.
    let create = [("verb", "POST"), ("resource", "pods"), ("subresource", "")];
    let created = after.matching(&create) - before.matching(&create);
    eprintln!(
        "audit of 3 network items: {took:?}; LIST namespaces {}, LIST pods {}, WATCH pods {}, GET pods {} \
         (kubelet and scheduler included), pods created {created}, POST selfsubjectaccessreviews {}",
        delta("LIST", "namespaces"),
        delta("LIST", "pods"),
        delta("WATCH", "pods"),
        delta("GET", "pods"),
        delta("POST", "selfsubjectaccessreviews"),
    );
    for id in ["network.debian", "network.upstream", "network.nonc"] {
        eprintln!("{id}: {} ms ({})", item_of(&r, id)["duration_ms"], fact(item_of(&r, id), "live timing"));
    }
    // Namespaces listed once for the audit (the view), pods once per namespace in scope (dst,
    // ok, no): probe pods are followed by one watch per namespace, not polled.
    assert_eq!(delta("LIST", "namespaces"), 1, "namespaces listed once per audit");
    assert_eq!(delta("LIST", "pods"), 3, "pods listed once per namespace in scope");
    // 2 sources x 2 items + 1 source (each pod with its control) + the control and canary
    // targets + the canary probe: 8 pods, every name unique.
    assert_eq!(created, 8, "{r:#}");

    for id in ["network.debian", "network.upstream"] {
        let it = item_of(&r, id);
        assert_eq!(it["outcome"], "fail", "{id}: {it:#}");
        let codes = codes(it);
        assert_eq!(codes.first().map(String::as_str), Some("netpol-not-enforced"), "{id}: {it:#}");
        assert!(codes.iter().any(|c| c == "isolation-static-live-disagree"), "{id}: {it:#}");
        assert_eq!(fact(it, &format!("live {}", w.ok)), "reachable", "{id}: {it:#}");
        assert_eq!(fact(it, &format!("live {}", w.no)), "reachable", "{id}: the denied source got through: {it:#}");
        assert!(gap_codes(it).is_empty(), "{id}: {it:#}");
    }
    // One canary for the audit: both items name the same scratch namespace.
    let canary_ns = |id: &str| item_of(&r, id)["findings"][0]["target"].as_str().unwrap_or_default().to_string();
    assert_eq!(canary_ns("network.debian"), canary_ns("network.upstream"));
    let nonc = item_of(&r, "network.nonc");
    assert_eq!(nonc["outcome"], "unverified", "{nonc:#}");
    assert!(codes(nonc).is_empty(), "{nonc:#}");
    assert_eq!(gap_codes(nonc), ["live-tool-error"], "{nonc:#}");
    let reason = nonc["gaps"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no nc in the image") && reason.contains(BUSYBOX_NONC_IMAGE), "{reason}");
    assert!(!r.to_string().contains("AlreadyExists"), "{r:#}");
    assert_nothing_left_in_the_api(cp, &[&w.ok, &w.no]).await;
}

#[tokio::test]
async fn flows_rejected_or_dropped_in_forward_are_blocked_and_disagree_with_the_static_verdict() {
    let node = RealNode::shared();
    let cp = node.plane();
    let _one = AUDITS.lock().await;
    let w = world(cp, &["web-r", "web-d"]).await;
    // From every pod: the probe pods' IPs are not known before the gate creates them. The
    // control target is another IP, so the positive control still connects.
    let _reject = node.block_flow_to(w.ip("web-r"), 8080, FlowBlock::Reject);
    let _drop = node.block_flow_to(w.ip("web-d"), 8080, FlowBlock::Drop);
    let with = format!("{}\nimage = \"{BUSYBOX_IMAGE}\"\ncanary = false", sources(&w));
    let items = [item("network.reject", &w, "web-r", &with), item("network.drop", &w, "web-d", &with)];
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("checklist.toml"), checklist(&items)).unwrap();
    let started = Instant::now();
    let out = gate(cp, ws.path(), &["--item-timeout", "60s"]).output().unwrap();
    eprintln!("audit of 2 blocked destinations: {:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let r = report(ws.path());
    for (id, seen) in [("network.reject", "refused"), ("network.drop", "timed out")] {
        let it = item_of(&r, id);
        assert_eq!(it["outcome"], "fail", "{id}: {it:#}");
        assert_eq!(codes(it), ["isolation-static-live-disagree"], "{id}: {it:#}");
        let f = &it["findings"][0];
        let message = f["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("from {}", w.ok)) && message.contains("say allowed"), "{message}");
        assert!(message.contains(&format!("blocked: {seen}")), "{id}: {message}");
        // The denied source is blocked too, which the policies require: no disagreement there.
        let denied = fact(it, &format!("live {}", w.no));
        assert!(denied.starts_with(&format!("blocked ({seen}; the positive control")), "{id}: {denied}");
        assert!(gap_codes(it).is_empty(), "{id}: {it:#}");
        eprintln!("{id}: {} ms ({})", it["duration_ms"], fact(it, "live timing"));
    }
    assert_nothing_left_in_the_api(cp, &[&w.ok, &w.no]).await;
}

/// Waits until both sources' probe pods run (their nc hangs on a dropped flow); returns the
/// run's scratch namespace.
async fn wait_probe_pods_running(cp: &ControlPlane, w: &World) -> String {
    eventually("probe pods running in both sources", MINUTE, || async {
        let mut running = 0;
        for ns in [&w.ok, &w.no] {
            let list = Api::<Pod>::namespaced(cp.client(), ns).list(&ListParams::default().labels(OURS)).await;
            let list = list.map_err(|e| e.to_string())?;
            running += list
                .items
                .iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .count();
        }
        if running < 2 {
            return Err(format!("{running} running"));
        }
        let scratch = Api::<Namespace>::all(cp.client())
            .list(&ListParams::default().labels("kgents-gate/role=scratch"))
            .await
            .map_err(|e| e.to_string())?;
        let live = scratch.items.into_iter().filter(|n| n.metadata.deletion_timestamp.is_none());
        live.filter_map(|n| n.metadata.name).next().ok_or_else(|| "no scratch namespace".to_string())
    })
    .await
}

fn wait_with_limit(child: Child, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let out = child.wait_with_output().expect("wait for the gate");
    let took = started.elapsed();
    assert!(took < limit, "the gate took {took:?} to stop");
    (out, took)
}

#[tokio::test]
async fn ctrl_c_and_the_global_timeout_while_probe_pods_run_leave_nothing_on_the_node() {
    let node = RealNode::shared();
    let cp = node.plane();
    let _one = AUDITS.lock().await;
    let w = world(cp, &["web"]).await;
    let veths_before = node.leftovers(None).veths;
    // Dropped: the probes' nc waits for its 30 s connect timeout while the gate is stopped.
    let _drop = node.block_flow_to(w.ip("web"), 8080, FlowBlock::Drop);
    let with = format!("{}\nimage = \"{BUSYBOX_IMAGE}\"\nconnect_timeout = \"30s\"", sources(&w));
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("checklist.toml"), checklist(&[item("network.web", &w, "web", &with)])).unwrap();

    // Ctrl-C (SIGINT to the binary) while the probe pods run.
    let child = gate(cp, ws.path(), &["--item-timeout", "120s"]).spawn().unwrap();
    let mut scratch = vec![wait_probe_pods_running(cp, &w).await];
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let (out, took) = wait_with_limit(child, Duration::from_secs(20));
    eprintln!("Ctrl-C to exit: {took:?}");
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(item_of(&report(ws.path()), "network.web")["outcome"], "unverified");
    assert_nothing_left_in_the_api(cp, &[&w.ok, &w.no]).await;

    // The audit's own timeout while the probe pods run.
    let child = gate(cp, ws.path(), &["--item-timeout", "120s", "--timeout", "20s"]).spawn().unwrap();
    scratch.push(wait_probe_pods_running(cp, &w).await);
    let (out, took) = wait_with_limit(child, Duration::from_secs(45));
    eprintln!("global timeout of 20 s: the gate ended {took:?} after the probe pods ran");
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let it = item_of(&report(ws.path()), "network.web").clone();
    assert_eq!(it["outcome"], "unverified", "{it:#}");
    assert_nothing_left_in_the_api(cp, &[&w.ok, &w.no]).await;

    // On the node: tasks go at once, stopped sandboxes and containers at the kubelet's GC.
    let started = Instant::now();
    let left = eventually("nothing of the probes left on the node", Duration::from_secs(150), || {
        let namespaces = [w.ok.clone(), w.no.clone()];
        let node = &node;
        let scratch = &scratch;
        async move {
            let mut all = Vec::new();
            for ns in namespaces.iter().chain(scratch) {
                let l = node.leftovers(Some(ns));
                if l.tasks + l.sandboxes + l.containers > 0 {
                    all.push(format!("{ns}: {l:?}"));
                }
            }
            let veths = node.leftovers(None).veths;
            if veths > veths_before {
                all.push(format!("{veths} veths, {veths_before} before"));
            }
            if all.is_empty() { Ok(()) } else { Err(all.join("; ")) }
        }
    })
    .await;
    eprintln!("node clean {:?} after the second audit ended {left:?}", started.elapsed());
}
