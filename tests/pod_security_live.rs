//! `security.pod-security` against a real Kubernetes 1.20 control plane: workloads applied with
//! the real kubectl, their ReplicaSets, Pods and Jobs made by the controllers, the gate auditing
//! the live cluster. 1.20 has no PodSecurity admission (so nothing stops a violating Pod, and the
//! check says the labels enforce nothing), but the labels are labels: they are read all the same.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;
use support::ControlPlane;

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

/// A workspace with the catalog file and a checklist of `items` (TOML `[[item]]` tables).
fn workspace(items: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("checks")).unwrap();
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/pod-security.toml");
    std::fs::copy(catalog, dir.path().join("checks/pod-security.toml")).unwrap();
    let text = format!(
        "[launch]\nname = \"live\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"c\"\ntitle = \"C\"\n\n{items}"
    );
    std::fs::write(dir.path().join("checklist.toml"), text).unwrap();
    dir
}

fn item(id: &str, with: &str) -> String {
    format!(
        "[[item]]\nid = \"{id}\"\ncategory = \"c\"\ntitle = \"{id}\"\ncheck = \"security.pod-security\"\n[item.with]\n{with}\n\n"
    )
}

/// Audits the live cluster as `user` (with `extra` arguments); the report's items by id.
fn audit(dir: &Path, user: &str, extra: &[&str]) -> BTreeMap<String, Value> {
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

/// `kubectl apply` of `yaml` in `ns`, with Debian's kubectl 1.20.
fn kubectl_apply(ns: &str, yaml: &str) {
    let kubectl = support::require_binary(&support::node::kubectl_path(), "kubectl 1.20.2");
    let mut child = Command::new(kubectl)
        .arg(format!("--kubeconfig={}", ControlPlane::shared().admin_kubeconfig().display()))
        .args(["apply", "-n", ns, "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "kubectl apply: {}", String::from_utf8_lossy(&out.stderr));
}

/// Waits until `ns` holds `count` Pods (the controllers' work).
async fn pods(ns: &str, count: usize) {
    let api: kube::Api<Pod> = kube::Api::namespaced(ControlPlane::shared().client(), ns);
    support::eventually(&format!("{count} pods in {ns}"), Duration::from_secs(30), || {
        let api = api.clone();
        async move {
            let n = api.list(&Default::default()).await.map_err(|e| e.to_string())?.items.len();
            if n >= count { Ok(()) } else { Err(format!("{n} pods")) }
        }
    })
    .await;
}

/// `(target, check)` of every violation of `item`, and the targets of its `code` findings.
fn violations(item: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = findings(item, "pod-security-violation")
        .iter()
        .map(|f| (f["target"].as_str().unwrap().to_string(), fact(f, "check").unwrap().to_string()))
        .collect();
    v.sort();
    v
}

fn findings<'v>(item: &'v Value, code: &str) -> Vec<&'v Value> {
    item["findings"].as_array().unwrap().iter().filter(|f| f["code"] == code).collect()
}

fn fact<'v>(v: &'v Value, name: &str) -> Option<&'v str> {
    v["evidence"].as_array()?.iter().find(|e| e["name"] == name).and_then(|e| e["value"].as_str())
}

/// A pod spec (YAML at column 0, for `indent`) that meets restricted.
const RESTRICTED: &str = "securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}\n\
    containers:\n- name: app\n  image: ghcr.io/kgents/app:1.0\n  securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n";

fn indent(spec: &str, n: usize) -> String {
    spec.lines().map(|l| format!("{}{l}\n", " ".repeat(n))).collect()
}

/// A workload of `kind` (`apiVersion` `api`) named `name`, with `spec` as its pod spec.
fn workload(api: &str, kind: &str, name: &str, spec: &str) -> String {
    let template = |n: usize| {
        let pad = " ".repeat(n);
        format!("{pad}template:\n{pad}  metadata: {{labels: {{app: {name}}}}}\n{pad}  spec:\n{}", indent(spec, n + 4))
    };
    let body = match kind {
        "Pod" => indent(spec, 2),
        "CronJob" => format!(
            "  schedule: \"0 0 1 1 *\"\n  jobTemplate:\n    spec:\n{}",
            template(6).replace("        spec:\n", "        spec:\n          restartPolicy: Never\n")
        ),
        "Job" => template(2).replace("    spec:\n", "    spec:\n      restartPolicy: Never\n"),
        "DaemonSet" => format!("  selector: {{matchLabels: {{app: {name}}}}}\n{}", template(2)),
        "StatefulSet" => {
            format!("  serviceName: {name}\n  selector: {{matchLabels: {{app: {name}}}}}\n{}", template(2))
        }
        _ => format!("  replicas: 2\n  selector: {{matchLabels: {{app: {name}}}}}\n{}", template(2)),
    };
    format!("apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n{body}---\n")
}

const BARE: &str = "containers:\n- {name: app, image: ghcr.io/kgents/app:1.0}\n";

