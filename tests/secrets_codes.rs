//! Every secret-hygiene finding code: one small cluster (YAML) that triggers it and one that does
//! not, plus the JSON contract of a finding and the conversion into a probe report.

use kgents_gate::outcome::Level;
use kgents_gate::secrets::{SecretFinding, SecretScanOptions, exit_code, scan, to_probe_report};
use serde_json::Value;

fn objects(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml).unwrap().into_iter().filter(|v| !v.is_null()).collect()
}

fn run(yaml: &str, opts: &SecretScanOptions) -> Vec<SecretFinding> {
    scan(&objects(yaml), opts)
}

fn with_code<'a>(findings: &'a [SecretFinding], code: &str) -> Vec<&'a SecretFinding> {
    findings.iter().filter(|f| f.code == code).collect()
}

fn one(findings: &[SecretFinding], code: &str) -> SecretFinding {
    let hits = with_code(findings, code);
    assert_eq!(hits.len(), 1, "expected one {code}, got {findings:#?}");
    hits[0].clone()
}

const DEPLOY_ENV: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: apps}
spec:
  template:
    spec:
      automountServiceAccountToken: false
      initContainers:
      - name: migrate
        env:
        - {name: DB_PASSWORD, value: "hunter2-hunter2"}
      containers:
      - name: app
        env:
        - {name: LOG_LEVEL, value: info}
        - {name: UPSTREAM, value: "AKIAZ7VQ3Q5NXR2WL4HM"}
        - {name: API_TOKEN, value: ""}
        - {name: TOKEN_FILE, value: "/var/run/token"}
        - {name: DB_PASS, valueFrom: {secretKeyRef: {name: db, key: password}}}
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: apps}
data: {password: aHVudGVyMg==}
"#;

#[test]
fn env_plain_credential() {
    let f = run(DEPLOY_ENV, &SecretScanOptions::default());
    let hits = with_code(&f, "env-plain-credential");
    let keys: Vec<&str> = hits.iter().filter_map(|h| h.key.as_deref()).collect();
    // By name (init container too) and by value (an AWS access key id under a harmless name).
    assert_eq!(keys, ["containers[app].env.UPSTREAM", "initContainers[migrate].env.DB_PASSWORD"]);
    assert!(hits.iter().all(|h| h.severity == Level::Error && h.object.kind == "Deployment"));
    assert!(hits[0].message.contains("aws-access-token"), "{}", hits[0].message);

    let clean = DEPLOY_ENV.replace("\"hunter2-hunter2\"", "\"\"").replace("AKIAZ7VQ3Q5NXR2WL4HM", "eu-west-1");
    assert!(with_code(&run(&clean, &SecretScanOptions::default()), "env-plain-credential").is_empty());
}

#[test]
fn configmap_credential() {
    let yaml = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config, namespace: apps}
data:
  app.properties: |
    spring.datasource.url=jdbc:postgresql://db:5432/app
    github.token=ghp_8Q2wE4rT6yU8iO0pA2sD4fG6hJ8kL0zX1cV3
  LOG_LEVEL: debug
  SMTP_PASSWORD: "Summer2024!"
binaryData:
  keystore.p12: AAECAwQ=
"#;
    let f = run(yaml, &SecretScanOptions::default());
    let hits = with_code(&f, "configmap-credential");
    let keys: Vec<&str> = hits.iter().filter_map(|h| h.key.as_deref()).collect();
    assert_eq!(keys, ["SMTP_PASSWORD", "app.properties", "keystore.p12"]);
    assert!(hits[1].message.contains("github-pat"), "{}", hits[1].message);

    let clean = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config, namespace: apps}
data:
  app.properties: |
    spring.datasource.url=jdbc:postgresql://db:5432/app
    spring.datasource.password-file=/etc/db/password
  accountID: 12345678-1234-1234-1234-123456789012
  SECRET_NAME: db-credentials
"#;
    assert!(with_code(&run(clean, &SecretScanOptions::default()), "configmap-credential").is_empty());
}

const REFS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: apps}
spec:
  automountServiceAccountToken: false
  imagePullSecrets: [{name: regcred}]
  containers:
  - name: app
    env:
    - {name: TOKEN, valueFrom: {secretKeyRef: {name: api, key: token}}}
    - {name: MAYBE, valueFrom: {secretKeyRef: {name: extra, key: k, optional: true}}}
    envFrom: [{secretRef: {name: api}}]
  volumes:
  - name: certs
    secret: {secretName: tls, items: [{key: tls.crt, path: tls.crt}]}
  - name: bundle
    projected: {sources: [{secret: {name: api, items: [{key: ca, path: ca}]}}]}
