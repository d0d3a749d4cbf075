//! The run's scratch namespace: a control target no policy isolates (the positive control of
//! every probe pod) and a canary target behind a deny-all policy, tried once per audit by a
//! canary probe pod that also runs the control, so "enforced" is only said when the same pod
//! reached the control and was kept from the canary.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, PostParams};
use serde_json::json;
use tokio::time::Instant;

use super::pods::{self, Created, SCRATCH_PREFIX, TARGET_PORT, our_labels};
use super::script::Seen;
use super::session::{self, Canary, Session, Targets};

/// What the shared part runs with (the first network item's image and command).
#[derive(Debug, Clone)]
pub struct Wants {
    pub canary: bool,
    pub image: String,
    pub command: Vec<String>,
    pub connect_timeout: Duration,
}

pub const CONTROL_TARGET: &str = "control-target";
pub const CANARY_TARGET: &str = "canary-target";
pub const CANARY_PROBE: &str = "canary-probe";

pub fn scratch_namespace(run_id: &str) -> String {
    format!("{SCRATCH_PREFIX}{run_id}")
}

/// Creates a pod, retrying while a fresh namespace has no default ServiceAccount yet.
pub async fn create_pod(client: &kube::Client, pod: &Pod, created: &Created, deadline: Instant) -> Result<(), String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    loop {
        match api.create(&PostParams::default(), pod).await {
            Ok(_) => {
                created.pod(&ns, &name);
                return Ok(());
            }
            Err(kube::Error::Api(s)) if s.message.contains("service account") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) if pods::is_forbidden(&e) => return Err(format!("not allowed to create pods in {ns}")),
            Err(e) => return Err(format!("cannot create the pod {ns}/{name}: {}", pods::api_error(&e))),
        }
    }
}

fn seconds_until(deadline: Instant) -> i64 {
    deadline.saturating_duration_since(Instant::now()).as_secs() as i64 + 30
}

/// Sets up the scratch namespace and waits until its targets listen.
pub async fn start(session: &Session, wants: &Wants) -> Targets {
    let Some((client, run_id)) = session.client_and_run() else {
        return Targets { namespace: String::new(), control: Err("no cluster connection".into()), canary: None };
    };
    let ns = scratch_namespace(&run_id);
    let failed = |why: String| Targets {
        namespace: ns.clone(),
        control: Err(why.clone()),
        canary: wants.canary.then_some(Err(why)),
    };
    let mut wanted: Vec<pods::Permission<'_>> = vec![
        ("create", "", "namespaces", None),
        ("delete", "", "namespaces", None),
        ("create", "", "pods", Some(&ns)),
        ("watch", "", "pods", Some(&ns)),
    ];
    if wants.canary {
        wanted.push(("create", "networking.k8s.io", "networkpolicies", Some(&ns)));
    }
    if let Some(perm) = session.missing(&client, &wanted).await {
        return failed(format!("missing permission {perm}"));
    }
    let deadline = session.deadline();
    let mut labels = our_labels(&run_id, "scratch");
    // 1.20 does not set this label itself; policies selecting namespaces by name rely on it.
    labels.insert(crate::netpol::NAMESPACE_NAME_LABEL.into(), ns.clone());
    let nsobj: Namespace = match serde_json::from_value(json!({"metadata": {"name": ns, "labels": labels}})) {
        Ok(n) => n,
        Err(e) => return failed(format!("scratch namespace spec: {e}")),
    };
    if let Err(e) = Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &nsobj).await {
        return failed(format!("cannot create the scratch namespace {ns}: {}", pods::api_error(&e)));
    }
    session.created.namespace(&ns);
    let mut rx = session.watch(&client, &ns, &run_id);
    let secs = seconds_until(deadline);
    let mut roles = vec![CONTROL_TARGET];
    let mut canary_failed = None;
    if wants.canary {
        let deny: Result<NetworkPolicy, _> = serde_json::from_value(json!({
            "metadata": {"name": "kgents-gate-canary-deny", "namespace": ns, "labels": our_labels(&run_id, "canary")},
            "spec": {"podSelector": {"matchLabels": {pods::ROLE_LABEL: CANARY_TARGET}}, "policyTypes": ["Ingress"]}
        }));
        let made = match deny {
            Ok(d) => Api::<NetworkPolicy>::namespaced(client.clone(), &ns)
                .create(&PostParams::default(), &d)
                .await
                .map(|_| ())
                .map_err(|e| format!("cannot create the canary's deny-all policy: {}", pods::api_error(&e))),
            Err(e) => Err(format!("canary policy spec: {e}")),
        };
        match made {
            Ok(()) => roles.push(CANARY_TARGET),
            Err(e) => canary_failed = Some(e),
        }
    }
    for role in &roles {
        let made = pods::target_pod(role, &ns, &our_labels(&run_id, role), &wants.image, secs);
        let made = match made {
            Ok(pod) => create_pod(&client, &pod, &session.created, deadline).await,
            Err(e) => Err(e),
        };
        if let Err(e) = made {
            return failed(e);
        }
    }
    // Both listening (Ready from their tcpSocket probe), or why not.
    let ready = session::wait_until(&mut rx, deadline, &session.stop, |seen| {
        let mut ips = Vec::new();
        for role in &roles {
            let pod = seen.pods.get(*role).ok_or_else(|| format!("the {role} pod is not there yet"))?;
            if let Some(ended) = pods::target_failed(pod) {
                return Ok(Err(format!("the {role} pod (image {}) did not start: {ended}", wants.image)));
            }
            ips.push(
                pods::ready_ip(pod)
                    .ok_or_else(|| format!("the {role} pod is not ready: {}", pods::pending_reason(pod)))?,
            );
        }
        Ok(Ok(ips))
    })
    .await;
    match ready {
        Ok(Ok(ips)) => {
            let canary = match (wants.canary, canary_failed) {
                (false, _) => None,
                (true, Some(e)) => Some(Err(e)),
                (true, None) => Some(ips.get(1).cloned().ok_or_else(|| "no canary target".to_string())),
            };
            Targets { namespace: ns.clone(), control: Ok(ips[0].clone()), canary }
        }
        Ok(Err(why)) | Err(why) => failed(why),
    }
}

