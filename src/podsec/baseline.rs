//! The baseline checks of the Pod Security Standards, one function per upstream check id, with
//! the rule changes of each policy version (k8s.io/pod-security-admission, policy/check_*.go).

use serde_json::Value;

use super::ViolationKind;
use super::view::{Judge, Loc, Obj, field};

/// Capabilities a baseline container may add (`capabilities_allowed_1_0`, unchanged since).
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Safe sysctls and the policy minor version each became allowed in.
const SAFE_SYSCTLS: &[(&str, u32)] = &[
    ("kernel.shm_rmid_forced", 0),
    ("net.ipv4.ip_local_port_range", 0),
    ("net.ipv4.tcp_syncookies", 0),
    ("net.ipv4.ping_group_range", 0),
    ("net.ipv4.ip_unprivileged_port_start", 0),
    ("net.ipv4.ip_local_reserved_ports", 27),
    ("net.ipv4.tcp_keepalive_time", 29),
    ("net.ipv4.tcp_fin_timeout", 29),
    ("net.ipv4.tcp_keepalive_intvl", 29),
    ("net.ipv4.tcp_keepalive_probes", 29),
    ("net.ipv4.tcp_rmem", 32),
    ("net.ipv4.tcp_wmem", 32),
    ("net.ipv4.tcp_slow_start_after_idle", 37),
    ("net.ipv4.tcp_notsent_lowat", 37),
];

/// SELinux types and the policy minor version each became allowed in ("" is the runtime default).
const SELINUX_TYPES: &[(&str, u32)] =
    &[("", 0), ("container_t", 0), ("container_init_t", 0), ("container_kvm_t", 0), ("container_engine_t", 31)];

const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";
const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

pub(super) fn host_namespaces(j: &mut Judge) {
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        let (v, at) = j.spec_field(key);
        if let Some(v) = j.is_true(v, &at) {
            j.forbid(&at, v, format!("the pod shares the host's namespace ({key}=true)"), format!("remove spec.{key}"));
        }
    }
}

pub(super) fn privileged(j: &mut Judge) {
    for c in j.containers() {
        let (sc, sc_at) = j.security_context(&c);
        let at = sc_at.child("privileged");
        if let Some(v) = j.is_true(field(sc, "privileged"), &at) {
            j.forbid(
                &at,
                v,
                format!("container {:?} is privileged", c.name),
                "remove securityContext.privileged (or set it to false)".to_string(),
            );
        }
    }
}

pub(super) fn capabilities_baseline(j: &mut Judge) {
    for c in j.containers() {
        let (sc, sc_at) = j.security_context(&c);
        let caps_at = sc_at.child("capabilities");
        let caps = j.obj(field(sc, "capabilities"), &caps_at);
        let add_at = caps_at.child("add");
        for (i, cap) in j.list(field(caps, "add"), &add_at).iter().enumerate() {
            let at = add_at.index(i);
            match j.string(Some(cap), &at) {
                Some(name) if !BASELINE_CAPABILITIES.contains(&name) => j.forbid(
                    &at,
                    cap,
                    format!("container {:?} adds the capability {name:?}, beyond the baseline set", c.name),
                    format!("remove {name:?} from securityContext.capabilities.add"),
                ),
                _ => {}
            }
        }
    }
}

pub(super) fn host_path_volumes(j: &mut Judge) {
    let (volumes, volumes_at) = j.spec_field("volumes");
    for (i, volume) in j.list(volumes, &volumes_at).iter().enumerate() {
        let vol_at = volumes_at.index(i);
        let volume = j.obj(Some(volume), &vol_at);
        let at = vol_at.child("hostPath");
        let host_path = field(volume, "hostPath");
        if let (Some(v), Some(_)) = (host_path, j.obj(host_path, &at)) {
            j.forbid(
                &at,
                v,
                format!("volume {:?} mounts a host path", volume_name(volume)),
                "replace the hostPath volume (e.g. with a persistentVolumeClaim or an emptyDir)".to_string(),
            );
        }
    }
}

