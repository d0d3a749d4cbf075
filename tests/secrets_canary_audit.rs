//! Canary test of the whole binary: distinctive random values planted in Secrets (data and
//! stringData), ConfigMaps (data and binaryData), env values and the last-applied annotation, on
//! the real control plane and in manifest files. A full `audit` (secrets and pdb checks) at every
//! verbosity in every report format, and `secrets scan` as JSON and text, must never show a canary,
//! its base64, or its base64 without padding, in any file, stdout or stderr.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine;
use serde_json::Value;
use support::{ControlPlane, random_hex};

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

/// Where each canary is planted.
struct Canaries {
    secret_data: String,
    secret_string_data: String,
    last_applied: String,
    configmap: String,
    configmap_file: String,
    configmap_binary: String,
    env: String,
    pod_env: String,
}

impl Canaries {
    fn new() -> Canaries {
        let c = |tag: &str| format!("Cnry{tag}{}", random_hex(12));
        Canaries {
            secret_data: c("Sd"),
            secret_string_data: c("Ss"),
            last_applied: c("La"),
            configmap: c("Cm"),
            configmap_file: c("Cf"),
            configmap_binary: c("Cb"),
            env: c("Ev"),
            pod_env: c("Pe"),
        }
    }

    fn all(&self) -> [&str; 8] {
        [
            &self.secret_data,
            &self.secret_string_data,
            &self.last_applied,
            &self.configmap,
            &self.configmap_file,
            &self.configmap_binary,
            &self.env,
            &self.pod_env,
        ]
    }

    /// The objects, as YAML; `created` adds an old creationTimestamp (manifests only: a live
    /// server sets its own).
    fn yaml(&self, ns: &str, created: Option<&str>) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let last_applied = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "canary-secret", "namespace": ns},
            "data": {"password": b64(&self.secret_data)},
            "stringData": {"api-key": self.last_applied},
        })
        .to_string();
        let created = created.map(|c| format!("  creationTimestamp: '{c}'\n")).unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: canary-secret\n  namespace: {ns}\n{created}  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{last_applied}'\n\
             data: {{password: {}}}\nstringData: {{token: {}}}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: canary-cm, namespace: {ns}}}\n\
             data:\n  DB_PASSWORD: {}\n  app.ini: \"[db]\\npassword = {}\\n\"\nbinaryData: {{ADMIN_PASSWORD: {}}}\n---\n\
             apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: canary-app, namespace: {ns}}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: canary}}}}\n  template:\n    metadata: {{labels: {{app: canary}}}}\n    spec:\n      containers:\n      - name: app\n        image: app:1\n        env:\n        - {{name: DB_PASSWORD, value: {}}}\n        - name: TOKEN\n          valueFrom: {{secretKeyRef: {{name: canary-secret, key: missing}}}}\n---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {{name: canary-pod, namespace: {ns}}}\nspec:\n  containers:\n  - name: app\n    image: app:1\n    env:\n    - {{name: API_TOKEN, value: {}}}\n---\n\
             apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {{name: canary-pdb, namespace: {ns}}}\nspec:\n  minAvailable: 1\n  selector: {{matchLabels: {{app: canary}}}}\n",
            b64(&self.secret_data),
            self.secret_string_data,
            self.configmap,
            self.configmap_file,
            b64(&self.configmap_binary),
            self.env,
            self.pod_env,
        )
    }

    /// Indexes of the canaries `text` shows, as planted, in base64 or in unpadded base64.
    fn found(&self, text: &str) -> Vec<usize> {
        let std = base64::engine::general_purpose::STANDARD;
        let no_pad = base64::engine::general_purpose::STANDARD_NO_PAD;
        let forms = |c: &str| [c.to_string(), std.encode(c), no_pad.encode(c)];
        (0..self.all().len()).filter(|&i| forms(self.all()[i]).iter().any(|f| text.contains(f.as_str()))).collect()
    }

    fn assert_absent(&self, what: &str, text: &str) {
        // The message names the canary's place only, so a failure does not spread the value.
        assert!(self.found(text).is_empty(), "{what} shows canaries number {:?}", self.found(text));
    }
}

