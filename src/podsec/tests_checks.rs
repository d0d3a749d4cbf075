//! Each check of the standard, at the policy versions where its rules change.

use serde_json::{Value, json};

use super::*;

/// A Pod spec the restricted level admits at every version.
pub(super) fn restricted_spec() -> Value {
    json!({
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [{"name": "init", "image": "i", "securityContext": {
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
        "containers": [{"name": "app", "image": "a", "securityContext": {
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
    })
}

/// `spec` with the value at a `/`-separated path set (`null` unsets), creating objects on the way.
pub(super) fn with(mut spec: Value, path: &str, value: Value) -> Value {
    let keys: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (last, parents) = keys.split_last().expect("a path");
    let mut at = &mut spec;
    for key in parents {
        at = match key.parse::<usize>() {
            Ok(n) => &mut at[n],
            Err(_) => {
                if !at.is_object() {
                    *at = json!({});
                }
                &mut at[*key]
            }
        };
    }
    match last.parse::<usize>() {
        Ok(n) => at[n] = value,
        Err(_) => {
            if !at.is_object() {
                *at = json!({});
            }
            at[*last] = value;
        }
    }
    spec
}

fn judge(level: Level, minor: u32, metadata: Value, spec: &Value) -> Vec<Violation> {
    evaluate(&metadata, spec, level, Version::V1(minor))
}

/// The distinct checks violated, in order.
fn checks(v: &[Violation]) -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = v.iter().map(|v| v.check).collect();
    ids.dedup();
    ids
}

fn paths(v: &[Violation]) -> Vec<&str> {
    v.iter().map(|v| v.path.as_str()).collect()
}

const B: Level = Level::Baseline;
const R: Level = Level::Restricted;

#[test]
fn the_restricted_spec_is_admitted_at_every_version_and_level() {
    for minor in 0..=40 {
        for level in [B, R] {
            assert_eq!(judge(level, minor, Value::Null, &restricted_spec()), [], "{level} v1.{minor}");
        }
    }
}

#[test]
fn host_namespaces() {
    let spec = with(with(restricted_spec(), "/hostNetwork", json!(true)), "/hostIPC", json!(true));
    let spec = with(spec, "/hostPID", json!(false));
    let v = judge(B, 0, Value::Null, &spec);
    assert_eq!(checks(&v), ["hostNamespaces"]);
    assert_eq!(paths(&v), ["spec.hostNetwork", "spec.hostIPC"]);
}

#[test]
fn privileged_names_the_container_of_every_kind() {
    let spec = with(restricted_spec(), "/initContainers/0/securityContext/privileged", json!(true));
    let spec = with(spec, "/ephemeralContainers", json!([{"name": "debug", "securityContext": {"privileged": true}}]));
    let v = judge(B, 30, Value::Null, &spec);
    assert_eq!(checks(&v), ["privileged"]);
    let got: Vec<(Option<&str>, &str)> = v.iter().map(|v| (v.container.as_deref(), v.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (Some("init"), "spec.initContainers[0].securityContext.privileged"),
            (Some("debug"), "spec.ephemeralContainers[0].securityContext.privileged"),
        ]
    );
}

#[test]
fn a_violation_carries_check_container_path_value_and_fix() {
    let spec = with(restricted_spec(), "/containers/0/securityContext/capabilities/add", json!(["CHOWN", "NET_RAW"]));
    let v = judge(B, 20, Value::Null, &spec);
    assert_eq!(
        v,
        [Violation {
            check: "capabilities_baseline",
            kind: ViolationKind::Forbidden,
            container: Some("app".to_string()),
            path: "spec.containers[0].securityContext.capabilities.add[1]".to_string(),
            value: Some("\"NET_RAW\"".to_string()),
            message: "container \"app\" adds the capability \"NET_RAW\", beyond the baseline set".to_string(),
            fix: "remove \"NET_RAW\" from securityContext.capabilities.add".to_string(),
        }]
    );
    // Capability names are exact: no lower case, no CAP_ prefix.
    let spec = with(restricted_spec(), "/containers/0/securityContext/capabilities/add", json!(["chown", "CAP_KILL"]));
    assert_eq!(judge(B, 20, Value::Null, &spec).len(), 2);
}

#[test]
fn host_path_volumes_and_host_ports() {
    let spec = with(
        restricted_spec(),
        "/volumes",
        json!([{"name": "a", "emptyDir": {}}, {"name": "h", "hostPath": {"path": "/"}}]),
    );
    let v = judge(B, 0, Value::Null, &spec);
    assert_eq!((checks(&v), paths(&v)), (vec!["hostPathVolumes"], vec!["spec.volumes[1].hostPath"]));
    assert_eq!(v[0].value.as_deref(), Some(r#"{"path":"/"}"#));

    let ports =
        json!([{"containerPort": 80}, {"containerPort": 81, "hostPort": 0}, {"containerPort": 82, "hostPort": 8082}]);
    let v = judge(B, 0, Value::Null, &with(restricted_spec(), "/containers/0/ports", ports));
    assert_eq!((checks(&v), paths(&v)), (vec!["hostPorts"], vec!["spec.containers[0].ports[2].hostPort"]));
    assert_eq!(v[0].value.as_deref(), Some("8082"));
}

#[test]
fn app_armor_annotations_and_fields() {
    let meta = json!({"annotations": {
        "container.apparmor.security.beta.kubernetes.io/app": "unconfined",
        "container.apparmor.security.beta.kubernetes.io/init": "localhost/mine",
        "container.apparmor.security.beta.kubernetes.io/other": "runtime/default",
    }});
    let v = judge(B, 0, meta, &restricted_spec());
    assert_eq!(paths(&v), ["metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]"]);
    // The fields are judged at every version (upstream's single v1.0 rule reads them too).
    let spec = with(restricted_spec(), "/securityContext/appArmorProfile/type", json!("Unconfined"));
    let spec = with(spec, "/containers/0/securityContext/appArmorProfile/type", json!("Localhost"));
    for minor in [0, 30, 37] {
        let v = judge(B, minor, Value::Null, &spec);
        assert_eq!(paths(&v), ["spec.securityContext.appArmorProfile.type"], "v1.{minor}");
    }
    let unset_type = with(restricted_spec(), "/securityContext/appArmorProfile", json!({}));
    let v = judge(B, 30, Value::Null, &unset_type);
    assert_eq!((v[0].kind, v[0].value.as_deref()), (ViolationKind::Missing, None));
}

#[test]
fn se_linux_options_allow_container_engine_t_from_v1_31() {
    let spec = with(
        restricted_spec(),
        "/containers/0/securityContext/seLinuxOptions",
        json!({"type": "container_engine_t", "level": "s0:c1"}),
    );
    assert_eq!(checks(&judge(B, 30, Value::Null, &spec)), ["seLinuxOptions"]);
    assert_eq!(judge(B, 31, Value::Null, &spec), []);
    let spec =
        with(restricted_spec(), "/securityContext/seLinuxOptions", json!({"type": "spc_t", "user": "u", "role": ""}));
    let v = judge(B, 31, Value::Null, &spec);
    assert_eq!(paths(&v), ["spec.securityContext.seLinuxOptions.type", "spec.securityContext.seLinuxOptions.user"]);
}

#[test]
fn proc_mount_relaxes_for_user_namespaces_only_in_baseline_from_v1_35() {
    let unmasked = with(restricted_spec(), "/containers/0/securityContext/procMount", json!("Unmasked"));
    let userns = with(unmasked.clone(), "/hostUsers", json!(false));
    assert_eq!(checks(&judge(B, 35, Value::Null, &unmasked)), ["procMount"]);
    assert_eq!(checks(&judge(B, 34, Value::Null, &userns)), ["procMount"]);
    assert_eq!(judge(B, 35, Value::Null, &userns), []);
    assert_eq!(checks(&judge(R, 34, Value::Null, &userns)), ["procMount"]);
    assert_eq!(checks(&judge(R, 35, Value::Null, &userns)), ["procMount_restricted"]);
    let default = with(restricted_spec(), "/containers/0/securityContext/procMount", json!("Default"));
    assert_eq!(judge(R, 35, Value::Null, &default), []);
}

#[test]
fn seccomp_baseline_reads_annotations_before_v1_19_and_fields_after() {
    let meta = json!({"annotations": {
        "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
        "container.seccomp.security.alpha.kubernetes.io/app": "docker/default",
        "container.seccomp.security.alpha.kubernetes.io/init": "localhost/x",
        "container.seccomp.security.alpha.kubernetes.io/gone": "unconfined",
    }});
    let field = with(restricted_spec(), "/containers/0/securityContext/seccompProfile/type", json!("Unconfined"));
    let v = judge(B, 18, meta.clone(), &field);
    assert_eq!(paths(&v), ["metadata.annotations[seccomp.security.alpha.kubernetes.io/pod]"]);
    let v = judge(B, 19, meta, &field);
    assert_eq!(paths(&v), ["spec.containers[0].securityContext.seccompProfile.type"]);
    let container_annotation = json!({"annotations": {"container.seccomp.security.alpha.kubernetes.io/init": ""}});
    let v = judge(B, 10, container_annotation, &restricted_spec());
    assert_eq!(v[0].container.as_deref(), Some("init"));
}

#[test]
fn the_safe_sysctls_grow_by_version() {
    let sysctl =
        |name: &str| with(restricted_spec(), "/securityContext/sysctls", json!([{"name": name, "value": "1"}]));
    for (name, since) in [
        ("net.ipv4.ip_local_port_range", 0),
        ("net.ipv4.ip_local_reserved_ports", 27),
        ("net.ipv4.tcp_keepalive_time", 29),
        ("net.ipv4.tcp_keepalive_probes", 29),
        ("net.ipv4.tcp_wmem", 32),
        ("net.ipv4.tcp_notsent_lowat", 37),
    ] {
        if since > 0 {
            let v = judge(B, since - 1, Value::Null, &sysctl(name));
            assert_eq!(paths(&v), ["spec.securityContext.sysctls[0].name"], "{name} before v1.{since}");
        }
        assert_eq!(judge(B, since, Value::Null, &sysctl(name)), [], "{name} at v1.{since}");
        assert_eq!(evaluate(&Value::Null, &sysctl(name), B, Version::Latest), [], "{name} at latest");
    }
    assert_eq!(checks(&evaluate(&Value::Null, &sysctl("kernel.msgmax"), R, Version::Latest)), ["sysctls"]);
}

#[test]
fn windows_host_process_at_pod_and_container_level() {
    let spec = with(restricted_spec(), "/securityContext/windowsOptions/hostProcess", json!(true));
    let spec = with(spec, "/containers/0/securityContext/windowsOptions/hostProcess", json!(true));
    let v = judge(B, 0, Value::Null, &spec);
    assert_eq!(
        paths(&v),
        [
            "spec.securityContext.windowsOptions.hostProcess",
            "spec.containers[0].securityContext.windowsOptions.hostProcess"
        ]
    );
}

#[test]
fn probe_and_lifecycle_hosts_are_forbidden_from_v1_34() {
    let spec = with(restricted_spec(), "/containers/0/livenessProbe/httpGet", json!({"port": 80, "host": "10.0.0.1"}));
    let spec = with(spec, "/initContainers/0/lifecycle/preStop/tcpSocket", json!({"port": 80, "host": "db"}));
    let spec = with(spec, "/containers/0/readinessProbe/tcpSocket", json!({"port": 80, "host": ""}));
    assert_eq!(judge(B, 33, Value::Null, &spec), []);
    let v = judge(B, 34, Value::Null, &spec);
    assert_eq!(checks(&v), ["hostProbesAndHostLifecycle"]);
    assert_eq!(
        paths(&v),
        ["spec.initContainers[0].lifecycle.preStop.tcpSocket.host", "spec.containers[0].livenessProbe.httpGet.host"]
    );
}

#[test]
fn restricted_volumes_allow_only_the_listed_sources() {
    let volumes = json!([
        {"name": "plain"},
        {"name": "img", "image": {"reference": "r"}},
        {"name": "claim", "persistentVolumeClaim": {"claimName": "c"}},
        {"name": "share", "nfs": {"server": "s", "path": "/"}},
        {"name": "host", "hostPath": {"path": "/"}},
    ]);
    let v = judge(R, 0, Value::Null, &with(restricted_spec(), "/volumes", volumes));
    assert_eq!(checks(&v), ["restrictedVolumes"]);
    assert_eq!(paths(&v), ["spec.volumes[3].nfs", "spec.volumes[4].hostPath"]);
}

#[test]
fn allow_privilege_escalation_from_v1_8_with_the_windows_exemption_from_v1_25() {
    let spec = with(restricted_spec(), "/containers/0/securityContext/allowPrivilegeEscalation", Value::Null);
    let spec = with(spec, "/initContainers/0/securityContext/allowPrivilegeEscalation", json!(true));
    assert_eq!(judge(R, 7, Value::Null, &spec), []);
    let v = judge(R, 8, Value::Null, &spec);
    let kinds: Vec<ViolationKind> = v.iter().map(|v| v.kind).collect();
    assert_eq!(kinds, [ViolationKind::Forbidden, ViolationKind::Missing]);
    let windows = with(spec, "/os/name", json!("windows"));
    assert_eq!(checks(&judge(R, 24, Value::Null, &windows)), ["allowPrivilegeEscalation"]);
    assert_eq!(judge(R, 25, Value::Null, &windows), []);
}

#[test]
fn run_as_non_root_at_pod_or_container_level() {
    let no_pod = with(restricted_spec(), "/securityContext/runAsNonRoot", Value::Null);
    let v = judge(R, 0, Value::Null, &no_pod);
    assert_eq!(
        paths(&v),
        ["spec.initContainers[0].securityContext.runAsNonRoot", "spec.containers[0].securityContext.runAsNonRoot"]
    );
    let both = with(
        with(no_pod.clone(), "/containers/0/securityContext/runAsNonRoot", json!(true)),
        "/initContainers/0/securityContext/runAsNonRoot",
        json!(true),
    );
    assert_eq!(judge(R, 0, Value::Null, &both), []);
    let pod_false = with(both, "/securityContext/runAsNonRoot", json!(false));
    assert_eq!(paths(&judge(R, 0, Value::Null, &pod_false)), ["spec.securityContext.runAsNonRoot"]);
    let container_false = with(restricted_spec(), "/containers/0/securityContext/runAsNonRoot", json!(false));
    assert_eq!(paths(&judge(R, 0, Value::Null, &container_false)), ["spec.containers[0].securityContext.runAsNonRoot"]);
    let userns = with(no_pod, "/hostUsers", json!(false));
    assert_eq!(checks(&judge(R, 34, Value::Null, &userns)), ["runAsNonRoot"]);
    assert_eq!(judge(R, 35, Value::Null, &userns), []);
}

#[test]
fn run_as_user_zero_from_v1_23() {
    let root = with(
        with(restricted_spec(), "/securityContext/runAsUser", json!(0)),
        "/containers/0/securityContext/runAsUser",
        json!(0),
    );
    let root = with(root, "/initContainers/0/securityContext/runAsUser", json!(1000));
    assert_eq!(judge(R, 22, Value::Null, &root), []);
    let v = judge(R, 23, Value::Null, &root);
    assert_eq!(paths(&v), ["spec.securityContext.runAsUser", "spec.containers[0].securityContext.runAsUser"]);
    let userns = with(root, "/hostUsers", json!(false));
    assert_eq!(checks(&judge(R, 34, Value::Null, &userns)), ["runAsUser"]);
    assert_eq!(judge(R, 35, Value::Null, &userns), []);
}

#[test]
fn seccomp_restricted_requires_a_profile_from_v1_19() {
    let unset = with(restricted_spec(), "/securityContext/seccompProfile", Value::Null);
    assert_eq!(judge(R, 18, Value::Null, &unset), []);
    let v = judge(R, 19, Value::Null, &unset);
    assert_eq!(checks(&v), ["seccompProfile_restricted"]);
    assert!(v.iter().all(|v| v.kind == ViolationKind::Missing));
    let per_container = with(
        with(unset.clone(), "/containers/0/securityContext/seccompProfile/type", json!("Localhost")),
        "/initContainers/0/securityContext/seccompProfile/type",
        json!("RuntimeDefault"),
    );
    assert_eq!(judge(R, 19, Value::Null, &per_container), []);
    let bad = with(restricted_spec(), "/containers/0/securityContext/seccompProfile/type", json!("Unconfined"));
    assert_eq!(paths(&judge(R, 30, Value::Null, &bad)), ["spec.containers[0].securityContext.seccompProfile.type"]);
    let windows = with(unset, "/os", json!({"name": "windows"}));
    assert_eq!(checks(&judge(R, 24, Value::Null, &windows)), ["seccompProfile_restricted"]);
    assert_eq!(judge(R, 25, Value::Null, &windows), []);
}

#[test]
fn capabilities_restricted_drop_all_add_only_net_bind_service() {
    let spec = with(
        restricted_spec(),
        "/containers/0/securityContext/capabilities",
        json!({"drop": ["NET_RAW"], "add": ["NET_BIND_SERVICE", "CHOWN"]}),
    );
    let spec = with(spec, "/initContainers/0/securityContext/capabilities", Value::Null);
    // Before v1.22 restricted runs the baseline capabilities check, which allows CHOWN.
    assert_eq!(judge(R, 21, Value::Null, &spec), []);
    let v = judge(R, 22, Value::Null, &spec);
    assert_eq!(checks(&v), ["capabilities_restricted"]);
    assert_eq!(
        paths(&v),
        [
            "spec.initContainers[0].securityContext.capabilities.drop",
            "spec.containers[0].securityContext.capabilities.drop",
            "spec.containers[0].securityContext.capabilities.add[1]",
        ]
    );
    assert_eq!(v[1].value.as_deref(), Some(r#"["NET_RAW"]"#));
    let windows = with(spec, "/os/name", json!("windows"));
    assert_eq!(judge(R, 25, Value::Null, &windows), []);
}