pub(super) fn volume_name(volume: Option<&Obj>) -> &str {
    field(volume, "name").and_then(Value::as_str).unwrap_or("")
}

pub(super) fn host_ports(j: &mut Judge) {
    for c in j.containers() {
        let ports_at = c.loc.child("ports");
        for (i, port) in j.list(field(Some(c.obj), "ports"), &ports_at).iter().enumerate() {
            let port_at = ports_at.index(i);
            let port = j.obj(Some(port), &port_at);
            let at = port_at.child("hostPort");
            let host_port = field(port, "hostPort");
            if let (Some(v), Some(n)) = (host_port, j.integer(host_port, &at, 32))
                && n != 0
            {
                j.forbid(
                    &at,
                    v,
                    format!("container {:?} binds host port {n}", c.name),
                    "remove hostPort (or set it to 0) and reach the pod through a Service".to_string(),
                );
            }
        }
    }
}

/// The annotations, and the `appArmorProfile` fields: upstream added the fields to its single v1.0
/// rule, so they are judged at every version.
pub(super) fn app_armor_profile(j: &mut Judge) {
    let (sc, sc_at) = j.pod_security_context();
    app_armor_field(j, sc, &sc_at, "the pod");
    for c in j.containers() {
        let (sc, sc_at) = j.security_context(&c);
        app_armor_field(j, sc, &sc_at, &format!("container {:?}", c.name));
    }
    let Some(annotations) = j.annotations() else { return };
    let annotations_at = Loc::root("metadata.annotations");
    for (key, v) in annotations.iter().filter(|(k, _)| k.starts_with(APPARMOR_ANNOTATION_PREFIX)) {
        let at = annotations_at.key(key);
        match j.string(Some(v), &at) {
            Some(p) if !(p.is_empty() || p == "runtime/default" || p.starts_with("localhost/")) => j.forbid(
                &at,
                v,
                format!("AppArmor annotation {key} sets the profile {p:?}"),
                "set the annotation to \"runtime/default\" or \"localhost/<profile>\" (or remove it)".to_string(),
            ),
            _ => {}
        }
    }
}

fn app_armor_field<'a>(j: &mut Judge<'a, '_>, sc: Option<&'a Obj>, sc_at: &Loc, who: &str) {
    let profile_at = sc_at.child("appArmorProfile");
    let Some(profile) = j.obj(field(sc, "appArmorProfile"), &profile_at) else { return };
    let at = profile_at.child("type");
    let v = field(Some(profile), "type");
    let t = j.string(v, &at);
    if v.is_some() && t.is_none() {
        return; // wrong type, already reported
    }
    if !matches!(t, Some("RuntimeDefault" | "Localhost")) {
        j.report(
            if v.is_some() { ViolationKind::Forbidden } else { ViolationKind::Missing },
            &at,
            v,
            format!("{who} sets the AppArmor profile type {:?}", t.unwrap_or("")),
            "set appArmorProfile.type to RuntimeDefault or Localhost (or remove appArmorProfile)".to_string(),
        );
    }
}

pub(super) fn se_linux_options(j: &mut Judge) {
    let (sc, sc_at) = j.pod_security_context();
    se_linux_of(j, sc, &sc_at, "the pod");
    for c in j.containers() {
        let (sc, sc_at) = j.security_context(&c);
        se_linux_of(j, sc, &sc_at, &format!("container {:?}", c.name));
    }
}

