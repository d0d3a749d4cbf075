//! Live mode of `netpol.isolation` on the real test control plane. There is no kubelet and no
//! network plugin: the harness plays the kubelet (`PodStatePlayer`) and decides what each probe
//! pod "saw" by writing the probe's marker into each container's termination message (the
//! destination in `probe`, the control target in `control`), or leaves it pending. What is under
//! test is the probe's handling of real pods, the shared scratch namespace, RBAC, cleanup and
//! cancellation against a real API server; tests/netpol_node.rs runs the same on a real node.

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kgents_gate::cluster::live::{self, LiveOptions};
use kgents_gate::outcome::ProbeReport;
use kgents_gate::probe::{ProbeContext, ProbeKind, ProbeSpec};
use kube::api::{Api, ListParams};
use support::kubelet::set_pod_state;
use support::{ControlPlane, PodState, PodStatePlayer, random_hex, unique_name};

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");
const OURS: &str = "app.kubernetes.io/managed-by=kgents-gate";

/// A destination namespace with a default deny and `nats-access` allowing `allowed` on 4222,
/// a Running `nats-0` pod, and two source namespaces (allowed, denied), all name-labelled.
struct World {
    dst: String,
    allowed: String,
    denied: String,
}

async fn labeled_namespace(cp: &ControlPlane, prefix: &str) -> String {
    let name = unique_name(prefix);
    // 1.20 does not add kubernetes.io/metadata.name: the policies below select by it.
    cp.create_namespace_labeled(&name, &[("kubernetes.io/metadata.name", &name)]).await
}

async fn world(cp: &ControlPlane) -> World {
    let dst = labeled_namespace(cp, "np-dst").await;
    let allowed = labeled_namespace(cp, "np-ok").await;
    let denied = labeled_namespace(cp, "np-no").await;
    let yaml = format!(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: default-deny}}
spec: {{podSelector: {{}}, policyTypes: [Ingress]}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: nats-access}}
spec:
  podSelector: {{matchLabels: {{app: nats}}}}
  policyTypes: [Ingress]
  ingress:
  - from: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {allowed}}}}}}}]
    ports: [{{port: 4222, protocol: TCP}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: nats-0, labels: {{app: nats}}}}
spec: {{containers: [{{name: nats, image: "nats:2.10", ports: [{{name: client, containerPort: 4222}}]}}]}}
"#
    );
    cp.apply_yaml_in(&dst, &yaml).await;
    set_pod_state(&cp.client(), &dst, "nats-0", PodState::Ready).await;
    World { dst, allowed, denied }
}

fn params(w: &World, extra: &str) -> String {
    format!(
        "namespace = \"{}\"\nselector = {{ app = \"nats\" }}\nport = 4222\nallow_from = [\"{}\"]\ndeny_from = [\"{}\"]\n{extra}",
        w.dst, w.allowed, w.denied
    )
}

async fn connect(kubeconfig: std::path::PathBuf) -> live::Live {
    let opts = LiveOptions { kubeconfig: Some(kubeconfig), ..Default::default() };
    live::connect(&opts).await.unwrap()
}

/// Runs the check as the engine does: the view read as admin, the live part as `live_user`
/// (admin when None), then the audit's shared objects cleaned up.
async fn check(
    cp: &ControlPlane,
    params: &str,
    run_id: &str,
    timeout: Duration,
    live_user: Option<&str>,
) -> ProbeReport {
    let table: toml::Table = toml::from_str(params).unwrap();
    let spec = ProbeSpec::parse(ProbeKind::NetpolIsolation, &table).unwrap();
    let admin = connect(cp.admin_kubeconfig()).await;
    let view = live::load(&admin, &spec.needs(), 500).await;
    let live = match live_user {
        Some(u) => connect(cp.kubeconfig_for(u)).await,
        None => admin,
    };
    let mut ctx = ProbeContext::standalone(".", timeout);
    ctx.run_id = run_id.to_string();
    ctx.view = Some(Arc::new(view));
    ctx.live = Some(live);
    spec.register(&ctx.shared);
    let report = spec.run(&ctx).await;
    let left = ctx.shared.finish().await;
    assert!(left.is_empty(), "left behind: {left:?}");
    report
}

fn codes(r: &ProbeReport) -> Vec<&str> {
    r.findings().iter().map(|f| f.code.as_str()).collect()
}

fn fact<'a>(r: &'a ProbeReport, name: &str) -> Option<&'a str> {
    r.evidence.iter().find(|f| f.name == name).map(|f| f.value.as_str())
}

/// A probe result as the probe script writes it.
fn marker(result: &str) -> String {
    format!("KGENTS-PROBE {result}\n")
}

