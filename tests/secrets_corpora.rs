//! The secret-hygiene scan against other tools' test cases with expected outcomes (kubescape,
//! kube-linter, popeye; copied under tests/corpora/secrets with origin and licence). Each tool's
//! expectation is mapped to our finding codes; where we deliberately differ, the test says so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kgents_gate::secrets::{SecretFinding, SecretScanOptions, scan};
use serde_json::Value;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpora/secrets");

fn load(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text).unwrap().into_iter().filter(|v| !v.is_null()).collect()
}

fn inputs(case: &Path) -> Vec<Value> {
    let single = case.join("input.yaml");
    if single.exists() {
        return load(&single);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(case.join("input")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().flat_map(|f| load(f)).collect()
}

fn cases(rule: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(Path::new(CORPUS).join("kubescape").join(rule).join("test"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

/// (code, kind, name, key) of the findings with one of `codes`.
type Key = (String, String, String, Option<String>);

fn keys(findings: &[SecretFinding], codes: &[&str]) -> BTreeSet<Key> {
    findings
        .iter()
        .filter(|f| codes.contains(&f.code.as_str()))
        .map(|f| (f.code.clone(), f.object.kind.clone(), f.object.name.clone(), f.key.clone()))
        .collect()
}

/// kubescape's `postureControlInputs` (defaults overridden by the case's data.json) as our options.
fn kubescape_options(case: &Path) -> SecretScanOptions {
    let defaults: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(CORPUS).join("kubescape/default-config-inputs.json")).unwrap(),
    )
    .unwrap();
    let mut inputs = defaults["settings"]["postureControlInputs"].as_object().unwrap().clone();
    if let Ok(text) = std::fs::read_to_string(case.join("data.json")) {
        let data: Value = serde_json::from_str(&text).unwrap();
        for (k, v) in data["postureControlInputs"].as_object().unwrap() {
            inputs.insert(k.clone(), v.clone());
        }
    }
    let list = |k: &str| -> Vec<String> {
        inputs
            .get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let regexes =
        |k: &str| list(k).iter().map(|p| regex::RegexBuilder::new(p).case_insensitive(true).build().unwrap()).collect();
    SecretScanOptions {
        extra_credential_names: list("sensitiveKeyNames"),
        extra_credential_values: regexes("sensitiveValues"),
        allowed_credential_names: list("sensitiveKeyNamesAllowed"),
        allowed_credential_values: regexes("sensitiveValuesAllowed"),
        ..Default::default()
    }
}

/// Maps a kubescape failed path to our (code, key): env entries to `env-plain-credential`,
/// `envFrom.secretRef` (which kubescape flags as exposure) to the `secret-ref-missing` our scan
/// reports for it, since the case's input has no such Secret; `data[K]` to `configmap-credential`.
fn kubescape_expectation(object: &Value, path: &str) -> Option<(String, Option<String>)> {
    if let Some(k) = path.strip_prefix("data[").and_then(|p| p.strip_suffix(']')) {
        return Some(("configmap-credential".into(), Some(k.into())));
    }
    let re = regex::Regex::new(r"(containers|initContainers)\[(\d+)\]\.(env|envFrom)\[(\d+)\]").unwrap();
    let c = re.captures(path)?;
    let spec_path = &path[..c.get(0).unwrap().start()];
    let mut spec = object;
    for seg in spec_path.trim_end_matches('.').split('.') {
        spec = &spec[seg];
    }
    let list = &c[1];
    let container = &spec[list][c[2].parse::<usize>().unwrap()];
    let cname = container["name"].as_str().unwrap();
    if &c[3] == "env" {
        let var = container["env"][c[4].parse::<usize>().unwrap()]["name"].as_str().unwrap();
        Some(("env-plain-credential".into(), Some(format!("{list}[{cname}].env.{var}"))))
    } else {
        Some(("secret-ref-missing".into(), Some(format!("{list}[{cname}].envFrom[{}]", &c[4]))))
    }
}

fn kubescape_expected(case: &Path, objects: &[Value]) -> BTreeSet<Key> {
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap()).unwrap();
    let mut out = BTreeSet::new();
    for alert in expected.as_array().unwrap() {
        let obj = &alert["alertObject"]["k8sApiObjects"][0];
        let (kind, name) = (obj["kind"].as_str().unwrap(), obj["metadata"]["name"].as_str().unwrap());
        let input = objects.iter().find(|o| o["kind"] == kind && o["metadata"]["name"] == name).unwrap();
        for p in alert["failedPaths"].as_array().unwrap() {
            let p = p.as_str().unwrap();
            if p.ends_with(".value") {
                continue; // the `.name` path of the same env entry is mapped
            }
            let (code, key) = kubescape_expectation(input, p).unwrap_or_else(|| panic!("unmapped path {p}"));
            out.insert((code, kind.to_string(), name.to_string(), key));
        }
    }
    out
}

#[test]
fn kubescape_credentials_in_env_and_configmaps() {
    let mut checked = 0;
    let mut differs_by_default = Vec::new();
    for rule in ["rule-credentials-in-env-var", "rule-credentials-configmap"] {
        for case in cases(rule) {
            let objects = inputs(&case);
            let expected = kubescape_expected(&case, &objects);
            let ours = scan(&objects, &kubescape_options(&case));
            let mut got = keys(&ours, &["env-plain-credential", "configmap-credential"]);
            // secret-ref-missing only stands for kubescape's envFrom.secretRef alerts.
            got.extend(
                keys(&ours, &["secret-ref-missing"])
                    .into_iter()
                    .filter(|k| k.3.as_deref().is_some_and(|p| p.contains("envFrom"))),
            );
            assert_eq!(got, expected, "kubescape case {}", case.display());
            let by_default =
                keys(&scan(&objects, &SecretScanOptions::default()), &["env-plain-credential", "configmap-credential"]);
            let expected_content: BTreeSet<Key> =
                expected.iter().filter(|k| k.0 != "secret-ref-missing").cloned().collect();
            if by_default != expected_content {
                differs_by_default.push(case.file_name().unwrap().to_string_lossy().into_owned());
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 23);
    // Our own defaults are stricter about values than kubescape's substring lists: a value "JWT",
    // "my_key_value" or gitleaks' documented example key AKIAIOSFODNN7EXAMPLE is not a credential,
    // and AWS_ACCESS_KEY_ID (an id, not the secret) is not flagged by name.
    // "bearer abc123def" carries a 9-character token: too short for a credential pattern. And
    // my_password=my/secret/file/path, which kubescape allows only by configuration, is flagged.
    assert_eq!(
        differs_by_default,
        [
            "deployment",
            "env-value-akia-key",
            "env-value-lowercase-bearer",
            "pod",
            "pod-allowed-values-keys",
            "env-value-akia-key",
            "test",
            "test-allowed-values-keys"
        ]
    );
}

fn objects_named(findings: &[SecretFinding], code: &str, sa: bool) -> BTreeSet<(String, String)> {
    findings
        .iter()
        .filter(|f| f.code == code && (f.object.kind == "ServiceAccount") == sa)
        .map(|f| (f.object.kind.clone(), f.object.name.clone()))
        .collect()
}

#[test]
fn kubescape_automount() {
    let mut checked = 0;
    for (rule, sa_level) in [("automount-service-account", false), ("automount-default-service-account", true)] {
        for case in cases(rule) {
            let objects = inputs(&case);
            let expected: Value =
                serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap()).unwrap();
            let want: BTreeSet<(String, String)> = expected
                .as_array()
                .unwrap()
                .iter()
                .map(|a| &a["alertObject"]["k8sApiObjects"][0])
                .map(|o| (o["kind"].as_str().unwrap().to_string(), o["metadata"]["name"].as_str().unwrap().to_string()))
                .collect();
            let got = objects_named(&scan(&objects, &SecretScanOptions::default()), "sa-token-automounted", sa_level);
            assert_eq!(got, want, "kubescape case {}", case.display());
            checked += 1;
        }
    }
    assert_eq!(checked, 13);
}

#[test]
fn kubescape_mounted_secrets_and_plain_configmap_are_clean() {
    // kubescape flags mounting a Secret as a volume; for us that is the recommended way, so only the
    // (unrelated) automounted token is reported.
    let k = Path::new(CORPUS).join("kubescape");
    for case in ["workload-mounted-secrets/test/failed", "workload-mounted-secrets/test/success"] {
        let f = scan(&inputs(&k.join(case)), &SecretScanOptions::default());
        let codes: BTreeSet<&str> = f.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, BTreeSet::from(["sa-token-automounted"]), "{case}");
    }
    let f =
        scan(&inputs(&k.join("resources-secret-in-default-namespace/test/configmap")), &SecretScanOptions::default());
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn kube_linter_checks() {
    let dir = Path::new(CORPUS).join("kube-linter");
    let expected: Value = serde_saphyr::from_str(&std::fs::read_to_string(dir.join("EXPECTED.yaml")).unwrap()).unwrap();
    let env_re = regex::Regex::new(r#"^(\w+): environment variable "?(\w+)"? in container "(\w+)""#).unwrap();
    let rb_re = regex::Regex::new(r#"^RoleBinding: binding to "(\w+)" role that has \[(\w+)\] access"#).unwrap();
    for check in expected.as_array().unwrap() {
        let objects = load(&dir.join(check["input"].as_str().unwrap()));
        let f = scan(&objects, &SecretScanOptions::default());
        let reports: Vec<&str> = check["reports"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        match check["check"].as_str().unwrap() {
            // A literal value under a secret-like name: env-plain-credential on the same objects.
            // read-secret-from-env-var flags every secretKeyRef; we accept them and report only
            // that the referenced Secret is absent from the input.
            c @ ("env-var-secret" | "read-secret-from-env-var") => {
                let code = if c == "env-var-secret" { "env-plain-credential" } else { "secret-ref-missing" };
                let want: BTreeSet<(String, String)> = reports
                    .iter()
                    .map(|r| env_re.captures(r).unwrap())
                    .map(|m| (m[1].to_string(), format!("containers[{}].env.{}", &m[3], &m[2])))
                    .collect();
                let got: BTreeSet<(String, String)> = f
                    .iter()
                    .filter(|x| x.code == code)
                    .map(|x| (x.object.kind.clone(), x.key.clone().unwrap()))
                    .collect();
                assert_eq!(got, want, "{c}");
                assert!(f.iter().all(|x| x.code != "env-plain-credential" || x.object.name != "dont-fire"));
            }
            "access-to-secrets" => {
                let m = rb_re.captures(reports[0]).unwrap();
                let hits: Vec<&SecretFinding> = f.iter().filter(|x| x.code == "rbac-secret-read").collect();
                assert_eq!(hits.len(), reports.len());
                assert_eq!(hits[0].object.kind, "RoleBinding");
                assert!(hits[0].message.contains(&format!("Role {}", &m[1])) && hits[0].message.contains(&m[2]));
            }
            other => panic!("unmapped kube-linter check {other}"),
        }
    }
}

#[test]
fn popeye_lints() {
    let dir = Path::new(CORPUS).join("popeye");
    let expected: Value = serde_saphyr::from_str(&std::fs::read_to_string(dir.join("EXPECTED.yaml")).unwrap()).unwrap();
    let pop304 = regex::Regex::new(r#"^\[POP-304\] References a secret "[\w-]+/([\w-]+)""#).unwrap();
    let pop305 =
        regex::Regex::new(r"^\[POP-305\] References a pull secret which does not exist: [\w-]+/([\w-]+)").unwrap();
    let mut compared = 0;
    for test in expected["tests"].as_array().unwrap() {
        let linted_kind = match test["test"].as_str().unwrap() {
            "TestSecretLint" => "Secret",
            "TestSALint" => "ServiceAccount",
            "TestPodLint" => "Pod",
            _ => continue, // PDB, NetworkPolicy and ConfigMap-usage lints belong to other probes
        };
        let objects: Vec<Value> = test["fixtures"]
            .as_array()
            .unwrap()
            .iter()
            // Services, PDBs, NetworkPolicies, Namespaces and metrics play no part in secret hygiene
            // (their fixtures were not copied).
            .filter(|fx| {
                ![
                    "v1.Service",
                    "polv1.PodDisruptionBudget",
                    "netv1.NetworkPolicy",
                    "v1.Namespace",
                    "mv1beta1.PodMetrics",
                ]
                .contains(&fx["type"].as_str().unwrap())
            })
            .flat_map(|fx| load(&dir.join("testdata").join(fx["path"].as_str().unwrap())))
            .collect();
        let f = scan(&objects, &SecretScanOptions::default());
        let mut want: BTreeMap<String, BTreeSet<(String, Option<String>)>> = BTreeMap::new();
        for obj in test["objects"].as_array().unwrap() {
            let name = obj["key"].as_str().unwrap().split('/').nth(1).unwrap().to_string();
            let entry = want.entry(name.clone()).or_default();
            for m in obj["messages"].as_array().unwrap() {
                let msg = m["message"].as_str().unwrap();
                let mapped = match &msg[..9] {
                    "[POP-301]" | "[POP-303]" => Some(("sa-token-automounted".to_string(), None)),
                    "[POP-304]" => Some((
                        "secret-ref-missing".into(),
                        Some(format!("secrets[{}]", &pop304.captures(msg).unwrap()[1])),
                    )),
                    "[POP-305]" => Some((
                        "secret-ref-missing".into(),
                        Some(format!("imagePullSecrets[{}]", &pop305.captures(msg).unwrap()[1])),
                    )),
                    // Deliberate difference: popeye reports the service-account-token Secret sec3 as
                    // unused; we never report service-account-token Secrets as unused.
                    "[POP-400]" if linted_kind == "Secret" => {
                        let t = objects
                            .iter()
                            .flat_map(|o| o["items"].as_array().cloned().unwrap_or_else(|| vec![o.clone()]))
                            .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == name.as_str())
                            .unwrap()["type"]
                            .clone();
                        assert_eq!(t, "kubernetes.io/service-account-token");
                        None
                    }
                    _ => None, // unused ServiceAccounts and keys, probes, PDBs, network policies
                };
                entry.extend(mapped);
            }
        }
        // Deliberate difference: like kubescape (C-0034), the default ServiceAccount that does not
        // disable automounting is reported; popeye does not report it.
        if linted_kind == "ServiceAccount" {
            want.get_mut("default").unwrap().insert(("sa-token-automounted".into(), None));
        }
        let mut got: BTreeMap<String, BTreeSet<(String, Option<String>)>> =
            want.keys().map(|k| (k.clone(), BTreeSet::new())).collect();
        for x in f.iter().filter(|x| x.object.kind == linted_kind && want.contains_key(&x.object.name)) {
            if ["sa-token-automounted", "secret-ref-missing", "secret-unused"].contains(&x.code.as_str()) {
                got.get_mut(&x.object.name).unwrap().insert((x.code.clone(), x.key.clone()));
            }
        }
        assert_eq!(got, want, "{}", test["test"]);
        compared += 1;
    }
    assert_eq!(compared, 3);
}

#[test]
fn popeye_pod_references_missing_keys() {
    // Not asserted by popeye, found by us: pod p1 reads key k1 of sec1 and mounts key `namespace`
    // of sec1, neither of which sec1 has.
    let dir = Path::new(CORPUS).join("popeye/testdata/core");
    let mut objects = load(&dir.join("pod/1.yaml"));
    objects.extend(load(&dir.join("secret/1.yaml")));
    let f = scan(&objects, &SecretScanOptions::default());
    let got: Vec<(&str, &str)> = f
        .iter()
        .filter(|x| x.code == "secret-ref-missing")
        .map(|x| (x.object.name.as_str(), x.key.as_deref().unwrap()))
        .collect();
    assert_eq!(got, [("p1", "containers[c1].env.env2"), ("p1", "volumes[secret]")]);
}
