//! The cluster view against a real Kubernetes 1.20.2 control plane: RBAC gaps named and fixed by
//! the `rbac` command's YAML, pagination, policy/v1beta1 discovery, the manifest overlay, dead
//! servers, merged kubeconfigs with `--context`, provenance, and Secret values never loaded.

mod support;
mod view_support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kgents_gate::cluster::live::{self, LiveOptions};
use kgents_gate::cluster::{Kind, Need};
use kgents_gate::sources::{SourceOptions, load_view};
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;
use support::{ControlPlane, eventually};
use view_support::{audit_json, gate_env, path_str, pdb_workspace, text};

fn live_opts(kubeconfig: PathBuf, page_size: u32) -> LiveOptions {
    LiveOptions { kubeconfig: Some(kubeconfig), page_size, ..LiveOptions::default() }
}

fn names(objects: &[Value]) -> Vec<String> {
    let mut n: Vec<String> =
        objects.iter().map(|o| o["metadata"]["name"].as_str().unwrap_or("?").to_string()).collect();
    n.sort();
    n
}

/// A kubeconfig with one context `context` for `token` on `server` (CA inline).
fn write_kubeconfig(path: &Path, context: &str, server: &str, ca_pem: &str, token: &str, current: &str) {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {context}-cluster\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {context}-user\n  user:\n    token: {token}\ncontexts:\n- name: {context}\n  context:\n    cluster: {context}-cluster\n    user: {context}-user\ncurrent-context: \"{current}\"\n"
    );
    std::fs::write(path, text).unwrap();
}

/// A 127.0.0.1 port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn item(report: &Value) -> &Value {
    &report["items"][0]
}

/// A fresh namespace holding one PDB that selects no pod (the PDB check fails on it).
async fn with_a_pdb(prefix: &str) -> String {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace(prefix).await;
    plane
        .apply_yaml_in(
            &ns,
            "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: lonely}\nspec: {minAvailable: 1, selector: {matchLabels: {app: nobody}}}\n",
        )
        .await;
    ns
}

