//! `workloads.readiness` and `hpa.capacity` against a real Kubernetes 1.20 control plane: the
//! objects are applied with the real kubectl (client-side and server-side apply), the controllers
//! run (the HPA controller with no metrics server reports ScalingActive False), and the gate
//! audits the live cluster, with every live finding code triggered and not triggered.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::ControlPlane;

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");
const LOAD_SUMMARY: &str = include_str!("../examples/kgents/load-test-results.json");

/// A workspace with the two catalog files and a checklist of `items` (TOML `[[item]]` tables).
fn workspace(items: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("checks")).unwrap();
    for f in ["workloads.toml", "hpa.toml"] {
        std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("checks").join(f), dir.path().join("checks").join(f))
            .unwrap();
    }
    std::fs::write(dir.path().join("load.json"), LOAD_SUMMARY).unwrap();
    let text = format!(
        "[launch]\nname = \"live\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"c\"\ntitle = \"C\"\n\n{items}"
    );
    std::fs::write(dir.path().join("checklist.toml"), text).unwrap();
    dir
}

fn item(id: &str, check: &str, with: &str) -> String {
    format!("[[item]]\nid = \"{id}\"\ncategory = \"c\"\ntitle = \"{id}\"\ncheck = \"{check}\"\n[item.with]\n{with}\n\n")
}

/// Audits the live cluster as `user`; returns the report's items by id.
fn audit(dir: &Path, user: &str) -> std::collections::BTreeMap<String, Value> {
    audit_with(dir, user, &[])
}

/// Like [`audit`], with more arguments (e.g. `--manifests` laid over the live objects).
fn audit_with(dir: &Path, user: &str, extra: &[&str]) -> std::collections::BTreeMap<String, Value> {
    let kc = if user == "admin" {
        ControlPlane::shared().admin_kubeconfig()
    } else {
        ControlPlane::shared().kubeconfig_for(user)
    };
    let out = Command::new(BIN)
        .args(["audit", "--format", "json", "--out-dir", "out", "--kubeconfig"])
        .arg(&kc)
        .args(extra)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("HOME", dir)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    let text = std::fs::read_to_string(dir.join("out/kgents-gate-report.json")).unwrap_or_else(|e| {
        panic!("no report ({e}): {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    let report: Value = serde_json::from_str(&text).unwrap();
    report["items"].as_array().unwrap().iter().map(|i| (i["id"].as_str().unwrap().to_string(), i.clone())).collect()
}

/// Findings of `item` with `code`, as their targets.
fn targets(item: &Value, code: &str) -> Vec<String> {
    item["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .map(|f| f["target"].as_str().unwrap_or("").to_string())
        .collect()
}

fn finding<'v>(item: &'v Value, code: &str, target: &str) -> &'v Value {
    item["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code && f["target"] == target)
        .unwrap_or_else(|| panic!("no {code} on {target}: {:#}", item["findings"]))
}

fn gap_codes(item: &Value) -> Vec<String> {
    item["gaps"].as_array().unwrap().iter().map(|g| g["code"].as_str().unwrap().to_string()).collect()
}

/// `kubectl apply` (client-side, or `--server-side`) of `yaml` in `ns`, with Debian's kubectl 1.20.
fn kubectl_apply(ns: &str, yaml: &str, server_side: bool) {
    let kubectl = support::require_binary(&support::node::kubectl_path(), "kubectl 1.20.2");
    let mut cmd = Command::new(kubectl);
    cmd.arg(format!("--kubeconfig={}", ControlPlane::shared().admin_kubeconfig().display()))
        .args(["apply", "-n", ns, "-f", "-"]);
    if server_side {
        cmd.arg("--server-side");
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "kubectl apply: {}", String::from_utf8_lossy(&out.stderr));
}

fn deployment(name: &str, replicas: Option<u32>, image: &str, container_extra: &str) -> String {
    let replicas = replicas.map(|r| format!("  replicas: {r}\n")).unwrap_or_default();
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, labels: {{app: {name}}}}}\nspec:\n{replicas}\
         \x20 selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n\
         \x20   spec:\n      containers:\n      - name: main\n        image: \"{image}\"\n{container_extra}---\n"
    )
}

