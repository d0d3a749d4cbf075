//! Canary test: objects holding distinctive canary values in every place the scan reads (env
//! values, ConfigMap data and binaryData, Secret data and stringData, the last-applied annotation)
//! produce findings, and no message, Debug, Display, JSON or probe-report output contains a canary
//! or its base64.

use base64::Engine;
use kgents_gate::secrets::{SecretScanOptions, scan, scan_report};
use serde_json::{Value, json};

const CANARIES: &[&str] = &[
    "Canary-Env-Pw-7Q2x9Z",
    "AKIACANARY7QWE3RTY2U",
    "Canary-Cm-Pw-4K8v1B",
    "ghp_CanaryCanaryCanary0123456789abcdefgh",
    "Canary-Bin-Pw-5T6y7U",
    "Canary-Secret-Data-3E4r5T",
    "Canary-String-Data-9O8i7U",
    "Canary-LastApplied-2W3e4R",
];

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn objects() -> Vec<Value> {
    let last_applied = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "apps"},
        "stringData": {"password": CANARIES[7]}
    })
    .to_string();
    // Cut short, so not valid JSON: still never echoed.
    let broken = last_applied[..last_applied.len() - 10].to_string();
    vec![
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "apps"},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "env": [
            {"name": "DB_PASSWORD", "value": CANARIES[0]},
            {"name": "UPSTREAM", "value": CANARIES[1]},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "db", "key": "missing-key"}}}
        ]}]}}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "apps"},
            "data": {"SMTP_PASSWORD": CANARIES[2], "settings.ini": format!("[github]\ntoken = {}\n", CANARIES[3])},
            "binaryData": {"ADMIN_PASSWORD": b64(CANARIES[4])}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "apps",
                "creationTimestamp": "2020-01-01T00:00:00Z",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied}},
            "data": {"password": b64(CANARIES[5])}, "stringData": {"user": CANARIES[6]}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "broken", "namespace": "apps",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": broken},
                "creationTimestamp": "2020-01-01T00:00:00Z"},
            "data": {"k": b64(CANARIES[7])}}),
    ]
}

fn assert_clean(what: &str, text: &str) {
    for c in CANARIES {
        assert!(!text.contains(c), "{what} contains a canary value");
        assert!(!text.contains(&b64(c)), "{what} contains a canary value in base64");
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c);
        assert!(!text.contains(&url), "{what} contains a canary value in base64url");
    }
}

#[test]
fn no_canary_in_any_output() {
    let objs = objects();
    let opts = SecretScanOptions { now: Some("2025-12-01T00:00:00Z".parse().unwrap()), ..Default::default() };
    let findings = scan(&objs, &opts);
    // The scan did look at every canary's place.
    let codes: std::collections::BTreeSet<&str> = findings.iter().map(|f| f.code.as_str()).collect();
    for code in [
        "env-plain-credential",
        "configmap-credential",
        "secret-last-applied-in-clear",
        "secret-ref-missing",
        "secret-rotation-overdue",
    ] {
        assert!(codes.contains(code), "no {code} in {codes:?}");
    }
    let keys: Vec<&str> = findings.iter().filter_map(|f| f.key.as_deref()).collect();
    for k in [
        "containers[app].env.DB_PASSWORD",
        "containers[app].env.UPSTREAM",
        "SMTP_PASSWORD",
        "settings.ini",
        "ADMIN_PASSWORD",
        "password",
    ] {
        assert!(keys.contains(&k), "no finding for {k}: {keys:?}");
    }
    for f in &findings {
        assert_clean("message", &f.message);
        assert_clean("Display", &f.to_string());
        assert_clean("Debug", &format!("{f:?}"));
        assert_clean("JSON", &serde_json::to_string(f).unwrap());
    }
    assert_clean("JSON list", &serde_json::to_string_pretty(&findings).unwrap());
    let report = scan_report(&objs, &opts);
    assert_clean("probe report", &format!("{report:?}"));
}