fn se_linux_of<'a>(j: &mut Judge<'a, '_>, sc: Option<&'a Obj>, sc_at: &Loc, who: &str) {
    let opts_at = sc_at.child("seLinuxOptions");
    let Some(opts) = j.obj(field(sc, "seLinuxOptions"), &opts_at) else { return };
    let minor = j.minor;
    let at = opts_at.child("type");
    let v = field(Some(opts), "type");
    if let (Some(v), Some(t)) = (v, j.string(v, &at))
        && !SELINUX_TYPES.iter().any(|(allowed, since)| *allowed == t && *since <= minor)
    {
        let allowed: Vec<&str> =
            SELINUX_TYPES.iter().filter(|(a, since)| !a.is_empty() && *since <= minor).map(|(a, _)| *a).collect();
        j.forbid(
            &at,
            v,
            format!("{who} sets the SELinux type {t:?}"),
            format!("remove seLinuxOptions.type or set it to one of {}", allowed.join(", ")),
        );
    }
    for key in ["user", "role"] {
        let at = opts_at.child(key);
        let v = field(Some(opts), key);
        if let (Some(v), Some(s)) = (v, j.string(v, &at))
            && !s.is_empty()
        {
            j.forbid(&at, v, format!("{who} sets a custom SELinux {key}"), format!("remove seLinuxOptions.{key}"));
        }
    }
}

/// Baseline `procMount`: from v1.35 a pod in a user namespace (`hostUsers: false`) may unmask.
pub(super) fn proc_mount(j: &mut Judge) {
    if j.minor >= 35 && j.in_user_namespace() {
        return;
    }
    default_proc_mount_only(j);
}

/// Every container's `procMount` must be unset or `Default`.
pub(super) fn default_proc_mount_only(j: &mut Judge) {
    for c in j.containers() {
        let (sc, sc_at) = j.security_context(&c);
        let at = sc_at.child("procMount");
        let v = field(sc, "procMount");
        if let (Some(v), Some(m)) = (v, j.string(v, &at))
            && m != "Default"
        {
            j.forbid(
                &at,
                v,
                format!("container {:?} sets procMount {m:?}", c.name),
                "remove securityContext.procMount (or set it to Default)".to_string(),
            );
        }
    }
}

pub(super) fn seccomp_profile_baseline(j: &mut Judge) {
    if j.minor < 19 {
        seccomp_annotations(j);
        return;
    }
    let (sc, sc_at) = j.pod_security_context();
    seccomp_field(j, sc, &sc_at, "the pod");
    for c in j.containers() {
        let (sc, sc_at) = j.security_context(&c);
        seccomp_field(j, sc, &sc_at, &format!("container {:?}", c.name));
    }
}

/// v1.0-v1.18: the alpha annotations, for the pod and for each container by name.
fn seccomp_annotations(j: &mut Judge) {
    let containers: Vec<(String, Option<String>)> = j
        .containers()
        .iter()
        .map(|c| (format!("{SECCOMP_CONTAINER_ANNOTATION_PREFIX}{}", c.name), c.loc.container.clone()))
        .collect();
    let Some(annotations) = j.annotations() else { return };
    let annotations_at = Loc::root("metadata.annotations");
    let keys = std::iter::once((SECCOMP_POD_ANNOTATION.to_string(), None)).chain(containers);
    for (key, container) in keys {
        let Some(v) = field(Some(annotations), &key) else { continue };
        let mut at = annotations_at.key(&key);
        at.container = container;
        match j.string(Some(v), &at) {
            Some(p) if !(p == "runtime/default" || p == "docker/default" || p.starts_with("localhost/")) => j.forbid(
                &at,
                v,
                format!("seccomp annotation {key} sets the profile {p:?}"),
                "set the annotation to \"runtime/default\" or \"localhost/<profile>\" (or remove it)".to_string(),
            ),
            _ => {}
        }
    }
}

/// What a `seccompProfile` says, once judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seccomp {
    Unset,
    Allowed,
    /// Forbidden or of the wrong type; already reported.
    Reported,
}

