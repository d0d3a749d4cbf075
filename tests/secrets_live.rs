//! Secret hygiene against a real Kubernetes 1.20 control plane: every finding code triggered and
//! not triggered through `kgents-gate secrets scan` (and the audit), and a token that cannot list
//! Secrets giving `unverified` with the missing permission, never a pass.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::ControlPlane;

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

fn gate(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(BIN)
        .args(args)
        .current_dir(home.path())
        .env("NO_COLOR", "1")
        .env("HOME", home.path())
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// `secrets scan -n NS --format json` as `user`: exit code, findings, stderr.
fn scan_as(user: &str, ns: &str, extra: &[&str]) -> (i32, Vec<Value>, String) {
    let kc = ControlPlane::shared().kubeconfig_for(user);
    let mut args = vec!["secrets", "scan", "-n", ns, "--format", "json", "--kubeconfig", kc.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = gate(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out.status.code().unwrap_or(-1);
    let findings = if stdout.trim().is_empty() {
        Vec::new()
    } else {
        serde_json::from_str::<Vec<Value>>(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
    };
    (code, findings, stderr)
}

fn scan(ns: &str, extra: &[&str]) -> (i32, Vec<Value>) {
    let (code, findings, stderr) = scan_as("admin", ns, extra);
    assert!(code == 0 || code == 1, "exit {code}: {stderr}");
    (code, findings)
}

/// Findings with `code` on object `kind name`.
fn on<'a>(findings: &'a [Value], code: &str, kind: &str, name: &str) -> Vec<&'a Value> {
    findings
        .iter()
        .filter(|f| f["code"] == code && f["object"]["kind"] == kind && f["object"]["name"] == name)
        .collect()
}

async fn namespace_with(prefix: &str, yaml: &str) -> String {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace(prefix).await;
    plane.apply_yaml_in(&ns, yaml).await;
    ns
}

const POD_SPEC_HEAD: &str = "    spec:\n      containers:\n      - name: app\n        image: app:1\n";

#[tokio::test]
async fn env_plain_credential_on_the_workload_not_on_its_pods() {
    let yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData: {{password: s3cr3t-value-x}}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: leaky}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: leaky}}}}\n  template:\n    metadata: {{labels: {{app: leaky}}}}\n{POD_SPEC_HEAD}        env:\n        - {{name: DB_PASSWORD, value: hunter2-plain-value}}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: clean}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: clean}}}}\n  template:\n    metadata: {{labels: {{app: clean}}}}\n{POD_SPEC_HEAD}        env:\n        - name: DB_PASSWORD\n          valueFrom: {{secretKeyRef: {{name: db, key: password}}}}\n        - {{name: LOG_LEVEL, value: debug}}\n"
    );
    let ns = namespace_with("sec-env", &yaml).await;
    // The real controllers make the ReplicaSets and Pods: findings stay on the Deployment.
    support::eventually("pods of both deployments", std::time::Duration::from_secs(30), || {
        let ns = ns.clone();
        async move {
            let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
                kube::Api::namespaced(ControlPlane::shared().client(), &ns);
            let n = pods.list(&Default::default()).await.map_err(|e| e.to_string())?.items.len();
            if n >= 2 { Ok(()) } else { Err(format!("{n} pods")) }
        }
    })
    .await;
    let (code, f) = scan(&ns, &[]);
    assert_eq!(code, 1, "{f:#?}");
    let leaky = on(&f, "env-plain-credential", "Deployment", "leaky");
    assert_eq!(leaky.len(), 1, "{f:#?}");
    assert_eq!(leaky[0]["key"], "containers[app].env.DB_PASSWORD");
    assert_eq!(leaky[0]["severity"], "error");
    assert!(on(&f, "env-plain-credential", "Deployment", "clean").is_empty(), "{f:#?}");
    let on_children: Vec<_> =
        f.iter().filter(|x| x["code"] == "env-plain-credential" && x["object"]["kind"] != "Deployment").collect();
    assert!(on_children.is_empty(), "ReplicaSets and Pods are reported through their owner: {on_children:#?}");
}

#[tokio::test]
async fn configmap_credential() {
    let ns = namespace_with(
        "sec-cm",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leaky}\ndata: {SMTP_PASSWORD: pl41n-smtp-value}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: clean}\ndata: {LOG_LEVEL: debug, PASSWORD_FILE: /etc/pw}\n",
    )
    .await;
    let (code, f) = scan(&ns, &[]);
    assert_eq!(code, 1);
    let leaky = on(&f, "configmap-credential", "ConfigMap", "leaky");
    assert_eq!(leaky.len(), 1, "{f:#?}");
    assert_eq!(leaky[0]["key"], "SMTP_PASSWORD");
    assert!(on(&f, "configmap-credential", "ConfigMap", "clean").is_empty(), "{f:#?}");
}

