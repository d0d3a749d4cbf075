//! Every HPA finding triggered and not triggered on manifests (the live status parts also run
//! against the real control plane in tests/hpa_live.rs), and reading every HPA version.

use serde_json::json;

use super::*;
use crate::cluster::Kind;
use crate::hpa::capacity::baseline;
use crate::outcome::{Finding, ProbeReport};
use crate::probe::hpa::{HpaParams, needs, report_for};
use crate::probe::params::read_for_test;
use crate::workload::tests_judge::view_of;

fn params(toml: &str) -> HpaParams {
    read_for_test(toml, HpaParams::read).unwrap()
}

fn run_with(yaml: &str, toml: &str, summary: Option<&str>) -> ProbeReport {
    let p = params(toml);
    let kinds: Vec<Kind> = needs(&p).iter().map(|n| n.kind).collect();
    let b =
        p.capacity.as_ref().map(|c| baseline(c, summary.map(|s| s.as_bytes().to_vec()).ok_or("No such file".into())));
    report_for(&view_of(yaml, &kinds), &p, b)
}

fn run(yaml: &str) -> ProbeReport {
    run_with(yaml, "", None)
}

fn codes(r: &ProbeReport) -> Vec<&str> {
    r.findings().iter().map(|f| f.code.as_str()).collect()
}

fn with<'r>(r: &'r ProbeReport, code: &str) -> Vec<&'r Finding> {
    r.findings().iter().filter(|f| f.code == code).collect()
}

fn doc(parts: &[&str]) -> String {
    parts.join("---\n")
}

/// The API Deployment of the examples: no spec.replicas, requests set.
fn api(requests: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api, namespace: ns}}\nspec:\n  selector: {{matchLabels: {{app: api}}}}\n\
         \x20 template:\n    metadata: {{labels: {{app: api}}}}\n    spec:\n      containers:\n      - name: api\n        image: api:1\n\
         \x20       resources: {{{requests}}}\n      - name: proxy\n        image: proxy:1\n        resources: {{requests: {{cpu: 10m, memory: 10Mi}}}}\n"
    )
}

fn hpa(min: &str, max: u32, metrics: &str) -> String {
    format!(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: api, namespace: ns}}\nspec:\n\
         \x20 scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: api}}\n  {min}\n  maxReplicas: {max}\n{metrics}"
    )
}

const CPU70: &str =
    "  metrics:\n  - type: Resource\n    resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}\n";
const REQ: &str = "requests: {cpu: 100m, memory: 128Mi}";

#[test]
fn a_sound_hpa_has_no_finding() {
    let r = run(&doc(&[&api(REQ), &hpa("minReplicas: 3", 10, CPU70)]));
    assert!(r.findings().is_empty(), "{:#?}", r.findings());
    assert!(r.gaps().is_empty(), "{:#?}", r.gaps());
    assert!(r.evidence.iter().any(|e| e.value.contains("not judged: a manifest without status")));
}

#[test]
fn spec_findings_min_max_and_metrics() {
    let r = run(&doc(&[&api(REQ), &hpa("minReplicas: 1", 1, CPU70)]));
    assert_eq!(codes(&r), ["hpa-min-replicas-low", "hpa-max-not-above-min"]);
    let r = run(&doc(&[&api(REQ), &hpa("# minReplicas unset", 5, CPU70)]));
    let low = with(&r, "hpa-min-replicas-low");
    assert!(low[0].message.contains("not set: defaults to 1"), "{}", low[0].message);
    assert!(
        run_with(&doc(&[&api(REQ), &hpa("minReplicas: 2", 5, CPU70)]), "min_replicas = 3", None)
            .findings()
            .iter()
            .any(|f| f.code == "hpa-min-replicas-low")
    );
    // No metric: a warning, and the API's default (80% CPU) is what the request check uses.
    let r = run(&doc(&[&api("requests: {memory: 1Gi}"), &hpa("minReplicas: 2", 5, "")]));
    assert_eq!(codes(&r), ["hpa-no-metrics", "hpa-target-without-requests"]);
    assert!(with(&r, "hpa-target-without-requests")[0].message.contains("80% cpu"));
}