const PROBES: &str = "        readinessProbe: {httpGet: {path: /ready, port: 8080}}\n\
    \x20       livenessProbe: {tcpSocket: {port: 8080}}\n";
const RESOURCES: &str =
    "        resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 500m, memory: 128Mi}}\n";
const LIMITRANGE: &str = "apiVersion: v1\nkind: LimitRange\nmetadata: {name: defaults}\nspec:\n  limits:\n\
    \x20 - type: Container\n    default: {cpu: 500m, memory: 256Mi}\n    defaultRequest: {cpu: 50m, memory: 64Mi}\n---\n";

#[tokio::test]
async fn workload_findings_on_the_live_cluster() {
    let plane = ControlPlane::shared();
    let with_lr = plane.unique_namespace("wl-lr").await;
    let without = plane.unique_namespace("wl-bare").await;
    let digest = format!("sha256:{}", "c".repeat(64));
    kubectl_apply(&with_lr, LIMITRANGE, false);
    let yaml = [
        deployment("ready", Some(2), "ghcr.io/kgents/api:1.0", PROBES),
        deployment("untagged", Some(1), "busybox", ""),
        deployment("pinned", Some(2), &format!("ghcr.io/kgents/api@{digest}"), PROBES),
        deployment("scaled", Some(1), "ghcr.io/kgents/api:1.0", PROBES),
        deployment("floor-low", Some(3), "ghcr.io/kgents/api:1.0", PROBES),
        format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: latest}}\nspec:\n  replicas: 3\n  serviceName: latest\n\
             \x20 selector: {{matchLabels: {{app: latest}}}}\n  template:\n    metadata: {{labels: {{app: latest}}}}\n    spec:\n\
             \x20     initContainers:\n      - {{name: init, image: \"busybox:1.35\"}}\n      containers:\n      - name: main\n\
             \x20       image: nats:latest\n{PROBES}---\n"
        ),
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n  selector: {matchLabels: {app: agent}}\n\
             \x20 template:\n    metadata: {labels: {app: agent}}\n    spec:\n      containers:\n      - name: main\n\
             \x20       image: \"agent:2\"\n        readinessProbe: {exec: {command: [\"true\"]}}\n---\n"
            .to_string(),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: debug}\nspec:\n  containers:\n  - {name: shell, image: \"busybox:1.35\"}\n---\n".into(),
        "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata: {name: scaled}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: scaled}\n  minReplicas: 2\n  maxReplicas: 4\n---\n".into(),
        "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: floor-low}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: floor-low}\n  minReplicas: 1\n  maxReplicas: 4\n".into(),
    ]
    .concat();
    kubectl_apply(&with_lr, &yaml, false);
    kubectl_apply(
        &without,
        &[
            deployment("nolimits", Some(2), "app:1", PROBES),
            deployment("limited", Some(2), "app:1", &format!("{PROBES}{RESOURCES}")),
        ]
        .concat(),
        false,
    );
    let items = [
        item("lr", "workloads.readiness", &format!("namespaces = [\"{with_lr}\"]")),
        item("bare", "workloads.readiness", &format!("namespaces = [\"{without}\"]")),
        item("digest", "workloads.readiness", &format!("namespaces = [\"{with_lr}\"]\nrequire_digest = true")),
    ]
    .concat();
    let ws = workspace(&items);
    let report = audit(ws.path(), "admin");
    let lr = &report["lr"];
    let t = |kind: &str, name: &str, ns: &str| format!("{kind} {ns}/{name}");
    let d = |name: &str| t("Deployment", name, &with_lr);

    // The LimitRange gives every container its requests and limits: no resource finding, the
    // evidence names the LimitRange for templates; the bare Pod got them from the API server's
    // LimitRanger at admission (they are in its spec).
    assert!(targets(lr, "container-requests-missing").is_empty(), "{:#}", lr["findings"]);
    assert!(targets(lr, "container-limits-missing").is_empty());
    assert!(targets(lr, "limitrange-missing").is_empty());
    let evidence = lr["evidence"].as_array().unwrap();
    let defaults = evidence.iter().find(|e| e["name"] == format!("defaults {} [main]", d("ready"))).unwrap();
    assert!(defaults["value"].as_str().unwrap().contains("cpu request 50m from LimitRange defaults (defaultRequest)"));
    let pod_evidence = format!("defaults {} [shell]", t("Pod", "debug", &with_lr));
    assert!(!evidence.iter().any(|e| e["name"] == pod_evidence), "the Pod's values are its own after admission");

    assert_eq!(targets(lr, "image-untagged"), [d("untagged")]);
    assert_eq!(targets(lr, "image-tag-latest"), [t("StatefulSet", "latest", &with_lr)]);
    assert!(targets(lr, "image-not-pinned").is_empty(), "require_digest is off");
    let mut no_readiness = targets(lr, "readiness-probe-missing");
    no_readiness.sort();
    assert_eq!(no_readiness, [d("untagged"), t("Pod", "debug", &with_lr)]);
    let mut no_liveness = targets(lr, "liveness-probe-missing");
    no_liveness.sort();
    assert_eq!(no_liveness, [t("DaemonSet", "agent", &with_lr), d("untagged"), t("Pod", "debug", &with_lr)]);
    // ReplicaSet-owned pods exist (the controllers run) but are judged through their Deployment.
    assert!(lr["findings"].as_array().unwrap().iter().all(|f| !f["target"].as_str().unwrap().contains("untagged-")));
    // Replicas: spec for most; the HPA's floor for what it scales, read through v2beta2 (v1 too).
    let mut low = targets(lr, "replicas-below-minimum");
    low.sort();
    assert_eq!(low, [d("floor-low"), d("untagged")]);
    let f = finding(lr, "replicas-below-minimum", &d("floor-low"));
    assert!(
        f["message"].as_str().unwrap().contains(&format!("minReplicas of HorizontalPodAutoscaler {with_lr}/floor-low"))
    );

    let bare = &report["bare"];
    let nolimits = t("Deployment", "nolimits", &without);
    assert_eq!(targets(bare, "container-requests-missing"), [nolimits.clone(), nolimits.clone()]);
    assert_eq!(targets(bare, "container-limits-missing"), [nolimits.clone(), nolimits]);
    assert_eq!(targets(bare, "limitrange-missing"), [format!("namespace {without}")]);
    assert_eq!(bare["outcome"], "fail");

    let digest = &report["digest"];
    let mut unpinned = targets(digest, "image-not-pinned");
    unpinned.sort();
    let expected = [
        t("DaemonSet", "agent", &with_lr),
        d("floor-low"),
        d("ready"),
        d("scaled"),
        t("Pod", "debug", &with_lr),
        t("StatefulSet", "latest", &with_lr),
    ];
    assert_eq!(unpinned, expected);
    assert!(!unpinned.contains(&d("pinned")));
}