#[tokio::test]
async fn secret_ref_missing_secret_and_key() {
    let pod = |name: &str, secret: &str, key: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  automountServiceAccountToken: false\n  containers:\n  - name: app\n    image: app:1\n    env:\n    - name: TOKEN\n      valueFrom: {{secretKeyRef: {{name: {secret}, key: {key}}}}}\n"
        )
    };
    let yaml = [
        "apiVersion: v1\nkind: Secret\nmetadata: {name: api}\nstringData: {token: t0k3n-value}\n".to_string(),
        pod("no-secret", "nope", "token"),
        pod("no-key", "api", "tokn"),
        pod("fine", "api", "token"),
    ]
    .join("---\n");
    let ns = namespace_with("sec-ref", &yaml).await;
    let (code, f) = scan(&ns, &[]);
    assert_eq!(code, 1);
    let missing = on(&f, "secret-ref-missing", "Pod", "no-secret");
    assert_eq!(missing.len(), 1, "{f:#?}");
    assert!(missing[0]["message"].as_str().unwrap().contains("does not exist"));
    let no_key = on(&f, "secret-ref-missing", "Pod", "no-key");
    assert_eq!(no_key.len(), 1, "{f:#?}");
    assert!(no_key[0]["message"].as_str().unwrap().contains("no such key"));
    assert_eq!(no_key[0]["key"], "containers[app].env.TOKEN");
    assert!(on(&f, "secret-ref-missing", "Pod", "fine").is_empty(), "{f:#?}");
}

#[tokio::test]
async fn last_applied_in_clear() {
    // Set by hand: the server-side apply the harness uses writes no such annotation.
    let ns = namespace_with(
        "sec-la",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: applied\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"applied\"},\"stringData\":{\"password\":\"cl34r-value\"}}'\nstringData: {password: cl34r-value}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata:\n  name: server-side\n  annotations: {team: web}\nstringData: {password: other-value}\n",
    )
    .await;
    let (code, f) = scan(&ns, &[]);
    assert_eq!(code, 1);
    let la = on(&f, "secret-last-applied-in-clear", "Secret", "applied");
    assert_eq!(la.len(), 1, "{f:#?}");
    assert_eq!(la[0]["key"], "password");
    assert!(on(&f, "secret-last-applied-in-clear", "Secret", "server-side").is_empty(), "{f:#?}");
}

#[tokio::test]
async fn rotation_overdue_with_a_tiny_rotation_age() {
    let ns =
        namespace_with("sec-rot", "apiVersion: v1\nkind: Secret\nmetadata: {name: aging}\nstringData: {k: v}\n").await;
    // creationTimestamp cannot be backdated on a live server: make the rotation age tiny instead.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (_, f) = scan(&ns, &["--rotation-max-age", "1s"]);
    assert_eq!(on(&f, "secret-rotation-overdue", "Secret", "aging").len(), 1, "{f:#?}");
    let (_, f) = scan(&ns, &[]);
    assert!(on(&f, "secret-rotation-overdue", "Secret", "aging").is_empty(), "90d default: {f:#?}");
}

#[tokio::test]
async fn unused_secret() {
    let ns = namespace_with(
        "sec-unused",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: orphan}\nstringData: {k: v}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {name: mounted}\nstringData: {k: v}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: user}\nspec:\n  automountServiceAccountToken: false\n  containers: [{name: app, image: 'app:1'}]\n  volumes: [{name: s, secret: {secretName: mounted}}]\n",
    )
    .await;
    let (code, f) = scan(&ns, &[]);
    assert_eq!(code, 0, "warnings only: {f:#?}");
    assert_eq!(on(&f, "secret-unused", "Secret", "orphan").len(), 1, "{f:#?}");
    assert!(on(&f, "secret-unused", "Secret", "mounted").is_empty(), "{f:#?}");
    // The service-account token Secrets the controllers make are managed, never "unused".
    assert!(f.iter().all(|x| x["code"] != "secret-unused" || x["object"]["name"] == "orphan"), "{f:#?}");
}

#[tokio::test]
async fn automounted_service_account_token() {
    let ns = namespace_with(
        "sec-sa",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: quiet}\nautomountServiceAccountToken: false\n---\n\
         apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: talkative}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: calm}\nspec:\n  serviceAccountName: quiet\n  containers: [{name: app, image: 'app:1'}]\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: chatty}\nspec:\n  serviceAccountName: talkative\n  containers: [{name: app, image: 'app:1'}]\n",
    )
    .await;
    let (_, f) = scan(&ns, &[]);
    assert_eq!(on(&f, "sa-token-automounted", "Pod", "chatty").len(), 1, "{f:#?}");
    assert!(on(&f, "sa-token-automounted", "Pod", "calm").is_empty(), "{f:#?}");
    assert!(on(&f, "sa-token-automounted", "ServiceAccount", "quiet").is_empty(), "{f:#?}");
}