#[test]
fn target_missing_and_custom_targets() {
    let r = run(&hpa("minReplicas: 2", 5, CPU70));
    assert_eq!(codes(&r), ["hpa-target-missing"]);
    assert!(with(&r, "hpa-target-missing")[0].message.contains("Deployment api names nothing in namespace ns"));
    let rollout = hpa("minReplicas: 2", 5, CPU70)
        .replace("apiVersion: apps/v1, kind: Deployment", "apiVersion: argoproj.io/v1alpha1, kind: Rollout");
    let r = run(&rollout);
    assert!(codes(&r).is_empty());
    assert_eq!(r.gaps().iter().map(|g| g.code.as_str()).collect::<Vec<_>>(), ["hpa-target-unresolved"]);
}

#[test]
fn utilisation_needs_the_request_limit_range_defaults_count() {
    let r = run(&doc(&[&api("limits: {memory: 1Gi}"), &hpa("minReplicas: 2", 5, CPU70)]));
    let f = with(&r, "hpa-target-without-requests");
    assert_eq!(f.len(), 1);
    assert!(f[0].evidence.iter().any(|e| e.name == "containers" && e.value == "api"), "{:#?}", f[0]);
    let lr = "apiVersion: v1\nkind: LimitRange\nmetadata: {name: d, namespace: ns}\nspec:\n  limits:\n  - {type: Container, defaultRequest: {cpu: 50m}}\n";
    assert!(run(&doc(&[lr, &api("limits: {memory: 1Gi}"), &hpa("minReplicas: 2", 5, CPU70)])).findings().is_empty());
    // Memory by average value needs no request; a container metric looks at its container only.
    let value = "  metrics:\n  - type: Resource\n    resource: {name: memory, target: {type: AverageValue, averageValue: 500Mi}}\n";
    assert!(run(&doc(&[&api("limits: {memory: 1Gi}"), &hpa("minReplicas: 2", 5, value)])).findings().is_empty());
    let container = "  metrics:\n  - type: ContainerResource\n    containerResource: {name: cpu, container: proxy, target: {type: Utilization, averageUtilization: 60}}\n";
    assert!(run(&doc(&[&api("limits: {memory: 1Gi}"), &hpa("minReplicas: 2", 5, container)])).findings().is_empty());
    let container = container.replace("proxy", "api");
    assert_eq!(
        codes(&run(&doc(&[&api("limits: {memory: 1Gi}"), &hpa("minReplicas: 2", 5, &container)]))),
        ["hpa-target-without-requests"]
    );
}

const PDB_MIN2: &str = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: api, namespace: ns}\nspec:\n  minAvailable: 2\n  selector: {matchLabels: {app: api}}\n";

#[test]
fn pdb_conflict_at_the_floor_computed_as_the_controller_does() {
    let r = run(&doc(&[&api(REQ), &hpa("minReplicas: 2", 5, CPU70), PDB_MIN2]));
    let f = with(&r, "hpa-pdb-conflict");
    assert_eq!(f.len(), 1, "{:#?}", r.findings());
    assert!(f[0].message.contains("minReplicas 2") && f[0].message.contains("minAvailable 2"), "{}", f[0].message);
    let status = f[0].evidence.iter().find(|e| e.name == "status at minReplicas").unwrap();
    assert_eq!(status.value, "expectedPods=2 currentHealthy=2 desiredHealthy=2 disruptionsAllowed=0");
    // One more replica at the floor leaves a disruption.
    let r = run(&doc(&[&api(REQ), &hpa("minReplicas: 3", 5, CPU70), PDB_MIN2]));
    assert!(with(&r, "hpa-pdb-conflict").is_empty());
    assert!(r.evidence.iter().any(|e| e.value.ends_with("disruptionsAllowed=1")), "{:#?}", r.evidence);
    // maxUnavailable 0% never allows one; 50% of 2 rounds up to 1.
    let pct = |v: &str| PDB_MIN2.replace("minAvailable: 2", &format!("maxUnavailable: \"{v}\""));
    assert_eq!(
        with(&run(&doc(&[&api(REQ), &hpa("minReplicas: 2", 5, CPU70), &pct("0%")])), "hpa-pdb-conflict").len(),
        1
    );
    assert!(
        with(&run(&doc(&[&api(REQ), &hpa("minReplicas: 2", 5, CPU70), &pct("50%")])), "hpa-pdb-conflict").is_empty()
    );
    // A PDB over other pods is not the target's.
    let other = PDB_MIN2.replace("{app: api}", "{app: other}");
    assert!(with(&run(&doc(&[&api(REQ), &hpa("minReplicas: 2", 5, CPU70), &other])), "hpa-pdb-conflict").is_empty());
}