#[tokio::test]
async fn pods_and_templates_on_the_live_cluster() {
    let plane = ControlPlane::shared();
    let pss = "pod-security.kubernetes.io";
    let good = support::unique_name("pss-good");
    let enforce = [(format!("{pss}/enforce"), "restricted"), (format!("{pss}/enforce-version"), "v1.24")];
    let labels: Vec<(&str, &str)> = enforce.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    plane.create_namespace_labeled(&good, &labels).await;
    let bare = plane.unique_namespace("pss-bare").await;
    let warn = support::unique_name("pss-warn");
    plane.create_namespace_labeled(&warn, &[("pod-security.kubernetes.io/warn", "restricted")]).await;

    kubectl_apply(
        &good,
        &[
            workload("apps/v1", "Deployment", "api", RESTRICTED),
            workload("apps/v1", "StatefulSet", "db", RESTRICTED),
            workload("batch/v1", "Job", "migrate", RESTRICTED),
            workload("batch/v1beta1", "CronJob", "report", RESTRICTED),
        ]
        .concat(),
    );
    let host = "hostNetwork: true\nvolumes:\n- {name: logs, hostPath: {path: /var/log}}\n".to_string() + RESTRICTED;
    // The test API server runs with --allow-privileged=false: a capability instead.
    let sys_admin = RESTRICTED.replace("drop: [ALL]}", "drop: [ALL], add: [SYS_ADMIN]}");
    let escalating = RESTRICTED.replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true");
    kubectl_apply(
        &bare,
        &[
            workload("apps/v1", "Deployment", "legacy", BARE),
            workload("apps/v1", "DaemonSet", "agent", &host),
            workload("batch/v1beta1", "CronJob", "backup", &sys_admin),
            workload("v1", "Pod", "debug", &escalating),
        ]
        .concat(),
    );
    kubectl_apply(&warn, &workload("v1", "Pod", "ok", RESTRICTED));
    // The controllers make the ReplicaSets, Pods and the Job's Pod (no nodes: the DaemonSet none).
    pods(&good, 4).await;
    pods(&bare, 3).await;

    let items = [
        item("good", &format!("namespaces = [\"{good}\"]")),
        item("mixed", &format!("namespaces = [\"{bare}\", \"{warn}\"]")),
        item("pinned", &format!("namespaces = [\"{good}\"]\nversion = \"namespace\"")),
    ]
    .concat();
    let ws = workspace(&items);
    let report = audit(ws.path(), "admin", &[]);

    let g = &report["good"];
    assert!(violations(g).is_empty(), "{:#}", g["findings"]);
    assert_eq!(
        fact(g, "pod specs judged"),
        Some("1 CronJob, 1 Deployment, 1 StatefulSet, 1 Job"),
        "{:#}",
        g["evidence"]
    );
    assert_eq!(
        fact(g, "judged through their controller"),
        Some("1 ReplicaSet, 4 Pods (only what differs from the controller's template is reported)")
    );
    assert_eq!(
        fact(g, &format!("namespace {good}")),
        Some("enforce restricted at v1.24 (pinned); warn not set; audit not set")
    );
    // 1.20 has no PodSecurity admission: the labels are read, and said to enforce nothing.
    let absent = findings(g, "pod-security-admission-absent");
    assert_eq!(absent.len(), 1, "{:#}", g["findings"]);
    assert!(absent[0]["message"].as_str().unwrap().contains("v1.20.2"));
    assert_eq!(g["outcome"], "warn", "{g:#}");
    assert_eq!(report["pinned"]["outcome"], "warn");
    assert!(fact(&report["pinned"], "version").unwrap().contains("enforce-version"));

    let m = &report["mixed"];
    assert_eq!(m["outcome"], "fail");
    let t = |kind: &str, name: &str| format!("{kind} {bare}/{name}");
    let expected: Vec<(String, String)> = [
        (t("CronJob", "backup"), "capabilities_restricted"),
        (t("DaemonSet", "agent"), "hostNamespaces"),
        (t("DaemonSet", "agent"), "restrictedVolumes"),
        (t("Deployment", "legacy"), "allowPrivilegeEscalation"),
        (t("Deployment", "legacy"), "capabilities_restricted"),
        (t("Deployment", "legacy"), "runAsNonRoot"),
        (t("Deployment", "legacy"), "seccompProfile_restricted"),
        (t("Pod", "debug"), "allowPrivilegeEscalation"),
    ]
    .into_iter()
    .map(|(a, b)| (a, b.to_string()))
    .collect();
    // The legacy Deployment's ReplicaSet and Pods repeat its template: reported once, on it.
    assert_eq!(violations(m), expected, "{:#}", m["findings"]);
    let backup =
        findings(m, "pod-security-violation").into_iter().find(|f| f["target"] == t("CronJob", "backup")).unwrap();
    assert_eq!(
        fact(backup, "field"),
        Some("spec.jobTemplate.spec.template.spec.containers[0].securityContext.capabilities.add[0]")
    );
    assert_eq!(fact(backup, "value"), Some("\"SYS_ADMIN\""));
    let not_enforced: Vec<&str> =
        findings(m, "namespace-pss-not-enforced").iter().map(|f| f["target"].as_str().unwrap()).collect();
    assert_eq!(not_enforced, [format!("Namespace {bare}")]);
    let warn_only: Vec<&str> =
        findings(m, "namespace-pss-warn-only").iter().map(|f| f["target"].as_str().unwrap()).collect();
    assert_eq!(warn_only, [format!("Namespace {warn}")]);

    // Before the next deploy: its manifest of legacy, laid over the live cluster, meets restricted.
    // The live ReplicaSet and Pods still run the old template: the rollout replaces them.
    let fixed = workload("apps/v1", "Deployment", "legacy", RESTRICTED)
        .replace("name: legacy}", &format!("name: legacy, namespace: {bare}}}"));
    std::fs::write(ws.path().join("legacy.yaml"), fixed).unwrap();
    let report = audit(ws.path(), "admin", &["--manifests", "legacy.yaml", "--only", "mixed"]);
    let m = &report["mixed"];
    let left: Vec<(String, String)> =
        violations(m).into_iter().filter(|(target, _)| target.contains("legacy")).collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(
        fact(m, "replaced by the deploy").unwrap().starts_with("1 ReplicaSet, 2 Pods of the live cluster"),
        "{:#}",
        m["evidence"]
    );
}