fn checklist(ns: &str) -> String {
    format!(
        "[launch]\nname = \"canary\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"secrets\"\ntitle = \"Secrets management\"\n\n\
         [[category]]\nid = \"availability\"\ntitle = \"Availability\"\n\n\
         [[item]]\nid = \"secrets.hygiene\"\ncategory = \"secrets\"\ntitle = \"secret hygiene\"\ncheck = \"secrets.hygiene\"\nseverity = \"blocking\"\nowner = \"security\"\n[item.with]\nnamespaces = [\"{ns}\"]\nrotation_max_age = \"1d\"\n\n\
         [[item]]\nid = \"availability.pdb\"\ncategory = \"availability\"\ntitle = \"pdb health\"\ncheck = \"pdb.health\"\nseverity = \"blocking\"\nowner = \"platform\"\n[item.with]\nnamespaces = [\"{ns}\"]\n"
    )
}

const VERBOSITIES: &[&[&str]] = &[&[], &["-v"], &["-vv"], &["-vvv"]];

/// Runs the binary in `dir` with RUST_LOG unset (or set), no colour choice from the environment.
fn gate(dir: &Path, args: &[&str], rust_log: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env("HOME", dir).env_remove("KUBECONFIG").env_remove("NO_COLOR");
    match rust_log {
        Some(l) => cmd.env("RUST_LOG", l),
        None => cmd.env_remove("RUST_LOG"),
    };
    cmd.output().unwrap()
}

/// Every file under `dir`, as text (lossy: binary content is still searched).
fn files_under(dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push((p.display().to_string(), String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned()));
        }
    }
}

fn check_output(c: &Canaries, what: &str, out: &Output) {
    c.assert_absent(&format!("{what}: stdout"), &String::from_utf8_lossy(&out.stdout));
    c.assert_absent(&format!("{what}: stderr"), &String::from_utf8_lossy(&out.stderr));
}

/// The log settings every run is repeated with: each `-v` level with RUST_LOG unset, and all of
/// the gate's own logging through RUST_LOG.
fn log_settings() -> Vec<(&'static [&'static str], Option<&'static str>)> {
    let mut v: Vec<_> = VERBOSITIES.iter().map(|f| (*f, None)).collect();
    v.push((&[], Some("kgents_gate=trace")));
    v
}

/// A full audit in every report format at every log setting; the checks must have looked at
/// every canary's place (`expected` codes) and shown none.
fn run_audits(c: &Canaries, ws: &Path, source: &[&str], expected: &[&str]) {
    for (i, (verbosity, log)) in log_settings().into_iter().enumerate() {
        let out_dir = format!("out-{i}");
        let mut args = vec!["audit", "--format", "terminal,markdown,json,junit", "--out-dir", &out_dir];
        if i == 1 {
            args.extend(["--color", "always"]);
        }
        args.extend_from_slice(verbosity);
        args.extend_from_slice(source);
        let what = format!("audit {args:?} RUST_LOG={log:?}");
        let out = gate(ws, &args, log);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", String::from_utf8_lossy(&out.stderr));
        check_output(c, &what, &out);
        let mut files = Vec::new();
        files_under(&ws.join(&out_dir), &mut files);
        assert_eq!(files.len(), 3, "{what}: {:?}", files.iter().map(|f| &f.0).collect::<Vec<_>>());
        for (name, text) in &files {
            c.assert_absent(&format!("{what}: {name}"), text);
        }
        let json = std::fs::read_to_string(ws.join(&out_dir).join("kgents-gate-report.json")).unwrap();
        let report: Value = serde_json::from_str(&json).unwrap();
        let item = report["items"].as_array().unwrap().iter().find(|i| i["id"] == "secrets.hygiene").unwrap();
        assert_eq!(item["outcome"], "fail", "{what}: {item:#}");
        let codes: Vec<&str> = item["findings"].as_array().unwrap().iter().filter_map(|f| f["code"].as_str()).collect();
        for code in expected {
            assert!(codes.contains(code), "{what}: the audit did not look at {code}: {codes:?}");
        }
        let pdb = report["items"].as_array().unwrap().iter().find(|i| i["id"] == "availability.pdb").unwrap();
        assert_ne!(pdb["outcome"], "skipped", "{what}: the pdb check ran: {pdb:#}");
    }
}