#[tokio::test]
async fn rbac_role_letting_a_user_read_secrets() {
    let ns = namespace_with(
        "sec-rbac",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: secret-reader}\nrules:\n- {apiGroups: [''], resources: [secrets], verbs: [get, list]}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: cm-reader}\nrules:\n- {apiGroups: [''], resources: [configmaps], verbs: [get, list]}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: carol-secrets}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: secret-reader}\nsubjects: [{kind: User, name: carol, apiGroup: rbac.authorization.k8s.io}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: carol-configmaps}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-reader}\nsubjects: [{kind: User, name: carol, apiGroup: rbac.authorization.k8s.io}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: system-secrets}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: secret-reader}\nsubjects: [{kind: User, name: 'system:kube-scheduler', apiGroup: rbac.authorization.k8s.io}]\n",
    )
    .await;
    let (_, f) = scan(&ns, &[]);
    let found = on(&f, "rbac-secret-read", "RoleBinding", "carol-secrets");
    assert_eq!(found.len(), 1, "{f:#?}");
    assert!(found[0]["message"].as_str().unwrap().contains("User carol"));
    assert!(on(&f, "rbac-secret-read", "RoleBinding", "carol-configmaps").is_empty(), "{f:#?}");
    assert!(on(&f, "rbac-secret-read", "RoleBinding", "system-secrets").is_empty(), "{f:#?}");
}

fn audit_workspace(ns: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[launch]\nname = \"secrets\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"secrets\"\ntitle = \"Secrets management\"\n\n\
         [[item]]\nid = \"secrets.hygiene\"\ncategory = \"secrets\"\ntitle = \"secret hygiene\"\ncheck = \"secrets.hygiene\"\nseverity = \"blocking\"\nowner = \"security\"\n[item.with]\nnamespaces = [\"{ns}\"]\n"
    );
    std::fs::write(dir.path().join("checklist.toml"), text).unwrap();
    dir
}

fn audit_as(user: &str, dir: &Path) -> (i32, Value, String) {
    let kc = ControlPlane::shared().kubeconfig_for(user);
    let out = Command::new(BIN)
        .args(["audit", "--out-dir", "out", "--format", "json", "--kubeconfig", kc.to_str().unwrap()])
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let text =
        std::fs::read_to_string(dir.join("out/kgents-gate-report.json")).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    (out.status.code().unwrap_or(-1), serde_json::from_str(&text).unwrap(), stderr)
}

#[tokio::test]
async fn a_token_that_cannot_list_secrets_is_unverified_naming_the_permission() {
    let plane = ControlPlane::shared();
    let ns = namespace_with(
        "sec-403",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leaky}\ndata: {API_TOKEN: t0k3n-in-clear}\n",
    )
    .await;
    // dave may list everything in the namespace except Secrets.
    plane
        .apply_yaml_in(
            &ns,
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: no-secrets}\nrules:\n\
             - {apiGroups: ['', apps, batch, rbac.authorization.k8s.io], resources: [configmaps, pods, serviceaccounts, deployments, statefulsets, daemonsets, replicasets, replicationcontrollers, jobs, cronjobs, roles, rolebindings], verbs: [list]}\n---\n\
             apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: dave-no-secrets}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: no-secrets}\nsubjects: [{kind: User, name: dave, apiGroup: rbac.authorization.k8s.io}]\n",
        )
        .await;
    let (code, findings, stderr) = scan_as("dave", &ns, &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(findings.is_empty(), "nothing printed as if it were the whole picture");
    assert!(stderr.contains(&format!("list secrets in namespace {ns}")), "{stderr}");
    assert!(stderr.contains("list clusterroles.rbac.authorization.k8s.io (cluster-wide)"), "{stderr}");

    let ws = audit_workspace(&ns);
    let (code, report, stderr) = audit_as("dave", ws.path());
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(report["decision"], "INCOMPLETE");
    let item = &report["items"][0];
    assert_eq!(item["outcome"], "unverified", "{item:#}");
    assert_eq!(item["code"], "forbidden");
    let perm = item["unverified"]["missing_permission"].as_str().unwrap_or_default();
    assert!(perm.contains(&format!("list secrets in namespace {ns}")), "{item:#}");

    // The same namespace as admin: the check runs and fails on the ConfigMap.
    let (code, report, stderr) = audit_as("admin", ws.path());
    assert_eq!(code, 1, "{stderr}");
    let item = &report["items"][0];
    assert_eq!(item["outcome"], "fail", "{item:#}");
    assert_eq!(item["code"], "configmap-credential");
    let evidence = item["evidence"].to_string();
    assert!(evidence.contains("reads.secret-ref-missing"), "{evidence}");
}