---
apiVersion: v1
kind: Secret
metadata: {name: api, namespace: apps}
data: {token: dA==, ca: Yw==}
---
apiVersion: v1
kind: Secret
metadata: {name: tls, namespace: apps}
type: kubernetes.io/tls
data: {tls.crt: Yw==, tls.key: aw==}
---
apiVersion: v1
kind: Secret
metadata: {name: regcred, namespace: apps}
type: kubernetes.io/dockerconfigjson
data: {.dockerconfigjson: e30=}
"#;

#[test]
fn secret_ref_missing() {
    let opts = SecretScanOptions::default();
    let f = run(REFS, &opts);
    // Only the optional reference to a missing Secret: info, not an error.
    let hits = with_code(&f, "secret-ref-missing");
    assert_eq!(hits.len(), 1, "{hits:#?}");
    assert_eq!(hits[0].severity, Level::Info);
    assert_eq!(hits[0].key.as_deref(), Some("containers[app].env.MAYBE"));

    let broken =
        REFS.replace("name: regcred, namespace", "name: regcred-old, namespace").replace("key: tls.crt", "key: cert");
    let f = run(&broken, &opts);
    let errors: Vec<_> =
        with_code(&f, "secret-ref-missing").into_iter().filter(|h| h.severity == Level::Error).collect();
    let keys: Vec<&str> = errors.iter().filter_map(|h| h.key.as_deref()).collect();
    assert_eq!(keys, ["imagePullSecrets[regcred]", "volumes[certs]"]);
    assert!(errors[1].message.contains("key cert of Secret apps/tls"), "{}", errors[1].message);
}

#[test]
fn secret_unused() {
    let opts = SecretScanOptions::default();
    assert!(with_code(&run(REFS, &opts), "secret-unused").is_empty());
    let extra = format!(
        "{REFS}---\n{}",
        r#"
apiVersion: v1
kind: Secret
metadata: {name: forgotten, namespace: apps}
---
apiVersion: v1
kind: Secret
metadata: {name: sa-token, namespace: apps}
type: kubernetes.io/service-account-token
---
apiVersion: v1
kind: Secret
metadata: {name: sh.helm.release.v1.api.v3, namespace: apps}
type: helm.sh/release.v1
"#
    );
    let f = run(&extra, &opts);
    let hit = one(&f, "secret-unused");
    assert_eq!((hit.object.name.as_str(), hit.severity, hit.key.clone()), ("forgotten", Level::Warning, None));
}

#[test]
fn secret_last_applied_in_clear() {
    let yaml = r#"
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: apps
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"apps"},"stringData":{"password":"pa55-w0rd-canary"},"type":"Opaque"}'
stringData: {password: pa55-w0rd-canary}
"#;
    let hit = one(&run(yaml, &SecretScanOptions::default()), "secret-last-applied-in-clear");
    assert_eq!((hit.key.as_deref(), hit.severity), (Some("password"), Level::Error));
    assert!(!hit.message.contains("pa55"));

    let clean = yaml.replace(r#""stringData":{"password":"pa55-w0rd-canary"},"#, "");
    assert!(with_code(&run(&clean, &SecretScanOptions::default()), "secret-last-applied-in-clear").is_empty());
}

#[test]
fn secret_rotation_overdue() {
    let yaml = r#"
apiVersion: v1
kind: Secret
metadata: {name: old, namespace: apps, creationTimestamp: "2025-01-01T00:00:00Z"}
---
apiVersion: v1
kind: Secret
metadata:
  name: rotated
  namespace: apps
  creationTimestamp: "2025-01-01T00:00:00Z"
  annotations: {kgents.io/rotated-at: "2025-11-01"}
---
apiVersion: v1
kind: Secret
metadata: {name: fresh, namespace: apps, creationTimestamp: "2025-11-20T10:00:00Z"}
---
apiVersion: v1
kind: Secret
metadata: {name: token, namespace: apps, creationTimestamp: "2020-01-01T00:00:00Z"}
type: kubernetes.io/service-account-token
---
apiVersion: v1
kind: Secret
metadata: {name: unapplied, namespace: apps}
"#;
    let now: jiff::Timestamp = "2025-12-01T00:00:00Z".parse().unwrap();
    let opts = SecretScanOptions { now: Some(now), ..Default::default() };
    let hit = one(&run(yaml, &opts), "secret-rotation-overdue");
    assert_eq!((hit.object.name.as_str(), hit.severity), ("old", Level::Warning));
    assert!(hit.message.contains("334 days old"), "{}", hit.message);

    // A longer rotation age, or no clock: nothing is overdue.
    let long = SecretScanOptions { rotation_max_age: std::time::Duration::from_secs(400 * 86_400), ..opts.clone() };
    assert!(with_code(&run(yaml, &long), "secret-rotation-overdue").is_empty());
    assert!(with_code(&run(yaml, &SecretScanOptions::default()), "secret-rotation-overdue").is_empty());
}