/// `secrets scan` as JSON and text at every log setting.
fn run_scans(c: &Canaries, ws: &Path, source: &[&str], expected: &[&str]) {
    for (verbosity, log) in log_settings() {
        for format in ["json", "text"] {
            let mut args = vec!["secrets", "scan", "--format", format, "--rotation-max-age", "1d"];
            args.extend_from_slice(verbosity);
            args.extend_from_slice(source);
            let what = format!("{args:?} RUST_LOG={log:?}");
            let out = gate(ws, &args, log);
            assert_eq!(out.status.code(), Some(1), "{what}: {}", String::from_utf8_lossy(&out.stderr));
            check_output(c, &what, &out);
            let stdout = String::from_utf8_lossy(&out.stdout);
            for code in expected {
                assert!(stdout.contains(code), "{what}: no {code} in {stdout}");
            }
        }
    }
}

const EXPECTED: &[&str] =
    &["env-plain-credential", "configmap-credential", "secret-last-applied-in-clear", "secret-ref-missing"];

#[tokio::test]
async fn no_canary_in_any_output_of_a_live_audit_or_scan() {
    let plane = ControlPlane::shared();
    let c = Canaries::new();
    let ns = plane.unique_namespace("canary").await;
    plane.apply_yaml_in(&ns, &c.yaml(&ns, None)).await;
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("checklist.toml"), checklist(&ns)).unwrap();
    let kc = plane.admin_kubeconfig();
    let kc = kc.to_str().unwrap();
    run_audits(&c, ws.path(), &["--kubeconfig", kc], EXPECTED);
    run_scans(&c, ws.path(), &["--kubeconfig", kc, "-n", &ns], EXPECTED);
}

#[test]
fn no_canary_in_any_output_of_a_manifest_audit_or_scan() {
    let c = Canaries::new();
    let ns = "canary-files";
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("checklist.toml"), checklist(ns)).unwrap();
    let dir = ws.path().join("manifests");
    std::fs::create_dir(&dir).unwrap();
    // As `kubectl get -o yaml` would give it, with an age, so rotation is judged too.
    let yaml = c.yaml(ns, Some("2020-01-01T00:00:00Z"));
    assert_eq!(c.found(&yaml).len(), c.all().len(), "every canary is planted, in clear or base64");
    std::fs::write(dir.join("app.yaml"), yaml).unwrap();
    let dir_s = dir.to_str().unwrap();
    let mut expected = EXPECTED.to_vec();
    expected.push("secret-rotation-overdue");
    run_audits(&c, ws.path(), &["--manifests", dir_s], &expected);
    run_scans(&c, ws.path(), &["--manifests", dir_s, "-n", ns], &expected);

    // A file that does not parse: the error names file and line, never the content.
    let broken = ws.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    let text =
        format!("apiVersion: v1\nkind: Secret\nstringData:\n  password: \"{}\n  other: [\n", c.secret_string_data);
    std::fs::write(broken.join("bad.yaml"), text).unwrap();
    for args in [
        vec!["secrets", "scan", "-vvv", "--format", "json", "--manifests", broken.to_str().unwrap()],
        vec!["audit", "-vvv", "--out-dir", "out-broken", "--manifests", broken.to_str().unwrap()],
    ] {
        let out = gate(ws.path(), &args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml"), "{args:?}");
        check_output(&c, &format!("{args:?}"), &out);
    }
}