#[tokio::test]
async fn a_user_who_cannot_list_cronjobs_or_namespaces_is_told_and_findings_stay() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("pss-rbac").await;
    kubectl_apply(&ns, &workload("apps/v1", "Deployment", "legacy", BARE));
    // carol may list every kind with a pod spec but CronJobs, and no namespaces.
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader}\nrules:\n\
         - apiGroups: [\"\", \"apps\", \"batch\"]\n  resources: [pods, replicationcontrollers, deployments, statefulsets, daemonsets, replicasets, jobs]\n  verbs: [list]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: reader}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}\n\
         subjects: [{kind: User, name: carol, apiGroup: rbac.authorization.k8s.io}]\n";
    plane.apply_yaml_in(&ns, role).await;
    let ws = workspace(&item("pss", &format!("namespaces = [\"{ns}\"]")));
    let report = support::eventually("carol's Role in force", Duration::from_secs(20), || {
        let dir = ws.path().to_path_buf();
        async move {
            let r = tokio::task::spawn_blocking(move || audit(&dir, "carol", &[])).await.map_err(|e| e.to_string())?;
            if violations(&r["pss"]).is_empty() { Err(format!("{:#}", r["pss"])) } else { Ok(r) }
        }
    })
    .await;
    let i = &report["pss"];
    // A definite violation fails the item even with what could not be read beside it.
    assert_eq!(i["outcome"], "fail", "{i:#}");
    let missing: Vec<&str> =
        i["gaps"].as_array().unwrap().iter().filter_map(|g| g["missing_permission"].as_str()).collect();
    assert!(missing.contains(&format!("list cronjobs.batch in namespace {ns}").as_str()), "{missing:?}");
    assert!(missing.iter().any(|m| m.starts_with("list namespaces")), "{missing:?}");
}

#[tokio::test]
async fn the_rbac_yaml_grants_what_the_check_reads() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("pss-grant").await;
    kubectl_apply(&ns, &workload("apps/v1", "Deployment", "api", RESTRICTED));
    let ws = workspace(&item("pss", &format!("namespaces = [\"{ns}\"]")));
    let role = support::unique_name("pss-rbac-role");
    let out = Command::new(BIN)
        .args(["rbac", "--checklist", "checklist.toml", "--name", &role, "--bind", "user:dave"])
        .current_dir(ws.path())
        .env("HOME", ws.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rbac = String::from_utf8(out.stdout).unwrap();
    assert!(!rbac.contains("secrets"), "{rbac}");
    plane.apply_yaml(&rbac).await;
    let report = support::eventually("dave's audit without forbidden gaps", Duration::from_secs(20), || {
        let dir = ws.path().to_path_buf();
        async move {
            let r = tokio::task::spawn_blocking(move || audit(&dir, "dave", &[])).await.map_err(|e| e.to_string())?;
            let gaps = r["pss"]["gaps"].as_array().map_or(0, Vec::len);
            if gaps == 0 { Ok(r) } else { Err(format!("{:#}", r["pss"])) }
        }
    })
    .await;
    let i = &report["pss"];
    // Everything read; the namespace is unlabelled and 1.20 has no admission controller.
    assert_eq!(i["outcome"], "fail", "{i:#}");
    assert!(violations(i).is_empty(), "{:#}", i["findings"]);
    assert_eq!(findings(i, "namespace-pss-not-enforced").len(), 1);
    assert_eq!(findings(i, "pod-security-admission-absent").len(), 1);
}