/// Probe pods end with `target` seen by the `probe` container and `control` by `control`.
fn said(target: &str, control: &str) -> PodState {
    PodState::Ended(vec![("probe".into(), 0, marker(target)), ("control".into(), 0, marker(control))])
}

/// Plays the kubelet for probe pods in `ns`: every one ends in `state`.
fn probes_end(cp: &ControlPlane, ns: &str, state: PodState) -> PodStatePlayer {
    PodStatePlayer::start(&cp.client(), ns, "kgents-gate/role=probe", move |_| Some(state.clone()))
}

/// Plays the kubelet in the run's scratch namespace: the targets get Ready, the canary probe
/// pod sees the canary target as `canary` and the control target as reachable.
fn scratch(cp: &ControlPlane, run_id: &str, canary: &str) -> PodStatePlayer {
    scratch_in(cp, &format!("kgents-gate-scratch-{run_id}"), canary)
}

fn scratch_in(cp: &ControlPlane, ns: &str, canary: &str) -> PodStatePlayer {
    let canary = canary.to_string();
    PodStatePlayer::start(&cp.client(), ns, OURS, move |pod: &Pod| {
        let role = pod.metadata.labels.as_ref().and_then(|l| l.get("kgents-gate/role")).cloned();
        match role.as_deref() {
            Some("control-target" | "canary-target") => Some(PodState::Ready),
            Some("canary-probe") => Some(said(&canary, "reachable")),
            _ => None,
        }
    })
}

async fn assert_cleaned_up(cp: &ControlPlane, namespaces: &[&str], run_id: &str) {
    for ns in namespaces {
        let pods: Api<Pod> = Api::namespaced(cp.client(), ns);
        let left = pods.list(&ListParams::default().labels(OURS)).await.unwrap();
        let names: Vec<_> = left.items.iter().filter_map(|p| p.metadata.name.clone()).collect();
        assert!(names.is_empty(), "probe pods left in {ns}: {names:?}");
    }
    let nss: Api<Namespace> = Api::all(cp.client());
    if let Some(n) = nss.get_opt(&format!("kgents-gate-scratch-{run_id}")).await.unwrap() {
        assert!(n.metadata.deletion_timestamp.is_some(), "scratch namespace not deleted");
    }
}

#[tokio::test]
async fn reachable_and_blocked_as_required_with_an_enforcing_canary() {
    let cp = ControlPlane::shared();
    let w = world(cp).await;
    let run_id = format!("t{}", random_hex(4));
    let _ok = probes_end(cp, &w.allowed, said("reachable", "reachable"));
    let _no = probes_end(cp, &w.denied, said("refused", "reachable"));
    let _scratch = scratch(cp, &run_id, "timeout");
    let r = check(cp, &params(&w, ""), &run_id, Duration::from_secs(40), None).await;
    assert!(r.findings().is_empty(), "{:#?}", r.findings());
    assert!(r.first_gap().is_none(), "{:?}", r.first_gap());
    assert_eq!(fact(&r, &format!("live {}", w.allowed)), Some("reachable"), "{:#?}", r.evidence);
    let denied = fact(&r, &format!("live {}", w.denied)).unwrap_or_default();
    assert!(denied.starts_with("blocked (refused; the positive control"), "{denied}");
    assert!(fact(&r, "canary").is_some_and(|c| c.starts_with("deny-all enforced")), "{:#?}", r.evidence);
    assert_cleaned_up(cp, &[&w.allowed, &w.denied], &run_id).await;
}

#[tokio::test]
async fn a_canary_that_gets_through_means_policies_are_not_enforced() {
    let cp = ControlPlane::shared();
    let w = world(cp).await;
    let run_id = format!("t{}", random_hex(4));
    // The plugin enforces nothing: every probe connects, the denied source too.
    let _ok = probes_end(cp, &w.allowed, said("reachable", "reachable"));
    let _no = probes_end(cp, &w.denied, said("reachable", "reachable"));
    let _scratch = scratch(cp, &run_id, "reachable");
    let r = check(cp, &params(&w, ""), &run_id, Duration::from_secs(40), None).await;
    assert_eq!(codes(&r).first(), Some(&"netpol-not-enforced"), "{:#?}", r.findings());
    assert!(r.findings()[0].message.starts_with("NetworkPolicies are not enforced by this cluster's network plugin"));
    assert!(codes(&r).contains(&"isolation-static-live-disagree"));
    assert_cleaned_up(cp, &[&w.allowed, &w.denied], &run_id).await;
}

