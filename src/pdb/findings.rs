//! The findings on each PDB in scope (status, spec, selector, overlap) and on the workloads in
//! scope (missing PDB, rollout in progress), with the numbers as evidence.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use super::controller::{self, Computation, ControllerId, PdbStatus, Resolution, SyncError, WorkloadKind};
use super::spec::{never_allows, selector_matches_nothing, spec_findings};
use super::world::{AssumedPods, PdbObject, PdbWorld, Workload};
use super::{PdbAnalysis, PdbResult, Scope, StatusSource, rollout};
use crate::outcome::{Fact, Finding};
use crate::selector::Selector;

/// At most this many pod names go into one fact.
const MAX_NAMES: usize = 10;

fn names(list: &[String]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    let mut s = list.iter().take(MAX_NAMES).cloned().collect::<Vec<_>>().join(", ");
    if list.len() > MAX_NAMES {
        s.push_str(&format!(", ... ({} more)", list.len() - MAX_NAMES));
    }
    s
}

/// A PDB with the pods it matches (indices into the effective pods) and the workloads it covers.
struct Entry<'w> {
    pdb: &'w PdbObject,
    selector: Option<Selector>,
    matched: Vec<usize>,
    covered: BTreeMap<ControllerId, i32>,
}

/// Indices of the analysis, built once so that the cost grows with the objects, not with their
/// products: the pods of each namespace, each pod's controller, the workloads of each namespace.
struct Index<'a> {
    pods_by_namespace: std::collections::HashMap<&'a str, Vec<usize>>,
    controllers: Vec<Resolution>,
    workloads_by_namespace: std::collections::HashMap<&'a str, Vec<usize>>,
}

impl<'a> Index<'a> {
    fn new(world: &PdbWorld, pods: &'a [std::borrow::Cow<'_, Pod>], workloads: &'a [Workload<'_>]) -> Self {
        let mut pods_by_namespace: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
        for (i, p) in pods.iter().enumerate() {
            pods_by_namespace.entry(p.metadata.namespace.as_deref().unwrap_or_default()).or_default().push(i);
        }
        let mut workloads_by_namespace: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
        for (i, w) in workloads.iter().enumerate() {
            workloads_by_namespace.entry(w.id.namespace.as_str()).or_default().push(i);
        }
        let controllers = pods.iter().map(|p| controller::resolve_pod(world, p)).collect();
        Index { pods_by_namespace, controllers, workloads_by_namespace }
    }

    fn pods_in(&self, ns: &str) -> &[usize] {
        self.pods_by_namespace.get(ns).map_or(&[], Vec::as_slice)
    }

    fn workloads_in(&self, ns: &str) -> &[usize] {
        self.workloads_by_namespace.get(ns).map_or(&[], Vec::as_slice)
    }
}

pub(crate) fn analyze(world: &PdbWorld, scope: &Scope) -> PdbAnalysis {
    let (pods, assumed) = world.effective_pods();
    let workloads = world.top_level_workloads();
    let index = Index::new(world, &pods, &workloads);
    let entries: Vec<Entry<'_>> = world
        .pdbs
        .iter()
        .map(|pdb| {
            let selector = controller::effective_selector(pdb).ok().flatten();
            let matched = index
                .pods_in(pdb.namespace())
                .iter()
                .copied()
                .filter(|&i| selector.as_ref().is_some_and(|s| s.matches_opt(pods[i].metadata.labels.as_ref())))
                .collect();
            let mut e = Entry { pdb, selector, matched, covered: BTreeMap::new() };
            e.covered = covered_workloads(&e, &index, &workloads);
            e
        })
        .collect();

    let mut entries_by_namespace: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        entries_by_namespace.entry(e.pdb.namespace()).or_default().push(i);
    }
    let mut analysis = PdbAnalysis { namespaces: scope.namespaces.clone(), ..Default::default() };
    for (i, e) in entries.iter().enumerate() {
        if !scope.has_namespace(e.pdb.namespace()) {
            continue;
        }
        let in_scope = scope.selector.is_none()
            || scope.selects(e.pdb.pdb.metadata.labels.as_ref())
            || e.matched.iter().any(|&p| scope.selects(pods[p].metadata.labels.as_ref()));
        if in_scope {
            let same_namespace = &entries_by_namespace[e.pdb.namespace()];
            analysis.pdbs.push(judge(
                world,
                &entries,
                i,
                same_namespace,
                &pods,
                &assumed,
                e.covered.clone(),
                &workloads,
            ));
        }
    }
    workload_findings(world, scope, &entries, &workloads, &mut analysis);
    for p in &world.problems {
        analysis.workload_findings.push(
            Finding::error("object-unreadable", format!("{} could not be read: {}", p.object, p.message))
                .target(&p.object),
        );
    }
    analysis
}