/// Runs the canary probe pod once the targets listen and says what it showed.
pub async fn canary(session: &Session, wants: &Wants, targets: &Targets) -> Canary {
    let target_ip = match &targets.canary {
        None => return Canary::Unknown("not run (no network item wants it)".into()),
        Some(Err(e)) => return Canary::Unknown(e.clone()),
        Some(Ok(ip)) => ip.clone(),
    };
    let control_ip = match &targets.control {
        Ok(ip) => ip.clone(),
        Err(e) => return Canary::Unknown(format!("no control target: {e}")),
    };
    let Some((client, run_id)) = session.client_and_run() else { return Canary::Unknown("no connection".into()) };
    let deadline = session.deadline();
    let ns = &targets.namespace;
    let probe = pods::fill_command(&wants.command, &target_ip, TARGET_PORT, wants.connect_timeout);
    let control = pods::fill_command(&wants.command, &control_ip, TARGET_PORT, wants.connect_timeout);
    let labels = our_labels(&run_id, CANARY_PROBE);
    let pod =
        match pods::probe_pod(CANARY_PROBE, ns, &labels, &wants.image, &probe, Some(&control), seconds_until(deadline))
        {
            Ok(p) => p,
            Err(e) => return Canary::Unknown(e),
        };
    if let Err(e) = create_pod(&client, &pod, &session.created, deadline).await {
        return Canary::Unknown(e);
    }
    let mut rx = session.watch(&client, ns, &run_id);
    let seen = session::wait_until(&mut rx, deadline, &session.stop, |s| match s.pods.get(CANARY_PROBE) {
        Some(p) => pods::pod_seen(p, &wants.image).ok_or_else(|| pods::pending_reason(p)),
        None if s.gone.iter().any(|g| g == CANARY_PROBE) => Err("the canary probe pod disappeared".into()),
        None => Err(s.error.clone().unwrap_or_else(|| "not seen yet".into())),
    })
    .await;
    let seen = match seen {
        Ok(s) => s,
        Err(why) => return Canary::Unknown(format!("the canary probe did not conclude: {why}")),
    };
    let control = seen.control.unwrap_or(Seen::NotRun("no control".into()));
    match (&seen.target, &control) {
        (Seen::Reachable, _) => Canary::NotEnforced(ns.clone()),
        (t, Seen::Reachable) if t.blocked() => Canary::Enforced,
        (t, c) if t.blocked() => Canary::Unknown(format!(
            "the canary probe pod was kept from the canary ({}) but could not reach the control target either ({})",
            t.describe(),
            c.describe()
        )),
        (t, _) => Canary::Unknown(format!("the canary probe did not conclude: {}", t.describe())),
    }
}
