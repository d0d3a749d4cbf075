//! The verdict on one connection: the source's egress AND the destination's ingress, each
//! decided by the (additive) policies that select the pod for that direction.

use serde::Serialize;

use super::model::{Direction, Endpoint, NetpolWorld, PodInfo, Policy, PortSpec, Protocol};
use super::peers::{PeerRef, rule_matches_peer};
use super::ports::{ConnectionSet, rule_admits_port, rule_connections};

/// One direction's part of a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectionVerdict {
    pub allowed: bool,
    /// Some policy selects the pod with this policy type (otherwise everything is allowed).
    pub isolated: bool,
    /// `namespace/name` of the deciding policies: those whose rules allow the traffic, or, when
    /// it is denied, those that isolate the pod for this direction.
    pub policies: Vec<String>,
}

impl DirectionVerdict {
    fn open() -> Self {
        DirectionVerdict { allowed: true, isolated: false, policies: vec![] }
    }
}

/// The answer to "is this connection allowed, and by which policies". Its JSON form
/// (`{"allowed", "egress", "ingress"}`) is a stable contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub allowed: bool,
    pub egress: DirectionVerdict,
    pub ingress: DirectionVerdict,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("pod {0} is not in the loaded objects")]
    UnknownPod(String),
    #[error("port name {name:?} does not resolve: {reason}")]
    UnresolvedPortName { name: String, reason: String },
}

fn resolve<'a>(world: &'a NetpolWorld, ep: &Endpoint) -> Result<PeerRef<'a>, EvalError> {
    PeerRef::resolve(world, ep).ok_or_else(|| EvalError::UnknownPod(ep.to_string()))
}

/// The port number a connection goes to; a name resolves on the destination pod's containers.
fn port_number(dst: PeerRef<'_>, port: &PortSpec, protocol: Protocol) -> Result<u16, EvalError> {
    match port {
        PortSpec::Number(n) => Ok(*n),
        PortSpec::Name(name) => match dst {
            PeerRef::External(_) => Err(EvalError::UnresolvedPortName {
                name: name.clone(),
                reason: "an external destination has no named ports".into(),
            }),
            PeerRef::Pod(p) => p.named_port(name, protocol).ok_or_else(|| EvalError::UnresolvedPortName {
                name: name.clone(),
                reason: format!("pod {}/{} has no {protocol} container port with that name", p.namespace, p.name),
            }),
        },
    }
}

/// The policies that select `pod` and isolate it for `direction`: none means the direction is open.
pub(crate) fn isolating_policies<'a>(
    world: &'a NetpolWorld,
    pod: &'a PodInfo,
    direction: Direction,
) -> impl Iterator<Item = &'a Policy> + 'a {
    world.policies_in(&pod.namespace).filter(move |p| p.isolates(direction) && p.selects(pod))
}

/// Decides one direction for `pod` (the source for egress, the destination for ingress).
/// `other` is the far end; `dst` the destination pod, on which named ports resolve.
fn decide(
    world: &NetpolWorld,
    pod: &PodInfo,
    direction: Direction,
    other: PeerRef<'_>,
    dst: Option<&PodInfo>,
    protocol: Protocol,
    port: u16,
) -> DirectionVerdict {
    let mut isolating = Vec::new();
    let mut allowing = Vec::new();
    for policy in isolating_policies(world, pod, direction) {
        isolating.push(policy.id.to_string());
        let allows = policy.rules(direction).iter().any(|r| {
            rule_matches_peer(world, &policy.id.namespace, r, other) && rule_admits_port(r, dst, protocol, port)
        });
        if allows {
            allowing.push(policy.id.to_string());
        }
    }
    if isolating.is_empty() {
        return DirectionVerdict::open();
    }
    let allowed = !allowing.is_empty();
    DirectionVerdict { allowed, isolated: true, policies: if allowed { allowing } else { isolating } }
}

/// Is traffic from `from` to `to` on `port`/`protocol` allowed? Traffic from outside meets only the
/// destination's ingress; traffic to outside only the source's egress. A pod talking to itself
/// goes through both, like any other pair.
pub fn evaluate(
    world: &NetpolWorld,
    from: &Endpoint,
    to: &Endpoint,
    port: &PortSpec,
    protocol: Protocol,
) -> Result<Verdict, EvalError> {
    let src = resolve(world, from)?;
    let dst = resolve(world, to)?;
    let number = port_number(dst, port, protocol)?;
    let egress = match src {
        PeerRef::Pod(p) => decide(world, p, Direction::Egress, dst, dst.pod(), protocol, number),
        PeerRef::External(_) => DirectionVerdict::open(),
    };
    let ingress = match dst {
        PeerRef::Pod(p) => decide(world, p, Direction::Ingress, src, Some(p), protocol, number),
        PeerRef::External(_) => DirectionVerdict::open(),
    };
    Ok(Verdict { allowed: egress.allowed && ingress.allowed, egress, ingress })
}

/// Everything one direction allows for `pod` towards/from `other`, and the policies whose rules
/// allow some of it (`policies` gets their ids when given).
fn direction_connections(
    world: &NetpolWorld,
    pod: &PodInfo,
    direction: Direction,
    other: PeerRef<'_>,
    dst: Option<&PodInfo>,
    mut policies: Option<&mut Vec<String>>,
) -> ConnectionSet {
    let mut isolated = false;
    let mut out = ConnectionSet::none();
    for policy in isolating_policies(world, pod, direction) {
        isolated = true;
        let mut contributes = false;
        for r in policy.rules(direction) {
            if rule_matches_peer(world, &policy.id.namespace, r, other) {
                let c = rule_connections(r, dst);
                contributes |= !c.is_empty();
                out.union(&c);
            }
        }
        if contributes && let Some(p) = policies.as_deref_mut() {
            p.push(policy.id.to_string());
        }
    }
    if isolated { out } else { ConnectionSet::all() }
}

/// Every protocol and port on which `from` may reach `to` (same rules as `evaluate`).
pub fn allowed_connections(world: &NetpolWorld, from: &Endpoint, to: &Endpoint) -> Result<ConnectionSet, EvalError> {
    connections_with_policies(world, from, to, None)
}

/// As `allowed_connections`, also naming the policies that allow the traffic (egress of the
/// source, ingress of the destination) into `policies`.
pub fn connections_with_policies(
    world: &NetpolWorld,
    from: &Endpoint,
    to: &Endpoint,
    mut policies: Option<&mut Vec<String>>,
) -> Result<ConnectionSet, EvalError> {
    let src = resolve(world, from)?;
    let dst = resolve(world, to)?;
    let egress = match src {
        PeerRef::Pod(p) => direction_connections(world, p, Direction::Egress, dst, dst.pod(), policies.as_deref_mut()),
        PeerRef::External(_) => ConnectionSet::all(),
    };
    let ingress = match dst {
        PeerRef::Pod(p) => direction_connections(world, p, Direction::Ingress, src, Some(p), policies),
        PeerRef::External(_) => ConnectionSet::all(),
    };
    Ok(egress.intersect(&ingress))
}