#[test]
fn pdb_covering_two_workloads_counts_both() {
    // minAvailable 2 over the api pods (at the floor, 2) and 1 canary pod: 3 healthy, 1 allowed.
    let canary = api(REQ).replace("name: api, namespace", "name: canary, namespace").replacen(
        "  selector",
        "  replicas: 1\n  selector",
        1,
    );
    let r = run(&doc(&[&api(REQ), &canary, &hpa("minReplicas: 2", 5, CPU70), PDB_MIN2]));
    assert!(with(&r, "hpa-pdb-conflict").is_empty(), "{:#?}", r.findings());
}

#[test]
fn replicas_set_in_the_manifest() {
    let fixed = api(REQ).replacen("  selector", "  replicas: 3\n  selector", 1);
    let r = run(&doc(&[&fixed, &hpa("minReplicas: 2", 5, CPU70)]));
    let f = with(&r, "hpa-replicas-set");
    assert_eq!(f.len(), 1);
    assert!(f[0].message.contains("the manifest sets spec.replicas: 3"), "{}", f[0].message);
    assert!(with(&run(&doc(&[&api(REQ), &hpa("minReplicas: 2", 5, CPU70)])), "hpa-replicas-set").is_empty());
}

/// A status as `kubectl get hpa -o yaml` shows it, healthy (the shape of the Kubernetes HPA
/// walkthrough's output), with the object's server fields.
fn with_status(current: u32, able: &str, active: &str) -> String {
    format!(
        "{}status:\n  currentReplicas: {current}\n  desiredReplicas: {current}\n  conditions:\n\
         \x20 - {{type: AbleToScale, status: \"{able}\", reason: ReadyForNewScale, message: recommended size matches current size}}\n\
         \x20 - {{type: ScalingActive, status: \"{active}\", reason: FailedGetResourceMetric, message: \"the HPA was unable to compute the replica count: unable to get metrics for resource cpu\"}}\n",
        hpa("minReplicas: 2", 5, CPU70)
            .replace("namespace: ns}", "namespace: ns, uid: 4f1c, resourceVersion: \"812\"}")
    )
}

#[test]
fn live_status_unable_to_scale_and_at_max() {
    let r = run(&doc(&[&api(REQ), &with_status(2, "True", "True")]));
    assert!(r.findings().is_empty(), "{:#?}", r.findings());
    let r = run(&doc(&[&api(REQ), &with_status(2, "True", "False")]));
    let f = with(&r, "hpa-unable-to-scale");
    assert_eq!(f.len(), 1);
    assert!(
        f[0].message.contains("ScalingActive is False (FailedGetResourceMetric): the HPA was unable"),
        "{}",
        f[0].message
    );
    let r = run(&doc(&[&api(REQ), &with_status(5, "True", "True")]));
    assert_eq!(codes(&r), ["hpa-at-max"]);
    assert_eq!(with(&r, "hpa-at-max")[0].level, crate::outcome::Level::Warning);
    // From the API server but not synced yet: unknown, a gap.
    let fresh = hpa("minReplicas: 2", 5, CPU70).replace("namespace: ns}", "namespace: ns, uid: 1}");
    let r = run(&doc(&[&api(REQ), &fresh]));
    assert_eq!(r.gaps().iter().map(|g| g.code.as_str()).collect::<Vec<_>>(), ["hpa-status-unknown"]);
}

#[test]
fn capacity_from_the_load_test() {
    const SUMMARY: &str = r#"{"metrics": {"http_reqs": {"count": 143400, "rate": 478.0}}}"#;
    let cap = "load_summary = \"load.json\"\nbaseline_replicas = 2\ntarget_rps = 1200";
    let r = run_with(&doc(&[&api(REQ), &hpa("minReplicas: 3", 7, CPU70)]), cap, Some(SUMMARY));
    let f = with(&r, "hpa-capacity-short");
    assert_eq!(f.len(), 1);
    let arithmetic = f[0].evidence.iter().find(|e| e.name == "arithmetic").unwrap();
    assert!(
        arithmetic
            .value
            .starts_with("maxReplicas 7 x (478 req/s / 2 baseline replicas = 239 req/s per replica) = 1673 req/s <"),
        "{}",
        arithmetic.value
    );
    let r = run_with(&doc(&[&api(REQ), &hpa("minReplicas: 3", 8, CPU70)]), cap, Some(SUMMARY));
    assert!(r.findings().is_empty(), "{:#?}", r.findings());
    assert!(r.evidence.iter().any(|e| e.name == "capacity ns/api" && e.value.contains("= 1912 req/s >= target 1200")));
    // A missing or unreadable summary is a gap, never a pass.
    let r = run_with(&doc(&[&api(REQ), &hpa("minReplicas: 3", 8, CPU70)]), cap, None);
    assert_eq!(r.gaps().iter().map(|g| g.code.as_str()).collect::<Vec<_>>(), ["hpa-capacity-unverified"]);
    let r = run_with(&doc(&[&api(REQ), &hpa("minReplicas: 3", 8, CPU70)]), cap, Some("{\"metrics\": {}}"));
    assert_eq!(r.gaps()[0].code, "hpa-capacity-unverified");
}