const AUTOMOUNT: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: apps}
automountServiceAccountToken: false
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: operator, namespace: apps}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
spec: {template: {spec: {containers: [{name: app}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: controller, namespace: apps}
spec: {template: {spec: {serviceAccountName: operator, containers: [{name: app}]}}}
"#;

#[test]
fn sa_token_automounted() {
    let f = run(AUTOMOUNT, &SecretScanOptions::default());
    let hit = one(&f, "sa-token-automounted");
    assert_eq!((hit.object.name.as_str(), hit.severity), ("controller", Level::Warning));

    // The operator may talk to the API.
    let opts = SecretScanOptions { automount_allowed: vec!["apps/operator".into()], ..Default::default() };
    assert!(with_code(&run(AUTOMOUNT, &opts), "sa-token-automounted").is_empty());
}

const RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: secret-reader, namespace: apps}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ci-reads-secrets, namespace: apps}
subjects: [{kind: ServiceAccount, name: ci, namespace: ci}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: secret-reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: controller-manager}
subjects: [{kind: User, name: "system:kube-controller-manager"}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
"#;

#[test]
fn rbac_secret_read() {
    let f = run(RBAC, &SecretScanOptions::default());
    let hit = one(&f, "rbac-secret-read");
    assert_eq!((hit.object.kind.as_str(), hit.object.name.as_str()), ("RoleBinding", "ci-reads-secrets"));
    assert!(hit.message.contains("get, list") && hit.message.contains("ServiceAccount ci/ci"), "{}", hit.message);
    assert_eq!(hit.severity, Level::Warning);

    let opts = SecretScanOptions { secret_readers_allowed: vec!["ServiceAccount:ci/ci".into()], ..Default::default() };
    assert!(with_code(&run(RBAC, &opts), "rbac-secret-read").is_empty());
    // Narrowed to named Secrets: noted as info.
    let narrowed = RBAC.replace("verbs: [get, list]}", "verbs: [get], resourceNames: [ci-token]}");
    let hit = one(&run(&narrowed, &SecretScanOptions::default()), "rbac-secret-read");
    assert_eq!(hit.severity, Level::Info);
    assert!(hit.message.contains("ci-token"));
}

#[test]
fn json_shape_exit_code_and_probe_report() {
    let f = run(DEPLOY_ENV, &SecretScanOptions::default());
    let json = serde_json::to_value(&f[0]).unwrap();
    let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["code", "key", "message", "object", "severity"]);
    // Field order in the text, as documented.
    let text = serde_json::to_string(&f[0]).unwrap();
    let pos: Vec<usize> =
        ["\"code\"", "\"severity\"", "\"object\"", "\"kind\"", "\"namespace\"", "\"name\"", "\"key\"", "\"message\""]
            .iter()
            .map(|k| text.find(k).unwrap())
            .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(json["object"], serde_json::json!({"kind": "Deployment", "namespace": "apps", "name": "api"}));
    assert_eq!(json["severity"], "error");
    assert_eq!(exit_code(&f), 1);
    let warnings_only = run(AUTOMOUNT, &SecretScanOptions::default());
    assert!(!warnings_only.is_empty());
    assert_eq!(exit_code(&warnings_only), 0);
    let cluster = run(RBAC.replace("kind: Role\n", "kind: ClusterRole\n").as_str(), &SecretScanOptions::default());
    assert!(cluster.iter().all(|f| { serde_json::to_value(f).unwrap()["object"].get("namespace").is_some() }));

    let report = to_probe_report(&f);
    assert_eq!(report.findings().len(), f.len());
    assert_eq!(report.findings()[0].target.as_deref(), Some("Deployment apps/api"));
    assert_eq!(report.worst_level(), Some(Level::Error));
    assert!(report.evidence.iter().any(|e| e.name == "findings.env-plain-credential" && e.value == "2"));
}

/// A file in a ConfigMap that assigns a value to a credential's name (as detect-secrets' keyword
/// plugin reads properties and env files) is a finding; placeholders and references are not.
#[test]
fn credential_assignments_inside_configmap_files() {
    let cm = |body: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: app, namespace: apps}}\ndata:\n  app.properties: {}\n",
            serde_json::to_string(body).unwrap()
        )
    };
    let f = run(
        &cm("log.level=info\naws_secret_access_key = pLC22OlqtwDsTatqDwsj85sPOhFcjc2ZzmJ6oNxj\n"),
        &SecretScanOptions::default(),
    );
    let hit = one(&f, "configmap-credential");
    assert!(hit.message.contains("line 2 assigns a value to aws_secret_access_key"), "{}", hit.message);
    assert!(!hit.message.contains("pLC22Olq"), "never the value: {}", hit.message);
    for harmless in [
        "log.level=info\naws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}\n",
        "# password = hunter2hunter2\nmode=fast\n",
        "db.password.file=/etc/secrets/db\n",
        "token_ttl=short\nuser=app\n",
    ] {
        assert!(
            with_code(&run(&cm(harmless), &SecretScanOptions::default()), "configmap-credential").is_empty(),
            "{harmless}"
        );
    }
}
