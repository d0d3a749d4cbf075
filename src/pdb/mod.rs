//! PodDisruptionBudget health (probe `pdb`): observed or computed PDB status, the findings on
//! each PDB, and the workloads that lack a PDB or are mid-rollout. Pure logic over objects.

pub mod controller;
pub mod findings;
pub mod intstr;
pub mod report;
pub mod rollout;
mod spec;
pub mod world;

use std::collections::BTreeMap;

use serde::Serialize;

pub use controller::{Computation, ControllerId, PdbStatus, SyncError, WorkloadKind, compute_status};
pub use report::{PdbParams, all_findings, to_json, to_probe_report};
pub use world::{AssumedPods, ObjectProblem, PdbApiVersion, PdbObject, PdbWorld, UnmanagedPods};

use crate::outcome::{Fact, Finding};
use crate::selector::Selector;

/// Which PDBs and workloads are judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Namespaces in scope; empty means every namespace.
    pub namespaces: Vec<String>,
    /// Narrows to objects whose labels (a PDB's own or those of the pods it covers; a workload's
    /// own or its pod template's) match.
    pub selector: Option<Selector>,
    /// Deployments and StatefulSets with at least this many replicas must be covered by a PDB.
    pub min_replicas_for_pdb: i32,
}

impl Default for Scope {
    /// Every namespace, no selector, PDBs required from 2 replicas.
    fn default() -> Self {
        Scope { namespaces: Vec::new(), selector: None, min_replicas_for_pdb: 2 }
    }
}

impl Scope {
    pub fn namespaces(namespaces: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Scope { namespaces: namespaces.into_iter().map(Into::into).collect(), selector: None, min_replicas_for_pdb: 2 }
    }

    pub fn with_selector(mut self, labels: &BTreeMap<String, String>) -> Self {
        self.selector = Some(Selector::from_labels(labels));
        self
    }

    pub(crate) fn has_namespace(&self, ns: &str) -> bool {
        self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == ns)
    }

    pub(crate) fn selects(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.selector.as_ref().is_none_or(|s| s.matches_opt(labels))
    }
}

/// Where a PDB's status numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusSource {
    /// Written by the cluster's disruption controller.
    Observed,
    /// Computed here as the disruption controller would (no status in the input).
    Computed,
}

impl StatusSource {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusSource::Observed => "observed",
            StatusSource::Computed => "computed",
        }
    }
}

/// The verdict on one PDB. Its JSON form (see `report`) is a stable contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdbResult {
    pub namespace: String,
    pub name: String,
    pub status_source: StatusSource,
    pub status: PdbStatus,
    pub findings: Vec<Finding>,
    /// Facts behind the status: selector, matched pods, workloads and replicas, assumptions.
    pub evidence: Vec<Fact>,
    /// Workloads whose pods this PDB covers.
    pub workloads: Vec<ControllerId>,
}

impl PdbResult {
    pub fn target(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Everything the PDB checks established for one scope.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PdbAnalysis {
    pub pdbs: Vec<PdbResult>,
    /// `workload-without-pdb`, `rollout-in-progress`, `object-unreadable`.
    pub workload_findings: Vec<Finding>,
    /// Workloads mid-rollout (their PDBs' status findings are provisional).
    pub rolling_out: Vec<ControllerId>,
    /// The scope's namespaces, for the evidence.
    pub namespaces: Vec<String>,
    /// Deployments and StatefulSets in scope (with or without findings).
    pub workloads_in_scope: usize,
}

/// Judges every PDB and workload of the world within `scope`.
pub fn analyze(world: &PdbWorld, scope: &Scope) -> PdbAnalysis {
    findings::analyze(world, scope)
}
