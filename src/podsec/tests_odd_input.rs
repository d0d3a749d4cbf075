//! Odd input: missing parts, wrong JSON types, and every field of a Pod replaced by every kind of
//! value. Nothing panics; a wrong type is a `wrong-type` violation of that field, reported once.

use serde_json::{Value, json};

use super::tests_checks::{restricted_spec, with};
use super::*;

fn wrong(spec: &Value) -> Vec<(&'static str, String)> {
    evaluate(&Value::Null, spec, Level::Restricted, Version::Latest)
        .into_iter()
        .filter(|v| v.kind == ViolationKind::WrongType)
        .map(|v| (v.check, v.path))
        .collect()
}

#[test]
fn a_pod_without_spec_or_metadata_is_judged_as_empty() {
    for level in [Level::Baseline, Level::Restricted] {
        assert_eq!(evaluate(&Value::Null, &Value::Null, level, Version::Latest), []);
        assert_eq!(evaluate(&json!({}), &json!({}), level, Version::V1(0)), []);
    }
}

#[test]
fn a_spec_or_metadata_of_the_wrong_type_is_reported_once() {
    let v = evaluate(&Value::Null, &json!("spec"), Level::Restricted, Version::Latest);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(
        (v[0].kind, v[0].path.as_str(), v[0].value.as_deref()),
        (ViolationKind::WrongType, "spec", Some("\"spec\""))
    );
    assert!(v[0].message.contains("must be an object, not a string"), "{}", v[0].message);
    let v = evaluate(&json!([1]), &restricted_spec(), Level::Baseline, Version::V1(10));
    assert_eq!(v.iter().map(|v| v.path.as_str()).collect::<Vec<_>>(), ["metadata"]);
}

#[test]
fn wrong_types_in_fields_are_violations_of_those_fields() {
    let cases = [
        ("/containers", json!({"name": "x"}), "spec.containers"),
        ("/containers/0", json!("app"), "spec.containers[0]"),
        ("/containers/0/securityContext", json!("restricted"), "spec.containers[0].securityContext"),
        ("/containers/0/securityContext/privileged", json!("false"), "spec.containers[0].securityContext.privileged"),
        (
            "/containers/0/securityContext/allowPrivilegeEscalation",
            json!(0),
            "spec.containers[0].securityContext.allowPrivilegeEscalation",
        ),
        (
            "/containers/0/securityContext/capabilities/drop",
            json!("ALL"),
            "spec.containers[0].securityContext.capabilities.drop",
        ),
        ("/containers/0/securityContext/runAsUser", json!("1000"), "spec.containers[0].securityContext.runAsUser"),
        ("/containers/0/securityContext/runAsUser", json!(1000.5), "spec.containers[0].securityContext.runAsUser"),
        ("/containers/0/ports", json!([{"hostPort": 70000000000_i64}]), "spec.containers[0].ports[0].hostPort"),
        ("/containers/0/ports", json!([8080]), "spec.containers[0].ports[0]"),
        ("/securityContext/sysctls", json!(["kernel.msgmax"]), "spec.securityContext.sysctls[0]"),
        ("/securityContext/seccompProfile/type", json!(["RuntimeDefault"]), "spec.securityContext.seccompProfile.type"),
        ("/hostNetwork", json!("yes"), "spec.hostNetwork"),
        ("/volumes", json!([{"name": "v", "emptyDir": "yes"}]), "spec.volumes[0].emptyDir"),
        ("/os", json!("windows"), "spec.os"),
    ];
    for (path, value, reported) in cases {
        let got = wrong(&with(restricted_spec(), path, value));
        assert_eq!(got.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(), [reported], "{path}: {got:?}");
    }
}