/// Judges one `seccompProfile` (in `sc`, found at `sc_at`): only RuntimeDefault and Localhost.
pub(super) fn seccomp_field<'a>(j: &mut Judge<'a, '_>, sc: Option<&'a Obj>, sc_at: &Loc, who: &str) -> Seccomp {
    let profile_at = sc_at.child("seccompProfile");
    let profile = field(sc, "seccompProfile");
    let Some(profile_obj) = j.obj(profile, &profile_at) else {
        return if profile.is_some() { Seccomp::Reported } else { Seccomp::Unset };
    };
    let at = profile_at.child("type");
    let v = field(Some(profile_obj), "type");
    let t = j.string(v, &at);
    if v.is_some() && t.is_none() {
        return Seccomp::Reported;
    }
    if matches!(t, Some("RuntimeDefault" | "Localhost")) {
        return Seccomp::Allowed;
    }
    j.report(
        if v.is_some() { ViolationKind::Forbidden } else { ViolationKind::Missing },
        &at,
        v,
        format!("{who} sets the seccomp profile type {:?}", t.unwrap_or("")),
        "set seccompProfile.type to RuntimeDefault or Localhost".to_string(),
    );
    Seccomp::Reported
}

pub(super) fn sysctls(j: &mut Judge) {
    let minor = j.minor;
    let (sc, sc_at) = j.pod_security_context();
    let list_at = sc_at.child("sysctls");
    for (i, sysctl) in j.list(field(sc, "sysctls"), &list_at).iter().enumerate() {
        let item_at = list_at.index(i);
        let sysctl = j.obj(Some(sysctl), &item_at);
        let at = item_at.child("name");
        let v = field(sysctl, "name");
        let name = j.string(v, &at);
        if let (Some(v), Some(name)) = (v, name)
            && !SAFE_SYSCTLS.iter().any(|(safe, since)| *safe == name && *since <= minor)
        {
            j.forbid(
                &at,
                v,
                format!("the pod sets the sysctl {name:?}, not in the safe set of policy v1.{minor}"),
                format!("remove the sysctl {name:?} from spec.securityContext.sysctls"),
            );
        }
    }
}

pub(super) fn windows_host_process(j: &mut Judge) {
    let (sc, sc_at) = j.pod_security_context();
    host_process_of(j, sc, &sc_at, "the pod");
    for c in j.containers() {
        let (sc, sc_at) = j.security_context(&c);
        host_process_of(j, sc, &sc_at, &format!("container {:?}", c.name));
    }
}

fn host_process_of<'a>(j: &mut Judge<'a, '_>, sc: Option<&'a Obj>, sc_at: &Loc, who: &str) {
    let opts_at = sc_at.child("windowsOptions");
    let opts = j.obj(field(sc, "windowsOptions"), &opts_at);
    let at = opts_at.child("hostProcess");
    if let Some(v) = j.is_true(field(opts, "hostProcess"), &at) {
        j.forbid(
            &at,
            v,
            format!("{who} runs as a Windows HostProcess"),
            "remove windowsOptions.hostProcess (or set it to false)".to_string(),
        );
    }
}

pub(super) fn host_probes_and_host_lifecycle(j: &mut Judge) {
    for c in j.containers() {
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            let at = c.loc.child(probe);
            let handler = j.obj(field(Some(c.obj), probe), &at);
            handler_hosts(j, handler, &at, c.name);
        }
        let lifecycle_at = c.loc.child("lifecycle");
        let lifecycle = j.obj(field(Some(c.obj), "lifecycle"), &lifecycle_at);
        for hook in ["postStart", "preStop"] {
            let at = lifecycle_at.child(hook);
            let handler = j.obj(field(lifecycle, hook), &at);
            handler_hosts(j, handler, &at, c.name);
        }
    }
}

fn handler_hosts<'a>(j: &mut Judge<'a, '_>, handler: Option<&'a Obj>, handler_at: &Loc, container: &str) {
    for action in ["httpGet", "tcpSocket"] {
        let action_at = handler_at.child(action);
        let action_obj = j.obj(field(handler, action), &action_at);
        let at = action_at.child("host");
        let v = field(action_obj, "host");
        if let (Some(v), Some(host)) = (v, j.string(v, &at))
            && !host.is_empty()
        {
            j.forbid(
                &at,
                v,
                format!("container {container:?} probes or hooks the host {host:?}"),
                format!("remove {action}.host so the kubelet targets the pod's own IP"),
            );
        }
    }
}