#[tokio::test]
async fn static_and_live_disagreeing_is_reported_with_both_sides() {
    let cp = ControlPlane::shared();
    let w = world(cp).await;
    let run_id = format!("t{}", random_hex(4));
    // The allowed source is blocked for real (e.g. an egress rule the files do not show).
    let _ok = probes_end(cp, &w.allowed, said("timeout", "reachable"));
    let _no = probes_end(cp, &w.denied, said("refused", "reachable"));
    let _scratch = scratch(cp, &run_id, "refused");
    let r = check(cp, &params(&w, "canary = false"), &run_id, Duration::from_secs(40), None).await;
    assert_eq!(codes(&r), ["isolation-static-live-disagree"], "{:#?}", r.findings());
    let f = &r.findings()[0];
    assert!(f.message.contains(&format!("from {}", w.allowed)), "{}", f.message);
    assert!(f.message.contains(&format!("{}/nats-access", w.dst)), "{}", f.message);
    assert!(f.message.contains("blocked: timed out"), "{}", f.message);
    assert!(f.evidence.iter().any(|e| e.name == "static" && e.value == "allowed"));
    assert!(f.evidence.iter().any(|e| e.name == "live" && e.value == "blocked"));
    assert_eq!(fact(&r, "canary"), Some("not used (canary = false)"));
    assert_cleaned_up(cp, &[&w.allowed, &w.denied], &run_id).await;
}

#[tokio::test]
async fn a_broken_tool_or_a_failed_control_is_never_a_blocked_flow() {
    let cp = ControlPlane::shared();
    let w = world(cp).await;
    let run_id = format!("t{}", random_hex(4));
    // Debian's busybox nc without the script: its usage text and exit 1, no marker.
    let usage = "BusyBox v1.35.0 multi-call binary.\n\nUsage: nc [-iN] [-wN] [-l] [-p PORT] IPADDR PORT\n";
    let broken = PodState::Ended(vec![("probe".into(), 1, usage.into()), ("control".into(), 1, usage.into())]);
    let _ok = probes_end(cp, &w.allowed, broken);
    // Blocked, but the same pod could not reach the control target either.
    let _no = probes_end(cp, &w.denied, said("timeout", "refused"));
    let _scratch = scratch(cp, &run_id, "refused");
    let r = check(cp, &params(&w, "canary = false"), &run_id, Duration::from_secs(40), None).await;
    assert!(r.findings().is_empty(), "no disagreement from a broken tool: {:#?}", r.findings());
    let gaps: Vec<&str> = r.gaps().iter().map(|g| g.code.as_str()).collect();
    assert_eq!(gaps, ["live-tool-error", "live-no-control"], "{:#?}", r.gaps());
    assert!(r.gaps()[0].reason.contains("code 1") && r.gaps()[0].reason.contains("Usage: nc"), "{:?}", r.gaps());
    let denied = fact(&r, &format!("live {}", w.denied)).unwrap_or_default();
    assert!(
        denied.starts_with("unverified: timed out but the positive control in the same pod was refused"),
        "{denied}"
    );
    assert_cleaned_up(cp, &[&w.allowed, &w.denied], &run_id).await;
}

#[tokio::test]
async fn a_probe_pod_that_never_starts_leaves_its_source_unverified() {
    let cp = ControlPlane::shared();
    let w = world(cp).await;
    let run_id = format!("t{}", random_hex(4));
    let _ok = probes_end(cp, &w.allowed, said("reachable", "reachable"));
    let _scratch = scratch(cp, &run_id, "refused");
    // Nobody plays the kubelet in the denied namespace: its probe pod stays Pending.
    let started = Instant::now();
    let r = check(cp, &params(&w, "canary = false"), &run_id, Duration::from_secs(8), None).await;
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    assert!(r.findings().is_empty(), "{:#?}", r.findings());
    let u = r.first_gap().expect("unverified");
    assert_eq!(u.code, "live-unverified");
    assert!(u.reason.contains(&w.denied) && u.reason.contains("never scheduled"), "{}", u.reason);
    assert_eq!(fact(&r, &format!("live {}", w.allowed)), Some("reachable"));
    // The static verdict is still there.
    assert!(fact(&r, &format!("static {}", w.denied)).is_some_and(|v| v.contains("denied as required")));
    assert_cleaned_up(cp, &[&w.allowed, &w.denied], &run_id).await;
}

