//! The checks the restricted level adds to baseline, one function per upstream check id, with the
//! rule changes of each policy version (k8s.io/pod-security-admission, policy/check_*.go).

use serde_json::Value;

use super::ViolationKind;
use super::baseline::{Seccomp, default_proc_mount_only, seccomp_field, volume_name};
use super::view::{Judge, Loc, Obj, field};

/// Inline volume sources the restricted level allows.
const ALLOWED_VOLUME_SOURCES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Every other volume source of the core/v1 API, in the order the controller names them.
const RESTRICTED_VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

pub(super) fn restricted_volumes(j: &mut Judge) {
    let (volumes, volumes_at) = j.spec_field("volumes");
    for (i, volume) in j.list(volumes, &volumes_at).iter().enumerate() {
        let vol_at = volumes_at.index(i);
        let Some(volume) = j.obj(Some(volume), &vol_at) else { continue };
        // A source counts when it decodes (an object); a volume with no known source is
        // defaulted to an emptyDir by the API server before admission.
        if ALLOWED_VOLUME_SOURCES.iter().any(|k| source_set(j, volume, &vol_at, k)) {
            continue;
        }
        let Some(source) = RESTRICTED_VOLUME_SOURCES.iter().find(|k| source_set(j, volume, &vol_at, k)) else {
            continue;
        };
        let at = vol_at.child(source);
        let v = field(Some(volume), source).unwrap_or(&Value::Null);
        j.forbid(
            &at,
            v,
            format!("volume {:?} uses the restricted volume type {source}", volume_name(Some(volume))),
            format!(
                "replace the {source} volume with an allowed type ({}, e.g. a persistentVolumeClaim)",
                ALLOWED_VOLUME_SOURCES.join(", ")
            ),
        );
    }
}

fn source_set<'a>(j: &mut Judge<'a, '_>, volume: &'a Obj, vol_at: &Loc, key: &str) -> bool {
    j.obj(field(Some(volume), key), &vol_at.child(key)).is_some()
}

pub(super) fn allow_privilege_escalation(j: &mut Judge) {
    // From v1.25 a Windows pod is exempt (the API forbids the field on Windows).
    if j.minor >= 25 && j.is_windows_pod() {
        return;
    }
    for c in j.containers() {
        let (sc, sc_at) = j.security_context(&c);
        let at = sc_at.child("allowPrivilegeEscalation");
        let v = field(sc, "allowPrivilegeEscalation");
        let fix = "set securityContext.allowPrivilegeEscalation: false".to_string();
        match (v, j.boolean(v, &at)) {
            (None, _) => j.report(
                ViolationKind::Missing,
                &at,
                None,
                format!("container {:?} does not set allowPrivilegeEscalation=false", c.name),
                fix,
            ),
            (Some(v), Some(true)) => {
                j.forbid(&at, v, format!("container {:?} allows privilege escalation", c.name), fix)
            }
            _ => {}
        }
    }
}

pub(super) fn run_as_non_root(j: &mut Judge) {
    // From v1.35 a pod in a user namespace is exempt: root in the pod is not root on the node.
    if j.minor >= 35 && j.in_user_namespace() {
        return;
    }
    let (sc, sc_at) = j.pod_security_context();
    let pod_at = sc_at.child("runAsNonRoot");
    let pod_v = field(sc, "runAsNonRoot");
    let pod = j.boolean(pod_v, &pod_at);
    if let (Some(v), Some(false)) = (pod_v, pod) {
        j.forbid(
            &pod_at,
            v,
            "the pod sets runAsNonRoot=false".to_string(),
            "set spec.securityContext.runAsNonRoot: true".to_string(),
        );
    }
    for c in j.containers() {
        let (sc, sc_at) = j.security_context(&c);
        let at = sc_at.child("runAsNonRoot");
        let v = field(sc, "runAsNonRoot");
        match (v, j.boolean(v, &at)) {
            (Some(v), Some(false)) => j.forbid(
                &at,
                v,
                format!("container {:?} sets runAsNonRoot=false", c.name),
                "set securityContext.runAsNonRoot: true".to_string(),
            ),
            (None, _) if pod != Some(true) => j.report(
                ViolationKind::Missing,
                &at,
                None,
                format!("neither the pod nor container {:?} sets runAsNonRoot=true", c.name),
                "set spec.securityContext.runAsNonRoot: true (or securityContext.runAsNonRoot: true on the container)"
                    .to_string(),
            ),
            _ => {}
        }
    }
}