#[test]
fn restricted_user_is_told_the_missing_permission_and_the_rbac_yaml_grants_it() {
    let plane = ControlPlane::shared();
    let ns = support::run_blocking(async { with_a_pdb("view-rbac").await });
    let ws = pdb_workspace(&ns);
    let kc = plane.kubeconfig_for("alice");

    let (out, report) = audit_json(ws.path(), &["--kubeconfig", path_str(&kc)], &[]);
    let report = report.unwrap_or_else(|| panic!("no report\n{}", text(&out)));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let it = item(&report);
    assert_eq!(it["outcome"], "unverified", "{it:#}");
    assert_eq!(it["unverified"]["code"], "forbidden", "{it:#}");
    assert_eq!(
        it["unverified"]["missing_permission"],
        format!("list poddisruptionbudgets.policy in namespace {ns}"),
        "{it:#}"
    );
    // alice may not read the kube-system namespace either: no identity, but the rest is there.
    assert_eq!(report["provenance"]["cluster"]["version"], "v1.20.2");
    assert!(report["provenance"]["cluster"]["identity"].is_null());

    // The least-privilege YAML for the same checklist, bound to alice, applied for real.
    let role = support::unique_name("view-rbac-role");
    let rbac =
        gate_env(ws.path(), &["rbac", "--checklist", "checklist.toml", "--name", &role, "--bind", "user:alice"], &[]);
    assert_eq!(rbac.status.code(), Some(0), "{}", text(&rbac));
    let yaml = String::from_utf8(rbac.stdout).unwrap();
    assert!(yaml.contains("kind: RoleBinding") && yaml.contains(&format!("namespace: {ns}")), "{yaml}");
    assert!(!yaml.contains("secrets"), "the PDB check reads no secrets:\n{yaml}");
    let ns2 = ns.clone();
    support::run_blocking(async move {
        let plane = ControlPlane::shared();
        plane.apply_yaml(&yaml).await;
        // RBAC takes effect once the authorizer's cache has the binding.
        let gvk = GroupVersionKind::gvk("policy", "v1beta1", "PodDisruptionBudget");
        let ar = ApiResource::from_gvk_with_plural(&gvk, "poddisruptionbudgets");
        let alice: Api<DynamicObject> = Api::namespaced_with(plane.client_for("alice"), &ns2, &ar);
        eventually("alice may list PDBs", Duration::from_secs(20), || {
            let alice = alice.clone();
            async move { alice.list(&ListParams::default()).await.map(|_| ()).map_err(|e| e.to_string()) }
        })
        .await;
    });

    let (out, report) = audit_json(ws.path(), &["--kubeconfig", path_str(&kc)], &[]);
    let report = report.unwrap_or_else(|| panic!("no report\n{}", text(&out)));
    let it = item(&report);
    assert!(it["unverified"].is_null(), "still unverified after applying the rbac YAML: {it:#}");
    // Judged on the merits: the PDB selects no pod.
    assert_eq!(it["outcome"], "fail", "{it:#}");
    assert_eq!(it["code"], "pdb-selector-matches-nothing", "{it:#}");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // The ClusterRole grants `get namespaces`: now the identity is readable too.
    assert!(report["provenance"]["cluster"]["identity"].is_string(), "{:#}", report["provenance"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn small_pages_return_every_object_and_pdbs_come_from_policy_v1beta1() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("view-pages").await;
    let mut yaml = String::new();
    for i in 0..7 {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}}}\ndata: {{k: v{i}}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: pod-{i}, labels: {{app: web}}}}\nspec: {{containers: [{{name: c, image: nginx}}]}}\n"
        ));
    }
    yaml.push_str("---\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: web}\nspec: {minAvailable: 1, selector: {matchLabels: {app: web}}}\n");
    plane.apply_yaml_in(&ns, &yaml).await;

    let live = live::connect(&live_opts(plane.admin_kubeconfig(), 2)).await.expect("connect");
    let needs = [
        Need::namespaced(Kind::ConfigMap, std::slice::from_ref(&ns)),
        Need::namespaced(Kind::Pod, std::slice::from_ref(&ns)),
        Need::namespaced(Kind::PodDisruptionBudget, std::slice::from_ref(&ns)),
    ];
    let view = live::load(&live, &needs, 2).await;
    // 1.20's root CA publisher adds kube-root-ca.crt to every namespace, maybe not yet.
    let ours = |objs: &[Value]| -> Vec<String> { names(objs).into_iter().filter(|n| n.starts_with("cm-")).collect() };
    let cms = view.objects(Kind::ConfigMap).expect("configmaps");
    let want: Vec<String> = (0..7).map(|i| format!("cm-{i}")).collect();
    assert_eq!(ours(cms), want, "7 ConfigMaps in pages of 2");
    assert!(cms.len() <= 8, "{:?}", names(cms));
    assert!(cms.iter().all(|o| o["apiVersion"] == "v1" && o["kind"] == "ConfigMap"));
    let pods = view.objects(Kind::Pod).expect("pods");
    assert_eq!(names(pods), (0..7).map(|i| format!("pod-{i}")).collect::<Vec<_>>());
    assert!(pods.iter().all(|o| o["kind"] == "Pod" && o["metadata"]["namespace"] == ns.as_str()));

    // 1.20 serves PDBs only as policy/v1beta1: discovery picks it.
    let pdbs = view.objects(Kind::PodDisruptionBudget).expect("pdbs");
    assert_eq!(names(pdbs), ["web"]);
    assert_eq!(pdbs[0]["apiVersion"], "policy/v1beta1");
    assert_eq!(pdbs[0]["kind"], "PodDisruptionBudget");
    assert_eq!(pdbs[0]["spec"]["minAvailable"], 1);

    // Page size 1 and a page bigger than the list give the same objects.
    for page in [1, 500] {
        let v = live::load(&live, &needs[..1], page).await;
        assert_eq!(ours(v.objects(Kind::ConfigMap).unwrap()), want, "page size {page}");
    }
}

const LIVE_PDBS: &str = "---\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: web}\nspec: {minAvailable: 1, selector: {matchLabels: {app: web}}}\n---\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: live-only}\nspec: {minAvailable: 1, selector: {matchLabels: {app: live}}}\n";