/// Waits until the HPA controller has written what `ready` wants to see on HPA `name`.
async fn wait_hpa(ns: &str, name: &str, what: &str, ready: impl Fn(&Value) -> bool) {
    let (ns, name) = (ns.to_string(), name.to_string());
    let ready = &ready;
    support::eventually(what, Duration::from_secs(120), || {
        let (ns, name) = (ns.clone(), name.clone());
        async move {
            let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
                ControlPlane::shared().client(),
                &ns,
                &kube::api::ApiResource::from_gvk_with_plural(
                    &kube::api::GroupVersionKind::gvk("autoscaling", "v2beta2", "HorizontalPodAutoscaler"),
                    "horizontalpodautoscalers",
                ),
            );
            let h = api.get(&name).await.map_err(|e| e.to_string())?;
            let v = serde_json::to_value(&h).map_err(|e| e.to_string())?;
            if ready(&v["status"]) { Ok(()) } else { Err(format!("status {}", v["status"])) }
        }
    })
    .await;
}

fn condition<'v>(status: &'v Value, type_: &str) -> Option<&'v Value> {
    status["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

#[tokio::test]
async fn hpa_findings_on_the_live_cluster() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("hpa").await;
    let cpu70 = "  metrics:\n  - type: Resource\n    resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}\n";
    let hpa = |name: &str, target: &str, min: u32, max: u32, metrics: &str| {
        format!(
            "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: {name}}}\nspec:\n\
             \x20 scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {target}}}\n  minReplicas: {min}\n  maxReplicas: {max}\n{metrics}---\n"
        )
    };
    // web: replicas left to the HPA; client-side apply (kubectl's annotation has no replicas).
    let web = [
        deployment("web", None, "web:1", &format!("{PROBES}{RESOURCES}")),
        hpa("web", "web", 2, 5, cpu70),
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: web}\nspec:\n  minAvailable: 2\n  selector: {matchLabels: {app: web}}\n---\n".into(),
        // Written without metrics: the API server gives it 80% CPU, as the manifest check warns.
        deployment("plain", None, "plain:1", RESOURCES),
        hpa("plain", "plain", 2, 4, ""),
        hpa("ghost", "nothing", 2, 4, cpu70),
        deployment("norequests", None, "nr:1", ""),
        hpa("norequests", "norequests", 2, 4, cpu70),
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: plain}\nspec:\n  maxUnavailable: 1\n  selector: {matchLabels: {app: plain}}\n---\n".into(),
    ]
    .concat();
    kubectl_apply(&ns, &web, false);
    // full: spec.replicas 2 applied client-side (last-applied annotation); fixed: server-side.
    kubectl_apply(
        &ns,
        &[deployment("full", Some(2), "full:1", RESOURCES), hpa("full", "full", 1, 2, cpu70)].concat(),
        false,
    );
    kubectl_apply(&ns, &deployment("fixed", Some(3), "fixed:1", RESOURCES), true);
    kubectl_apply(&ns, &hpa("fixed", "fixed", 2, 6, cpu70), false);

    // The controller: web reaches its floor, then cannot get metrics; ghost cannot get a scale.
    let inactive = |s: &Value| condition(s, "ScalingActive").is_some_and(|c| c["status"] == "False");
    wait_hpa(&ns, "web", "web ScalingActive False", |s| inactive(s) && s["currentReplicas"] == 2).await;
    wait_hpa(&ns, "full", "full at 2 replicas", |s| s["currentReplicas"] == 2 && inactive(s)).await;
    wait_hpa(&ns, "ghost", "ghost AbleToScale False", |s| {
        condition(s, "AbleToScale").is_some_and(|c| c["status"] == "False")
    })
    .await;
    for name in ["plain", "norequests", "fixed"] {
        wait_hpa(&ns, name, "conditions", |s| condition(s, "AbleToScale").is_some()).await;
    }

    let items = [
        item(
            "hpa",
            "hpa.capacity",
            &format!("namespaces = [\"{ns}\"]\nload_summary = \"load.json\"\nbaseline_replicas = 2\ntarget_rps = 1200"),
        ),
        item(
            "roomy",
            "hpa.capacity",
            &format!("namespaces = [\"{ns}\"]\nload_summary = \"load.json\"\nbaseline_replicas = 2\ntarget_rps = 100"),
        ),
        item(
            "nosummary",
            "hpa.capacity",
            &format!(
                "namespaces = [\"{ns}\"]\nload_summary = \"missing.json\"\nbaseline_replicas = 2\ntarget_rps = 100"
            ),
        ),
    ]
    .concat();
    let ws = workspace(&items);
    let report = audit(ws.path(), "admin");
    let r = &report["hpa"];
    let h = |name: &str| format!("HorizontalPodAutoscaler {ns}/{name}");
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };

    // Live status: ScalingActive False with the controller's reason and message (no metrics server).
    let f = finding(r, "hpa-unable-to-scale", &h("web"));
    let msg = f["message"].as_str().unwrap();
    assert!(msg.contains("ScalingActive is False (FailedGetResourceMetric)"), "{msg}");
    assert!(msg.contains("unable to get metrics for resource cpu"), "{msg}");
    let ghost = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "hpa-unable-to-scale" && f["target"] == h("ghost"));
    assert!(
        ghost.clone().any(|f| f["message"].as_str().unwrap().contains("AbleToScale is False (FailedGetScale)")),
        "{:#}",
        r["findings"]
    );
    // AbleToScale True is never reported: web's only unable-to-scale finding is ScalingActive.
    assert_eq!(targets(r, "hpa-unable-to-scale").iter().filter(|t| **t == h("web")).count(), 1);
    assert_eq!(targets(r, "hpa-at-max"), [h("full")]);
    assert_eq!(targets(r, "hpa-target-missing"), [h("ghost")]);
    assert_eq!(targets(r, "hpa-min-replicas-low"), [h("full")]);
    assert!(targets(r, "hpa-max-not-above-min").is_empty());
    assert_eq!(targets(r, "hpa-target-without-requests"), [h("norequests")]);
    // The live object carries the API's default metric: no hpa-no-metrics.
    assert!(targets(r, "hpa-no-metrics").is_empty());
    // At minReplicas 2, web's PDB (minAvailable 2) allows nothing; plain's (maxUnavailable 1) one.
    assert_eq!(targets(r, "hpa-pdb-conflict"), [h("web")]);
    // spec.replicas in the applied configuration: kubectl's annotation and server-side apply.
    assert_eq!(sorted(targets(r, "hpa-replicas-set")), sorted(vec![h("fixed"), h("full")]));
    let fixed = finding(r, "hpa-replicas-set", &h("fixed"))["message"].as_str().unwrap().to_string();
    assert!(fixed.contains("server-side apply by field manager \"kubectl\""), "{fixed}");
    assert!(
        finding(r, "hpa-replicas-set", &h("full"))["message"].as_str().unwrap().contains("last-applied-configuration")
    );
    // Capacity: 239 req/s per replica; 1,800 req/s needed: web (5) short, fixed (6) short too.
    assert_eq!(
        sorted(targets(r, "hpa-capacity-short")),
        sorted(vec![h("web"), h("plain"), h("ghost"), h("norequests"), h("full"), h("fixed")])
    );
    assert!(targets(&report["roomy"], "hpa-capacity-short").is_empty());
    assert!(gap_codes(&report["nosummary"]).contains(&"hpa-capacity-unverified".to_string()));
    assert_eq!(
        report["nosummary"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == "hpa-capacity-short")
            .count(),
        0
    );
    assert!(!gap_codes(r).contains(&"hpa-status-unknown".to_string()), "{:#}", r["gaps"]);

    // Before the next deploy: its manifest of web, laid over the live cluster, writes replicas.
    let next = deployment("web", Some(4), "web:2", &format!("{PROBES}{RESOURCES}"))
        .replace("name: web,", &format!("name: web, namespace: {ns},"));
    std::fs::write(ws.path().join("web.yaml"), next).unwrap();
    let report = audit_with(ws.path(), "admin", &["--manifests", "web.yaml"]);
    let f = finding(&report["hpa"], "hpa-replicas-set", &h("web"));
    assert!(f["message"].as_str().unwrap().contains("the manifest sets spec.replicas: 4"), "{f:#}");
    // The live status is still judged beside the manifest's spec.
    assert!(targets(&report["hpa"], "hpa-unable-to-scale").contains(&h("web")));
}

