//! Whether a Deployment or StatefulSet is mid-rollout, judged from its status the way its
//! controller and `kubectl rollout status` do. Mid-rollout PDB numbers are provisional.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};

use crate::outcome::Fact;

/// Why the workload is not settled, with the numbers; `None` when settled or without status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutState {
    pub reason: String,
    pub evidence: Vec<Fact>,
}

fn generation_unobserved(generation: Option<i64>, observed: Option<i64>) -> bool {
    match (generation, observed) {
        (Some(g), Some(o)) => o < g,
        (Some(_), None) => true,
        _ => false,
    }
}

/// A Deployment is settled when its spec is observed, every replica is updated, no old replica
/// is left and every updated replica is available, unless the rollout has already been declared
/// stuck (`Progressing=False`, `ProgressDeadlineExceeded`): a stuck rollout is a failure to
/// report, not a reason to wait.
pub fn deployment(d: &Deployment) -> Option<RolloutState> {
    let status = d.status.as_ref()?;
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let ready = status.ready_replicas.unwrap_or(0);
    let stuck = status.conditions.iter().flatten().any(|c| {
        c.type_ == "Progressing" && c.status == "False" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    // The controller marks a finished rollout `NewReplicaSetAvailable` and keeps that when pods
    // later fail their readiness probes: those are unavailable pods, not a rollout to wait for.
    let completed = status.conditions.iter().flatten().any(|c| {
        c.type_ == "Progressing" && c.status == "True" && c.reason.as_deref() == Some("NewReplicaSetAvailable")
    });
    let reason = if generation_unobserved(d.metadata.generation, status.observed_generation) {
        Some("the controller has not yet observed the latest spec".to_string())
    } else if stuck {
        None
    } else if updated < want {
        Some(format!("{updated} of {want} replicas updated"))
    } else if total > updated {
        Some(format!("{} old replicas pending termination", total - updated))
    } else if available < updated && !completed {
        Some(format!("{available} of {updated} updated replicas available"))
    } else {
        None
    }?;
    Some(RolloutState {
        reason,
        evidence: vec![
            Fact::new("replicas", want),
            Fact::new("updatedReplicas", updated),
            Fact::new("readyReplicas", ready),
            Fact::new("availableReplicas", available),
            Fact::new("generation", d.metadata.generation.map_or("-".into(), |g| g.to_string())),
            Fact::new("observedGeneration", status.observed_generation.map_or("-".into(), |g| g.to_string())),
        ],
    })
}

/// A RollingUpdate StatefulSet is settled when its spec is observed, the replicas outside the
/// partition are updated and `currentRevision == updateRevision` (the controller moves
/// currentRevision only once every replica is updated and Ready). With `OnDelete` only the
/// observed generation says anything: pods are replaced when someone deletes them.
pub fn stateful_set(s: &StatefulSet) -> Option<RolloutState> {
    let status = s.status.as_ref()?;
    let spec = s.spec.as_ref();
    let want = spec.and_then(|s| s.replicas).unwrap_or(1);
    let strategy = spec.and_then(|s| s.update_strategy.as_ref());
    let on_delete = strategy.and_then(|u| u.type_.as_deref()) == Some("OnDelete");
    let partition = strategy.and_then(|u| u.rolling_update.as_ref()).and_then(|r| r.partition).unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let ready = status.ready_replicas.unwrap_or(0);
    let revisions = (status.current_revision.as_deref(), status.update_revision.as_deref());
    let reason = if generation_unobserved(s.metadata.generation, status.observed_generation) {
        Some("the controller has not yet observed the latest spec".to_string())
    } else if on_delete {
        None
    } else if updated < (want - partition).max(0) {
        Some(format!("{updated} of {} replicas updated", (want - partition).max(0)))
    } else if status.replicas > want {
        Some(format!("{} replicas running for {want} wanted", status.replicas))
    } else if let (Some(cur), Some(upd)) = revisions
        && partition == 0
        && cur != upd
    {
        Some(format!("revision {upd} not yet complete ({ready} of {want} replicas Ready)"))
    } else {
        None
    }?;
    Some(RolloutState {
        reason,
        evidence: vec![
            Fact::new("replicas", want),
            Fact::new("updatedReplicas", updated),
            Fact::new("readyReplicas", ready),
            Fact::new("currentRevision", revisions.0.unwrap_or("-")),
            Fact::new("updateRevision", revisions.1.unwrap_or("-")),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment_with(status: serde_json::Value) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "generation": 1},
            "spec": {"replicas": 3, "selector": {}, "template": {}},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn unready_pods_after_a_finished_rollout_are_not_a_rollout() {
        let rolling = serde_json::json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
            "readyReplicas": 2, "availableReplicas": 2,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]});
        assert!(deployment(&deployment_with(rolling)).is_some_and(|r| r.reason.contains("2 of 3")));
        let done = serde_json::json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
            "readyReplicas": 2, "availableReplicas": 2,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]});
        assert_eq!(deployment(&deployment_with(done)), None);
    }
}
