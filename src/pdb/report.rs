//! The `pdb` probe's parameters, its `ProbeReport`, and the stable JSON form of the results
//! (`kgents-gate pdb --format json`).

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use super::{PdbAnalysis, PdbResult, PdbStatus, Scope};
use crate::outcome::{Finding, ProbeReport, Unverified};
use crate::probe::ParamReader;
use crate::selector::Selector;

/// Parameters of a `pdb` check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdbParams {
    /// Namespaces to judge; empty means every namespace.
    pub namespaces: Vec<String>,
    /// Only PDBs and workloads whose (pod) labels match.
    pub selector: Option<BTreeMap<String, String>>,
    /// Deployments and StatefulSets with at least this many replicas need a PDB.
    pub min_replicas_for_pdb: u32,
}

impl PdbParams {
    pub fn read(r: &mut ParamReader) -> Option<Self> {
        let namespaces = r.opt_str_list("namespaces").unwrap_or_default();
        let selector = r.opt_labels("selector");
        let min = match r.opt_u64("min_replicas_for_pdb") {
            None => 2,
            Some(0) => {
                r.error("min_replicas_for_pdb", "parameter `min_replicas_for_pdb` must be at least 1");
                return None;
            }
            Some(n) => match u32::try_from(n) {
                Ok(n) if n <= i32::MAX as u32 => n,
                _ => {
                    r.error("min_replicas_for_pdb", format!("parameter `min_replicas_for_pdb` is too large: {n}"));
                    return None;
                }
            },
        };
        Some(PdbParams { namespaces, selector, min_replicas_for_pdb: min })
    }

    pub fn scope(&self) -> Scope {
        Scope {
            namespaces: self.namespaces.clone(),
            selector: self.selector.as_ref().map(Selector::from_labels),
            min_replicas_for_pdb: i32::try_from(self.min_replicas_for_pdb).unwrap_or(i32::MAX),
        }
    }
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    code: &'a str,
    severity: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct JsonPdb<'a> {
    namespace: &'a str,
    name: &'a str,
    status_source: &'a str,
    status: &'a PdbStatus,
    findings: Vec<JsonFinding<'a>>,
}

impl Serialize for PdbResult {
    /// Exactly `namespace`, `name`, `status_source`, `status` {expectedPods, currentHealthy,
    /// desiredHealthy, disruptionsAllowed} and `findings` [{code, severity, message}].
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        JsonPdb {
            namespace: &self.namespace,
            name: &self.name,
            status_source: self.status_source.as_str(),
            status: &self.status,
            findings: self
                .findings
                .iter()
                .map(|f| JsonFinding { code: &f.code, severity: f.level.as_str(), message: &f.message })
                .collect(),
        }
        .serialize(s)
    }
}

/// The JSON list of `kgents-gate pdb --format json`.
pub fn to_json(results: &[PdbResult]) -> serde_json::Value {
    serde_json::to_value(results).unwrap_or_else(|_| serde_json::Value::Array(Vec::new()))
}

/// Status findings that a rollout in progress makes provisional.
const PROVISIONAL: &[&str] =
    &["pdb-unhealthy", "pdb-no-disruption-allowed", "pdb-expected-pods-mismatch", "pdb-stale-status"];

/// One probe verdict from an analysis. A rollout in progress, or a status that cannot be
/// computed offline, makes the result `unverified` (never a pass); the status findings on PDBs
/// of rolling workloads are kept as evidence, not as failures.
pub fn to_probe_report(analysis: &PdbAnalysis) -> ProbeReport {
    let mut report = ProbeReport::default();
    report.fact("pdbs", analysis.pdbs.len());
    report.fact("workloads_in_scope", analysis.workloads_in_scope);
    if !analysis.namespaces.is_empty() {
        report.fact("namespaces", analysis.namespaces.join(", "));
    }
    for r in &analysis.pdbs {
        let target = r.target();
        report.fact(&target, format!("{}: {}", r.status_source.as_str(), r.status));
        for f in r.evidence.iter().filter(|f| f.name == "assumed" || f.name == "workloads") {
            report.fact(format!("{target} {}", f.name), &f.value);
        }
        let rolling = r.workloads.iter().any(|w| analysis.rolling_out.contains(w));
        for f in &r.findings {
            if rolling && PROVISIONAL.contains(&f.code.as_str()) {
                report.fact(format!("{target} provisional {}", f.code), &f.message);
            } else if f.code == "pdb-status-unresolvable" {
                report.gap(Unverified::new(f.code.clone(), f.message.clone()));
            } else {
                report.push(f.clone());
            }
        }
    }
    for f in &analysis.workload_findings {
        if f.code == "rollout-in-progress" {
            report.gap(Unverified::new(f.code.clone(), f.message.clone()));
            report.evidence.extend(f.evidence.iter().map(|e| {
                crate::outcome::Fact::new(format!("{} {}", f.target.as_deref().unwrap_or_default(), e.name), &e.value)
            }));
        } else {
            report.push(f.clone());
        }
    }
    if analysis.pdbs.is_empty() && analysis.workloads_in_scope == 0 && report.findings().is_empty() {
        let where_ =
            if analysis.namespaces.is_empty() { "any namespace".to_string() } else { analysis.namespaces.join(", ") };
        report.gap(Unverified::new(
            "nothing-in-scope",
            format!("no PodDisruptionBudget and no Deployment or StatefulSet found in {where_}"),
        ));
    }
    report
}

/// Findings of an analysis in one list (PDB findings then workload findings).
pub fn all_findings(analysis: &PdbAnalysis) -> Vec<&Finding> {
    analysis.pdbs.iter().flat_map(|r| r.findings.iter()).chain(analysis.workload_findings.iter()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(src: &str) -> Result<PdbParams, Vec<crate::probe::ParamError>> {
        crate::probe::params::read_for_test(src, PdbParams::read)
    }

    #[test]
    fn params_defaults_and_values() {
        let p = read("").unwrap();
        assert_eq!(p, PdbParams { namespaces: vec![], selector: None, min_replicas_for_pdb: 2 });
        assert_eq!(p.scope(), Scope::default());
        let p = read("namespaces = [\"kgents-agents\"]\nselector = { \"app.kubernetes.io/name\" = \"nats\" }\nmin_replicas_for_pdb = 3").unwrap();
        assert_eq!(p.namespaces, ["kgents-agents"]);
        let scope = p.scope();
        assert_eq!(scope.min_replicas_for_pdb, 3);
        assert_eq!(scope.selector.map(|s| s.to_string()).as_deref(), Some("app.kubernetes.io/name=nats"));
    }

    #[test]
    fn params_errors_are_collected() {
        let errs = read("namespaces = 3\nmin_replicas_for_pdb = 0\nselecter = {}").unwrap_err();
        let keys: Vec<_> = errs.iter().filter_map(|e| e.key.as_deref()).collect();
        assert_eq!(keys, ["namespaces", "min_replicas_for_pdb", "selecter"]);
    }
}