/// Controllers of the matched pods, and workloads whose pod template the selector matches.
fn covered_workloads(e: &Entry<'_>, index: &Index<'_>, workloads: &[Workload<'_>]) -> BTreeMap<ControllerId, i32> {
    let mut out = BTreeMap::new();
    for &i in &e.matched {
        if let Resolution::Controller(id, scale) = &index.controllers[i] {
            out.insert(id.clone(), *scale);
        }
    }
    if let Some(sel) = &e.selector {
        for w in index.workloads_in(e.pdb.namespace()).iter().map(|&i| &workloads[i]) {
            if w.template_labels.is_some_and(|l| sel.matches(l)) {
                out.entry(w.id.clone()).or_insert(w.replicas);
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn judge(
    world: &PdbWorld,
    entries: &[Entry<'_>],
    index: usize,
    same_namespace: &[usize],
    pods: &[std::borrow::Cow<'_, Pod>],
    assumed: &[AssumedPods],
    covered: BTreeMap<ControllerId, i32>,
    workloads: &[Workload<'_>],
) -> PdbResult {
    let e = &entries[index];
    let p = e.pdb;
    let target = format!("{}/{}", p.namespace(), p.name());
    let matched: Vec<&Pod> = e.matched.iter().map(|&i| &*pods[i]).collect();
    let computed = controller::compute_for(world, p, &matched);
    let (status_source, status) = match &p.pdb.status {
        Some(s) => (
            StatusSource::Observed,
            PdbStatus {
                expected_pods: s.expected_pods,
                current_healthy: s.current_healthy,
                desired_healthy: s.desired_healthy,
                disruptions_allowed: s.disruptions_allowed,
            },
        ),
        None => (StatusSource::Computed, computed.status),
    };
    let replicas: i64 = covered.values().map(|&r| i64::from(r)).sum();
    let workload_list: Vec<String> = covered.iter().map(|(id, r)| format!("{id} ({r} replicas)")).collect();
    let matched_names: Vec<String> =
        e.matched.iter().map(|&i| pods[i].metadata.name.clone().unwrap_or_default()).collect();
    let selector_text = match p.pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) {
        None => "<none>".to_string(),
        Some(raw) => Selector::from_k8s(raw).map_or_else(|e| e.to_string(), |s| s.to_string()),
    };

    let mut evidence = vec![
        Fact::new("apiVersion", p.api_version.as_str()),
        Fact::new("status_source", status_source.as_str()),
        Fact::new("selector", &selector_text),
        Fact::new("matched_pods", matched_names.len()),
        Fact::new("matched_pod_names", names(&matched_names)),
        Fact::new("workloads", if workload_list.is_empty() { "-".into() } else { workload_list.join(", ") }),
        Fact::new("workload_replicas", replicas),
        Fact::new("expectedPods", status.expected_pods),
        Fact::new("currentHealthy", status.current_healthy),
        Fact::new("desiredHealthy", status.desired_healthy),
        Fact::new("disruptionsAllowed", status.disruptions_allowed),
    ];
    if status_source == StatusSource::Observed && computed.sync_error.is_none() && computed.status != status {
        evidence.push(Fact::new("computed_status", computed.status));
    }
    for a in assumed.iter().filter(|a| covered.contains_key(&a.workload)) {
        evidence.push(Fact::new(
            "assumed",
            format!("no pods of {} in the input; assumed its {} replicas exist and are Ready", a.workload, a.replicas),
        ));
    }
    let with_numbers = |f: Finding| {
        f.target(&target)
            .fact("expectedPods", status.expected_pods)
            .fact("currentHealthy", status.current_healthy)
            .fact("desiredHealthy", status.desired_healthy)
            .fact("disruptionsAllowed", status.disruptions_allowed)
            .fact("status_source", status_source.as_str())
    };

    let mut findings = Vec::new();
    spec_findings(p, &target, &mut findings);
    sync_findings(p, &computed, status_source, &target, &mut findings);

    let matches_nothing = e.matched.is_empty();
    if matches_nothing {
        findings.push(selector_matches_nothing(p, &selector_text, workloads).target(&target));
    }
    if let Some(st) = &p.pdb.status {
        let generation = p.pdb.metadata.generation;
        if generation.is_some() && st.observed_generation != generation {
            let show = |g: Option<i64>| g.map_or("-".into(), |g| g.to_string());
            findings.push(
                Finding::warning(
                    "pdb-stale-status",
                    format!(
                        "status of {target} is stale: observedGeneration {} != generation {}",
                        show(st.observed_generation),
                        show(generation)
                    ),
                )
                .target(&target)
                .fact("generation", show(generation))
                .fact("observedGeneration", show(st.observed_generation)),
            );
        }
    }
    // With no pod matched, the selector is the one cause worth reporting.
    if status.current_healthy < status.desired_healthy && !matches_nothing {
        findings.push(with_numbers(Finding::error(
            "pdb-unhealthy",
            format!(
                "{target} has {} healthy pods, fewer than the {} it requires",
                status.current_healthy, status.desired_healthy
            ),
        )));
    }
    if status.disruptions_allowed < 1 && !matches_nothing {
        findings.push(
            with_numbers(Finding::error(
                "pdb-no-disruption-allowed",
                format!("{target} allows no disruption now: every node drain touching its pods is blocked"),
            ))
            .fact("workloads", if workload_list.is_empty() { "-".into() } else { workload_list.join(", ") }),
        );
    }
    if let Some(f) = never_allows(p, &covered, &computed, replicas) {
        findings.push(f.target(&target).fact("workload_replicas", replicas));
    }
    if !covered.is_empty() && i64::from(status.expected_pods) != replicas {
        findings.push(
            with_numbers(Finding::warning(
                "pdb-expected-pods-mismatch",
                format!("{target} expects {} pods but its workloads have {replicas} replicas", status.expected_pods),
            ))
            .fact("workloads", workload_list.join(", ")),
        );
    }
    for &j in same_namespace {
        let other = &entries[j];
        if j == index {
            continue;
        }
        let shared: Vec<String> = e
            .matched
            .iter()
            .filter(|i| other.matched.contains(i))
            .map(|&i| pods[i].metadata.name.clone().unwrap_or_default())
            .collect();
        if !shared.is_empty() {
            findings.push(
                Finding::error(
                    "pdb-overlapping",
                    format!(
                        "{} pod(s) are covered by both {target} and {}: the eviction API refuses to evict them",
                        shared.len(),
                        other.pdb.name()
                    ),
                )
                .target(&target)
                .fact("other_pdb", format!("{}/{}", other.pdb.namespace(), other.pdb.name()))
                .fact("shared_pods", shared.len())
                .fact("shared_pod_names", names(&shared)),
            );
        }
    }
    PdbResult {
        namespace: p.namespace().to_owned(),
        name: p.name().to_owned(),
        status_source,
        status,
        findings,
        evidence,
        workloads: covered.into_keys().collect(),
    }
}

fn sync_findings(p: &PdbObject, c: &Computation, source: StatusSource, target: &str, out: &mut Vec<Finding>) {
    match source {
        StatusSource::Computed => match &c.sync_error {
            Some(SyncError::FailSafe(e)) => out.push(
                Finding::error(
                    "pdb-controller-sync-failed",
                    format!("the disruption controller cannot compute the status of {target}: {e}"),
                )
                .target(target)
                .fact("consequence", "disruptionsAllowed is set to 0"),
            ),
            Some(SyncError::Unresolvable(e)) => out.push(
                Finding::warning(
                    "pdb-status-unresolvable",
                    format!("the status of {target} cannot be computed offline: {e}"),
                )
                .target(target),
            ),
            None => {}
        },
        StatusSource::Observed => {
            let failed = p
                .pdb
                .status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
                .find(|c| c.type_ == "DisruptionAllowed" && c.status == "False" && c.reason == "SyncFailed");
            if let Some(cond) = failed {
                out.push(
                    Finding::error(
                        "pdb-controller-sync-failed",
                        format!("the disruption controller failed to sync {target}: {}", cond.message),
                    )
                    .target(target),
                );
            } else if let (Some(SyncError::FailSafe(e)), Some(s)) = (&c.sync_error, &p.pdb.status)
                && s.disruptions_allowed == 0
            {
                // Before 1.21 the controller writes no condition on a failed sync, only
                // disruptionsAllowed 0: the cause is only visible by redoing its computation.
                out.push(
                    Finding::error(
                        "pdb-controller-sync-failed",
                        format!("the disruption controller cannot compute the status of {target}: {e}"),
                    )
                    .target(target)
                    .fact("consequence", "disruptionsAllowed is set to 0"),
                );
            }
        }
    }
    if !c.unmanaged_pods.is_empty() {
        out.push(
            Finding::warning(
                "pdb-unmanaged-pods",
                format!(
                    "{} pod(s) matched by {target} have no controller and do not count toward expectedPods",
                    c.unmanaged_pods.len()
                ),
            )
            .target(target)
            .fact("unmanaged_pods", names(&c.unmanaged_pods)),
        );
    }
}

fn workload_findings(
    world: &PdbWorld,
    scope: &Scope,
    entries: &[Entry<'_>],
    workloads: &[Workload<'_>],
    analysis: &mut PdbAnalysis,
) {
    // Which PDB covers which workload, from the entries (each computed once).
    let covered: std::collections::HashSet<&ControllerId> = entries.iter().flat_map(|e| e.covered.keys()).collect();
    let states =
        world.deployments.iter().map(|d| (WorkloadKind::Deployment, &d.metadata, rollout::deployment(d))).chain(
            world.stateful_sets.iter().map(|s| (WorkloadKind::StatefulSet, &s.metadata, rollout::stateful_set(s))),
        );
    let mut rolling: BTreeMap<ControllerId, rollout::RolloutState> = BTreeMap::new();
    for (kind, md, state) in states {
        if let Some(state) = state {
            let id = ControllerId {
                kind,
                namespace: md.namespace.clone().unwrap_or_default(),
                name: md.name.clone().unwrap_or_default(),
            };
            rolling.insert(id, state);
        }
    }
    for w in workloads {
        if !matches!(w.id.kind, WorkloadKind::Deployment | WorkloadKind::StatefulSet)
            || !scope.has_namespace(&w.id.namespace)
        {
            continue;
        }
        if scope.selector.is_some() && !scope.selects(w.labels) && !scope.selects(w.template_labels) {
            continue;
        }
        analysis.workloads_in_scope += 1;
        if let Some(state) = rolling.get(&w.id) {
            let mut f = Finding::info(
                "rollout-in-progress",
                format!(
                    "{} is mid-rollout: {}; its PDB status is provisional, re-run once it settles",
                    w.id, state.reason
                ),
            )
            .target(w.id.to_string());
            f.evidence.extend(state.evidence.iter().cloned());
            analysis.workload_findings.push(f);
            analysis.rolling_out.push(w.id.clone());
        }
        if w.replicas < scope.min_replicas_for_pdb {
            continue;
        }
        if !covered.contains(&w.id) {
            analysis.workload_findings.push(
                Finding::error(
                    "workload-without-pdb",
                    format!("{} has {} replicas and no PodDisruptionBudget covers its pods", w.id, w.replicas),
                )
                .target(w.id.to_string())
                .fact("replicas", w.replicas)
                .fact("min_replicas_for_pdb", scope.min_replicas_for_pdb),
            );
        }
    }
}