#[test]
fn capacity_parameters_come_together() {
    let errs = |t: &str| read_for_test(t, HpaParams::read).unwrap_err();
    assert!(errs("target_rps = 100")[0].message.contains("needs all of"));
    assert!(errs("load_summary = \"x\"\nbaseline_replicas = 0\ntarget_rps = 1")[0].message.contains("at least 1"));
    assert!(
        errs("load_summary = \"x\"\nbaseline_replicas = 1\ntarget_rps = 1\nheadroom = 0.5")[0]
            .message
            .contains("headroom")
    );
    // The catalog's default headroom alone asks for no capacity.
    assert!(params("headroom = 1.5").capacity.is_none());
    assert_eq!(params("load_summary = \"x\"\nbaseline_replicas = 2\ntarget_rps = 9").capacity.unwrap().headroom, 1.5);
}

#[test]
fn every_version_reads_into_one_model() {
    let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "a", "namespace": "n", "annotations": {
            "autoscaling.alpha.kubernetes.io/metrics": "[{\"type\":\"Resource\",\"resource\":{\"name\":\"memory\",\"targetAverageUtilization\":60}}]",
            "autoscaling.alpha.kubernetes.io/conditions": "[{\"type\":\"AbleToScale\",\"status\":\"False\",\"reason\":\"FailedGetScale\",\"message\":\"no\"}]"}},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"}, "maxReplicas": 4, "targetCPUUtilizationPercentage": 50},
        "status": {"currentReplicas": 1, "desiredReplicas": 1}});
    let h = read_hpa(&v1).unwrap();
    assert_eq!(h.min(), 1);
    assert_eq!(
        h.metrics,
        [
            Metric::Resource { resource: "cpu".into(), container: None, utilization: Some(50) },
            Metric::Resource { resource: "memory".into(), container: None, utilization: Some(60) },
        ]
    );
    assert_eq!(h.status.as_ref().unwrap().conditions[0].reason.as_deref(), Some("FailedGetScale"));
    let v2beta1 = json!({"apiVersion": "autoscaling/v2beta1", "metadata": {"name": "b"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "s"}, "minReplicas": 2, "maxReplicas": 3,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 70}},
                        {"type": "Pods", "pods": {"metricName": "q", "targetAverageValue": "1"}}]}});
    let h = read_hpa(&v2beta1).unwrap();
    assert_eq!((h.namespace.as_str(), h.min(), h.max_replicas), ("default", 2, 3));
    assert_eq!(h.metrics[1], Metric::Other("Pods".into()));
    assert!(h.status.is_none() && !h.from_api);
    let v2beta2 = json!({"apiVersion": "autoscaling/v2beta2", "metadata": {"name": "c", "uid": "x"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d"}, "maxReplicas": 3},
        "status": {"currentReplicas": 3, "desiredReplicas": 3, "conditions": [{"type": "ScalingActive", "status": "True"}]}});
    let h = read_hpa(&v2beta2).unwrap();
    assert!(h.metrics.is_empty() && h.from_api);
    assert_eq!(
        h.effective_metrics()[0],
        Metric::Resource { resource: "cpu".into(), container: None, utilization: Some(80) }
    );
    assert!(
        read_hpa(&json!({"apiVersion": "autoscaling/v2", "metadata": {"name": "x"}, "spec": {"maxReplicas": "3"}}))
            .is_err()
    );
    assert!(read_hpa(&json!({"apiVersion": "autoscaling/v2beta1", "metadata": {"name": "x"}, "spec": {"scaleTargetRef": {"kind": "D"}}})).is_err());
}