/// The files change `web` to allow no disruption and add `extra`.
fn overlay_manifests(dir: &Path, ns: &str) -> PathBuf {
    let path = dir.join("deploy");
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(
        path.join("pdbs.yaml"),
        format!("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: web, namespace: {ns}}}\nspec: {{maxUnavailable: 0, selector: {{matchLabels: {{app: web}}}}}}\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: extra}}\nspec: {{minAvailable: 1, selector: {{matchLabels: {{app: extra}}}}}}\n"),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_overlay_the_live_objects() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("view-overlay").await;
    plane.apply_yaml_in(&ns, LIVE_PDBS).await;
    let ws = tempfile::tempdir().unwrap();
    let files = overlay_manifests(ws.path(), &ns);
    let opts = SourceOptions {
        live: live_opts(plane.admin_kubeconfig(), 500),
        manifests: vec![files],
        manifest_namespace: ns.clone(),
        offline: false,
    };
    let needs = [Need::namespaced(Kind::PodDisruptionBudget, std::slice::from_ref(&ns))];
    let loaded = load_view(&needs, &opts, Duration::from_secs(30)).await.expect("load");
    assert!(loaded.live.is_some() && !loaded.view.offline);
    let pdbs = loaded.view.objects(Kind::PodDisruptionBudget).expect("pdbs");
    assert_eq!(names(pdbs), ["extra", "live-only", "web"]);
    let web = pdbs.iter().find(|o| o["metadata"]["name"] == "web").unwrap();
    assert_eq!(web["spec"]["maxUnavailable"], 0, "the file's web replaced the live one: {web:#}");
    assert!(web["spec"]["minAvailable"].is_null());
    let extra = pdbs.iter().find(|o| o["metadata"]["name"] == "extra").unwrap();
    assert_eq!(extra["metadata"]["namespace"], ns.as_str(), "--manifest-namespace for objects naming none");
    assert_eq!(loaded.view.manifest_files.len(), 1);
}

fn finding_codes_for(report: &Value, name: &str) -> Vec<String> {
    item(report)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["target"].as_str().unwrap_or("").ends_with(&format!("/{name}")))
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn audit_with_manifests_flag_judges_the_overlaid_objects() {
    let plane = ControlPlane::shared();
    let ns = support::run_blocking(async {
        let plane = ControlPlane::shared();
        let ns = plane.unique_namespace("view-overlay-cli").await;
        plane.apply_yaml_in(&ns, LIVE_PDBS).await;
        ns
    });
    let ws = pdb_workspace(&ns);
    let kc = plane.admin_kubeconfig();
    let files = overlay_manifests(ws.path(), &ns);

    let (out, live_only) = audit_json(ws.path(), &["--kubeconfig", path_str(&kc)], &[]);
    let live_only = live_only.unwrap_or_else(|| panic!("{}", text(&out)));
    assert!(finding_codes_for(&live_only, "extra").is_empty());
    assert!(!finding_codes_for(&live_only, "web").contains(&"pdb-never-allows-disruption".to_string()));

    let (out, overlaid) = audit_json(
        ws.path(),
        &["--kubeconfig", path_str(&kc), "--manifests", path_str(&files), "--manifest-namespace", &ns],
        &[],
    );
    let overlaid = overlaid.unwrap_or_else(|| panic!("{}", text(&out)));
    assert!(
        finding_codes_for(&overlaid, "web").contains(&"pdb-never-allows-disruption".to_string()),
        "{:#}",
        item(&overlaid)["findings"]
    );
    assert!(!finding_codes_for(&overlaid, "extra").is_empty(), "{:#}", item(&overlaid)["findings"]);
    assert!(!finding_codes_for(&overlaid, "live-only").is_empty(), "live objects stay");
    assert_eq!(overlaid["provenance"]["manifests"].as_array().map(Vec::len), Some(1));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn dead_api_server_is_unverified_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let kc = dir.path().join("dead.yaml");
    write_kubeconfig(&kc, "dead", &format!("https://127.0.0.1:{port}"), "unused", "token-x", "dead");
    let ws = pdb_workspace("anything");
    let started = Instant::now();
    let (out, report) = audit_json(
        ws.path(),
        &["--kubeconfig", path_str(&kc), "--connect-timeout", "2s", "--item-timeout", "10s"],
        &[],
    );
    let took = started.elapsed();
    let report = report.unwrap_or_else(|| panic!("{}", text(&out)));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let u = &item(&report)["unverified"];
    assert_eq!(u["code"], "no-cluster", "{u:#}");
    let reason = u["reason"].as_str().unwrap();
    assert!(
        reason.contains("cannot reach the API server") && reason.contains(&format!("127.0.0.1:{port}")),
        "{reason}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(report["provenance"]["cluster"].is_null());
}

#[test]
fn merged_kubeconfig_with_context_and_provenance() {
    let plane = ControlPlane::shared();
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("a-dead.yaml");
    let real = dir.path().join("b-real.yaml");
    // The first file's current context (a dead server) wins the merge, as with kubectl.
    write_kubeconfig(&dead, "dead", &format!("https://127.0.0.1:{}", closed_port()), "unused", "t", "dead");
    write_kubeconfig(&real, "real", plane.api_url(), plane.ca_pem(), plane.token("admin"), "");
    let merged = std::env::join_paths([&dead, &real]).unwrap();
    let merged = merged.to_str().unwrap();
    let ns = support::run_blocking(async { with_a_pdb("view-ctx").await });
    let ws = pdb_workspace(&ns);

    let (out, report) = audit_json(ws.path(), &["--context", "real"], &[("KUBECONFIG", merged)]);
    let report = report.unwrap_or_else(|| panic!("{}", text(&out)));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(item(&report)["code"], "pdb-selector-matches-nothing", "{}", text(&out));
    let c = &report["provenance"]["cluster"];
    assert_eq!(c["server"], plane.api_url());
    assert_eq!(c["version"], "v1.20.2");
    assert_eq!(c["context"], "real");
    let uid = support::run_blocking(async {
        let api: Api<Namespace> = Api::all(ControlPlane::shared().client());
        api.get("kube-system").await.unwrap().metadata.uid.unwrap()
    });
    assert_eq!(c["identity"], uid.as_str());

    // Without --context the merged current context is the dead one.
    let (out, report) = audit_json(ws.path(), &["--connect-timeout", "2s"], &[("KUBECONFIG", merged)]);
    let report = report.unwrap_or_else(|| panic!("{}", text(&out)));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(item(&report)["unverified"]["code"], "no-cluster");
}

#[test]
fn bad_kubeconfig_is_a_usage_error_that_quotes_nothing() {
    let ws = pdb_workspace("anything");
    let missing = ws.path().join("nope/kubeconfig.yaml");
    let (out, report) = audit_json(ws.path(), &["--kubeconfig", path_str(&missing)], &[]);
    let err = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(report.is_none());
    assert!(err.contains(path_str(&missing)) && err.contains("nothing was checked"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let broken = ws.path().join("broken.yaml");
    std::fs::write(&broken, "apiVersion: v1\nusers:\n- name: u\n  user: {token: tok-canary-5150\n").unwrap();
    let (out, _) = audit_json(ws.path(), &["--kubeconfig", path_str(&broken)], &[]);
    let err = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("invalid YAML") && !err.contains("tok-canary"), "{err}");

    let ok = ws.path().join("ok.yaml");
    write_kubeconfig(&ok, "one", "https://127.0.0.1:1", "unused", "t", "one");
    let (out, _) = audit_json(ws.path(), &["--kubeconfig", path_str(&ok), "--context", "nope"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("nope"), "{}", text(&out));
}

const SECRET_VALUE: &str = "view-canary-Zq8vX3pL";

#[tokio::test(flavor = "multi_thread")]
async fn secret_values_never_reach_the_view() {
    use base64::Engine as _;
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("view-secrets").await;
    // The annotation `kubectl apply` writes holds the values too.
    let last_applied = serde_json::json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"stringData":{"password":SECRET_VALUE}}).to_string();
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied}},
        "stringData": {"password": SECRET_VALUE, "user": "admin-user"}
    });
    plane.apply_yaml_in(&ns, &serde_json::to_string(&secret).unwrap()).await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(SECRET_VALUE);
    let leaks = |json: &str| json.contains(SECRET_VALUE) || json.contains(&b64) || json.contains("YWRtaW4tdXNlcg");

    let ws = tempfile::tempdir().unwrap();
    let file = ws.path().join("secret.yaml");
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: from-file}}\ndata: {{token: {b64}}}\nstringData: {{password: {SECRET_VALUE}}}\n"
    );
    std::fs::write(&file, manifest).unwrap();
    for full in [true, false] {
        let mut need = Need::namespaced(Kind::Secret, std::slice::from_ref(&ns));
        if !full {
            need = need.metadata_only();
        }
        let opts = SourceOptions {
            live: live_opts(plane.admin_kubeconfig(), 500),
            manifests: vec![file.clone()],
            manifest_namespace: ns.clone(),
            offline: false,
        };
        let loaded = load_view(&[need], &opts, Duration::from_secs(30)).await.expect("load");
        let secrets = loaded.view.objects(Kind::Secret).expect("secrets");
        // Also the service account token secret the controller made.
        assert!(names(secrets).contains(&"db".to_string()) && names(secrets).contains(&"from-file".to_string()));
        let json = serde_json::to_string(&secrets).unwrap();
        assert!(!leaks(&json), "full={full}: a Secret value is in the view: {json}");
        let db = secrets.iter().find(|o| o["metadata"]["name"] == "db").unwrap();
        let file_secret = secrets.iter().find(|o| o["metadata"]["name"] == "from-file").unwrap();
        assert_eq!(file_secret["data"]["token"], "", "keys kept, values blanked");
        assert_eq!(file_secret["stringData"]["password"], "");
        if full {
            let data = db["data"].as_object().expect("data keys are kept");
            let mut keys: Vec<&String> = data.keys().collect();
            keys.sort();
            assert_eq!(keys, ["password", "user"]);
            assert!(data.values().all(|v| v == ""));
        } else {
            // Metadata only: no data at all, but the object and its annotations are there.
            assert!(db.get("data").is_none(), "{db:#}");
            assert_eq!(db["kind"], "Secret");
        }
        // The annotation keeps which keys held values (secret hygiene judges that), never a value.
        let applied =
            db["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].as_str().unwrap();
        let applied: serde_json::Value = serde_json::from_str(applied).unwrap();
        assert_eq!(applied["stringData"]["password"], "<redacted>");
    }
}