#[tokio::test]
async fn a_user_who_cannot_list_hpas_is_told_and_never_passes() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("hpa-rbac").await;
    kubectl_apply(&ns, &deployment("api", Some(2), "api:1", &format!("{PROBES}{RESOURCES}")), false);
    // carol may list the workloads and LimitRanges, not the HPAs.
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader}\nrules:\n\
         - apiGroups: [\"\", \"apps\"]\n  resources: [pods, limitranges, deployments, statefulsets, daemonsets]\n  verbs: [list]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: reader}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}\n\
         subjects: [{kind: User, name: carol, apiGroup: rbac.authorization.k8s.io}]\n";
    plane.apply_yaml_in(&ns, role).await;
    let items = [
        item("wl", "workloads.readiness", &format!("namespaces = [\"{ns}\"]")),
        item("hpa", "hpa.capacity", &format!("namespaces = [\"{ns}\"]")),
    ]
    .concat();
    let ws = workspace(&items);
    let report = audit(ws.path(), "carol");
    let wl = &report["wl"];
    assert_eq!(wl["outcome"], "unverified", "{wl:#}");
    let perm = format!("list horizontalpodautoscalers.autoscaling in namespace {ns}");
    assert!(wl["gaps"].as_array().unwrap().iter().any(|g| g["missing_permission"] == perm), "{:#}", wl["gaps"]);
    assert_eq!(report["hpa"]["outcome"], "unverified");
    assert_eq!(report["hpa"]["unverified"]["missing_permission"], perm, "{:#}", report["hpa"]);
}