#[test]
fn a_wrong_typed_annotation_is_reported_where_a_check_reads_it() {
    let meta = json!({"annotations": {
        "container.apparmor.security.beta.kubernetes.io/app": 1,
        "unrelated": 2,
    }});
    let v = evaluate(&meta, &restricted_spec(), Level::Baseline, Version::V1(30));
    let got: Vec<(&str, &str)> = v.iter().map(|v| (v.check, v.path.as_str())).collect();
    assert_eq!(got, [("appArmorProfile", "metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]")]);
    let v = evaluate(&json!({"annotations": "x"}), &restricted_spec(), Level::Baseline, Version::V1(10));
    assert_eq!(v.iter().map(|v| v.path.as_str()).collect::<Vec<_>>(), ["metadata.annotations"]);
}

#[test]
fn a_wrong_typed_host_users_relaxes_nothing() {
    let spec = with(restricted_spec(), "/containers/0/securityContext/procMount", json!("Unmasked"));
    let spec = with(spec, "/hostUsers", json!("false"));
    let v = evaluate(&Value::Null, &spec, Level::Baseline, Version::Latest);
    assert_eq!(v.iter().map(|v| v.check).collect::<Vec<_>>(), ["procMount"]);
}

/// Every path to a value in `v`, as `/`-separated keys and indexes.
fn leaf_paths(v: &Value, prefix: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| leaf_paths(v, format!("{prefix}/{k}"), out)),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| leaf_paths(v, format!("{prefix}/{i}"), out)),
        _ => {}
    }
    if !prefix.is_empty() {
        out.push(prefix);
    }
}

#[test]
fn any_value_anywhere_never_panics() {
    let full = json!({
        "hostNetwork": false, "hostUsers": true, "os": {"name": "linux"},
        "securityContext": {
            "runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"},
            "seLinuxOptions": {"type": "container_t"}, "appArmorProfile": {"type": "RuntimeDefault"},
            "windowsOptions": {"hostProcess": false}, "sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"}],
        },
        "volumes": [{"name": "v", "emptyDir": {}}, {"name": "p", "projected": {"sources": []}}],
        "containers": [{
            "name": "app", "ports": [{"containerPort": 80, "hostPort": 0}],
            "livenessProbe": {"httpGet": {"port": 80, "host": ""}},
            "lifecycle": {"preStop": {"tcpSocket": {"port": 80}}},
            "securityContext": {
                "allowPrivilegeEscalation": false, "privileged": false, "procMount": "Default",
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
            },
        }],
        "ephemeralContainers": [{"name": "dbg", "securityContext": {"allowPrivilegeEscalation": false}}],
    });
    let meta = json!({"annotations": {
        "seccomp.security.alpha.kubernetes.io/pod": "runtime/default",
        "container.apparmor.security.beta.kubernetes.io/app": "runtime/default",
    }});
    let replacements = [
        Value::Null,
        json!(true),
        json!(-1),
        json!(1.5),
        json!(u64::MAX),
        json!(""),
        json!("x"),
        json!([]),
        json!([1]),
        json!({}),
        json!({"a": {}}),
    ];
    let mut paths = Vec::new();
    leaf_paths(&full, String::new(), &mut paths);
    let mut meta_paths = Vec::new();
    leaf_paths(&meta, String::new(), &mut meta_paths);
    let mut judged = 0;
    for r in &replacements {
        for p in &paths {
            let spec = with(full.clone(), p, r.clone());
            for version in [Version::V1(0), Version::V1(18), Version::V1(25), Version::Latest] {
                for level in [Level::Baseline, Level::Restricted] {
                    let v = evaluate(&meta, &spec, level, version);
                    judged += 1;
                    // A reported wrong type names a field that exists in the input.
                    for w in v.iter().filter(|w| w.kind == ViolationKind::WrongType) {
                        assert!(w.value.is_some(), "{p}: {w:?}");
                    }
                }
            }
        }
        for p in &meta_paths {
            let meta = with(meta.clone(), p, r.clone());
            evaluate(&meta, &full, Level::Restricted, Version::V1(10));
            evaluate(&meta, &full, Level::Baseline, Version::Latest);
        }
    }
    assert!(judged > 1000, "{judged}");
}