#[tokio::test]
async fn without_pod_permissions_the_live_part_is_unverified_and_the_static_verdict_kept() {
    let cp = ControlPlane::shared();
    let w = world(cp).await;
    let run_id = format!("t{}", random_hex(4));
    // bob may do nothing: the view is read as admin, the probe pods would be created as bob.
    let r = check(cp, &params(&w, "canary = false"), &run_id, Duration::from_secs(20), Some("bob")).await;
    assert!(r.findings().is_empty(), "{:#?}", r.findings());
    let u = r.first_gap().expect("unverified");
    assert_eq!(u.code, "forbidden");
    let perm = u.missing_permission.as_deref().unwrap();
    assert!(perm.starts_with("create pods in namespace "), "{perm}");
    assert!(fact(&r, &format!("static {}", w.allowed)).is_some_and(|v| v.contains("allowed as required")));
    // A static failure is not hidden behind the missing permission.
    let bad = params(&w, "canary = false")
        .replace(&format!("deny_from = [\"{}\"]", w.denied), &format!("deny_from = [\"{}\"]", w.allowed))
        .replace(&format!("allow_from = [\"{}\"]", w.allowed), &format!("allow_from = [\"{}\"]", w.denied));
    let r = check(cp, &bad, &run_id, Duration::from_secs(20), Some("bob")).await;
    assert!(codes(&r).contains(&"isolation-allowed-from-denied-source"), "{:#?}", r.findings());
    // The live part stays a gap beside the failure; the decision fails the item on the finding.
    let gap = r.first_gap().expect("the live part is a gap");
    assert!(gap.describe().contains("missing permission: create pods"), "{gap:?}");
}

#[test]
fn ctrl_c_while_probe_pods_are_pending_deletes_them() {
    let cp = ControlPlane::shared();
    let w = support::run_blocking(async { world(ControlPlane::shared()).await });
    let ws = tempfile::tempdir().unwrap();
    let checklist = format!(
        "[launch]\nname = \"netpol live\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"network\"\ntitle = \"Network\"\n\n\
         [[item]]\nid = \"network.nats\"\ncategory = \"network\"\ntitle = \"nats isolated\"\ncheck = \"netpol.isolation\"\n\
         owner = \"platform\"\n[item.with]\n{}",
        params(&w, "canary = false")
    );
    std::fs::write(ws.path().join("checklist.toml"), checklist).unwrap();
    let child = Command::new(BIN)
        .args(["audit", "--out-dir", "out", "--format", "json", "--item-timeout", "120s", "--kubeconfig"])
        .arg(cp.admin_kubeconfig())
        .current_dir(ws.path())
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env("HOME", ws.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The targets get Ready (the probe pods wait for the control target), the probe pods stay
    // Pending: wait until both exist, then interrupt.
    let (allowed, denied) = (w.allowed.clone(), w.denied.clone());
    let seen = support::run_blocking(async move {
        let nss: Api<Namespace> = Api::all(ControlPlane::shared().client());
        let scratch_ns = support::eventually("the run's scratch namespace", Duration::from_secs(60), || {
            let nss = nss.clone();
            async move {
                let list = nss.list(&ListParams::default().labels("kgents-gate/role=scratch")).await;
                let list = list.map_err(|e| e.to_string())?;
                // The binary's run id is hex; the other tests' runs here start with `t`.
                let ours = |n: &Namespace| {
                    let name = n.metadata.name.clone().unwrap_or_default();
                    (n.metadata.deletion_timestamp.is_none() && !name.starts_with("kgents-gate-scratch-t"))
                        .then_some(name)
                };
                list.items.iter().find_map(ours).ok_or_else(|| "none yet".to_string())
            }
        })
        .await;
        let _scratch = scratch_in(ControlPlane::shared(), &scratch_ns, "refused");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut n = 0;
            for ns in [&allowed, &denied] {
                let pods: Api<Pod> = Api::namespaced(ControlPlane::shared().client(), ns);
                n += pods.list(&ListParams::default().labels(OURS)).await.map(|l| l.items.len()).unwrap_or(0);
            }
            if n == 2 || Instant::now() > deadline {
                return (n, scratch_ns);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let (seen, scratch_ns) = seen;
    assert_eq!(seen, 2, "the probe pods never appeared");
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let t0 = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(15), "took {:?} to stop", t0.elapsed());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let (allowed, denied) = (w.allowed.clone(), w.denied.clone());
    support::run_blocking(async move {
        let cp = ControlPlane::shared();
        for ns in [&allowed, &denied] {
            let pods: Api<Pod> = Api::namespaced(cp.client(), ns);
            let left = pods.list(&ListParams::default().labels(OURS)).await.unwrap();
            assert!(left.items.is_empty(), "probe pods left in {ns} after Ctrl-C");
        }
        let nss: Api<Namespace> = Api::all(cp.client());
        if let Some(n) = nss.get_opt(&scratch_ns).await.unwrap() {
            assert!(n.metadata.deletion_timestamp.is_some(), "scratch namespace {scratch_ns} not deleted after Ctrl-C");
        }
    });
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path().join("out/kgents-gate-report.json")).unwrap()).unwrap();
    assert_eq!(report["items"][0]["outcome"], "unverified", "{report:#}");
}