#[tokio::test]
async fn the_rbac_yaml_grants_what_both_checks_read() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("wl-rbac").await;
    let yaml = [
        LIMITRANGE.to_string(),
        deployment("api", None, "api:1", &format!("{PROBES}{RESOURCES}")),
        "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata: {name: api}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  minReplicas: 2\n  maxReplicas: 4\n---\n".into(),
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: api}\nspec:\n  maxUnavailable: 1\n  selector: {matchLabels: {app: api}}\n".into(),
    ]
    .concat();
    kubectl_apply(&ns, &yaml, false);
    wait_hpa(&ns, "api", "api ScalingActive", |s| condition(s, "ScalingActive").is_some()).await;
    let items = [
        item("wl", "workloads.readiness", &format!("namespaces = [\"{ns}\"]")),
        item("hpa", "hpa.capacity", &format!("namespaces = [\"{ns}\"]")),
    ]
    .concat();
    let ws = workspace(&items);
    let role = support::unique_name("wl-rbac-role");
    let out = Command::new(BIN)
        .args(["rbac", "--checklist", "checklist.toml", "--name", &role, "--bind", "user:dave"])
        .current_dir(ws.path())
        .env("HOME", ws.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rbac = String::from_utf8(out.stdout).unwrap();
    for resource in ["horizontalpodautoscalers", "limitranges", "poddisruptionbudgets", "daemonsets", "replicasets"] {
        assert!(rbac.contains(&format!("\"{resource}\"")), "{resource} missing:\n{rbac}");
    }
    assert!(!rbac.contains("secrets"), "neither check reads Secrets:\n{rbac}");
    plane.apply_yaml(&rbac).await;
    // RBAC takes effect once the authorizer's cache has the binding.
    let items = support::eventually("dave's audit without forbidden gaps", Duration::from_secs(20), || {
        let dir = ws.path().to_path_buf();
        async move {
            let items = tokio::task::spawn_blocking(move || audit(&dir, "dave")).await.map_err(|e| e.to_string())?;
            let forbidden =
                |i: &Value| i["unverified"]["code"] == "forbidden" || gap_codes(i).iter().any(|g| g == "forbidden");
            if items.values().any(forbidden) { Err(format!("{items:#?}")) } else { Ok(items) }
        }
    })
    .await;
    // Judged on the merits: sound objects pass; the HPA's live status (no metrics server) fails it.
    assert_eq!(items["wl"]["outcome"], "pass", "{:#}", items["wl"]);
    assert_eq!(targets(&items["hpa"], "hpa-unable-to-scale"), [format!("HorizontalPodAutoscaler {ns}/api")]);
}