pub(super) fn run_as_user(j: &mut Judge) {
    if j.minor >= 35 && j.in_user_namespace() {
        return;
    }
    let (sc, sc_at) = j.pod_security_context();
    let mut contexts = vec![(sc, sc_at, "the pod".to_string())];
    for c in j.containers() {
        let (sc, sc_at) = j.security_context(&c);
        contexts.push((sc, sc_at, format!("container {:?}", c.name)));
    }
    for (sc, sc_at, who) in contexts {
        let at = sc_at.child("runAsUser");
        let v = field(sc, "runAsUser");
        if let (Some(v), Some(0)) = (v, j.integer(v, &at, 64)) {
            j.forbid(
                &at,
                v,
                format!("{who} sets runAsUser=0 (root)"),
                "set runAsUser to a non-zero user id (or remove it and rely on the image's user)".to_string(),
            );
        }
    }
}

pub(super) fn seccomp_profile_restricted(j: &mut Judge) {
    if j.minor >= 25 && j.is_windows_pod() {
        return;
    }
    let (sc, sc_at) = j.pod_security_context();
    let pod = seccomp_field(j, sc, &sc_at, "the pod");
    for c in j.containers() {
        let (sc, sc_at) = j.security_context(&c);
        let container = seccomp_field(j, sc, &sc_at, &format!("container {:?}", c.name));
        if container == Seccomp::Unset && pod != Seccomp::Allowed {
            j.report(
                ViolationKind::Missing,
                &sc_at.child("seccompProfile").child("type"),
                None,
                format!("neither the pod nor container {:?} sets a seccomp profile", c.name),
                "set spec.securityContext.seccompProfile.type: RuntimeDefault (or Localhost)".to_string(),
            );
        }
    }
}

pub(super) fn capabilities_restricted(j: &mut Judge) {
    if j.minor >= 25 && j.is_windows_pod() {
        return;
    }
    for c in j.containers() {
        let (sc, sc_at) = j.security_context(&c);
        let caps_at = sc_at.child("capabilities");
        let caps = j.obj(field(sc, "capabilities"), &caps_at);
        let drop_at = caps_at.child("drop");
        let drop_v = field(caps, "drop");
        let drop = j.list(drop_v, &drop_at);
        let drops_all = drop.iter().any(|d| d.as_str() == Some("ALL"));
        for (i, d) in drop.iter().enumerate() {
            j.string(Some(d), &drop_at.index(i));
        }
        if !drops_all {
            j.report(
                ViolationKind::Missing,
                &drop_at,
                drop_v,
                format!("container {:?} does not drop ALL capabilities", c.name),
                "set securityContext.capabilities.drop: [\"ALL\"]".to_string(),
            );
        }
        let add_at = caps_at.child("add");
        for (i, cap) in j.list(field(caps, "add"), &add_at).iter().enumerate() {
            let at = add_at.index(i);
            match j.string(Some(cap), &at) {
                Some(name) if name != "NET_BIND_SERVICE" => j.forbid(
                    &at,
                    cap,
                    format!("container {:?} adds the capability {name:?}", c.name),
                    format!(
                        "remove {name:?} from securityContext.capabilities.add (only NET_BIND_SERVICE may be added)"
                    ),
                ),
                _ => {}
            }
        }
    }
}

/// From v1.35 restricted keeps `procMount` strict for user-namespace pods too.
pub(super) fn proc_mount_restricted(j: &mut Judge) {
    default_proc_mount_only(j);
}
