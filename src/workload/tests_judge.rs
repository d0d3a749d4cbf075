//! Every readiness finding triggered and not triggered, on manifests read as the audit reads them.

use crate::cluster::manifests::{ManifestSet, parse_into};
use crate::cluster::{ClusterView, Gap, Kind, KindData};
use crate::outcome::{Finding, ProbeReport};
use crate::probe::params::read_for_test;
use crate::probe::workload::{WorkloadParams, needs, report_for};

/// An offline view of `yaml` with every kind the check reads loaded.
pub(crate) fn view_of(yaml: &str, kinds: &[Kind]) -> ClusterView {
    let mut set = ManifestSet::default();
    parse_into(yaml, std::path::Path::new("t.yaml"), &mut set);
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    let mut view = ClusterView::new(true);
    for k in kinds {
        view.set(*k, KindData::Objects(Vec::new()));
    }
    view.overlay(set, "default");
    view
}

fn params(toml: &str) -> WorkloadParams {
    read_for_test(toml, WorkloadParams::read).unwrap()
}

fn run(yaml: &str, toml: &str) -> ProbeReport {
    let p = params(toml);
    let kinds: Vec<Kind> = needs(&p).iter().map(|n| n.kind).collect();
    report_for(&view_of(yaml, &kinds), &p)
}

fn with<'r>(r: &'r ProbeReport, code: &str) -> Vec<&'r Finding> {
    r.findings().iter().filter(|f| f.code == code).collect()
}

fn fact<'f>(f: &'f Finding, name: &str) -> Option<&'f str> {
    f.evidence.iter().find(|e| e.name == name).map(|e| e.value.as_str())
}

/// A Deployment `name` in namespace `ns` with the given container YAML (indented for `containers:`).
fn deployment(ns: &str, name: &str, replicas: &str, containers: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}, labels: {{app: {name}}}}}\n\
         spec:\n  {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n\
         \x20   spec:\n      containers:\n{containers}"
    )
}

const GOOD: &str = "      - name: app\n        image: ghcr.io/kgents/api:1.2.0\n\
    \x20       readinessProbe: {httpGet: {path: /ready, port: 8080}}\n\
    \x20       livenessProbe: {httpGet: {path: /live, port: 8080}}\n\
    \x20       resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 500m, memory: 256Mi}}\n";

const LIMITRANGE: &str = "apiVersion: v1\nkind: LimitRange\nmetadata: {name: defaults, namespace: ns}\n\
    spec:\n  limits:\n  - type: Container\n    default: {cpu: 500m, memory: 512Mi}\n    defaultRequest: {cpu: 100m, memory: 128Mi}\n";

fn doc(parts: &[&str]) -> String {
    parts.join("---\n")
}

#[test]
fn a_ready_workload_has_no_finding() {
    let r = run(&doc(&[LIMITRANGE, &deployment("ns", "api", "replicas: 2", GOOD)]), "");
    assert!(r.findings().is_empty(), "{:#?}", r.findings());
    assert!(r.gaps().is_empty(), "{:#?}", r.gaps());
    assert!(r.evidence.iter().any(|e| e.name == "workloads judged" && e.value == "1"));
}

#[test]
fn requests_and_limits_missing_per_container_and_resource_init_containers_included() {
    let containers = "      - name: app\n        image: a:1\n        readinessProbe: {tcpSocket: {port: 1}}\n\
        \x20       livenessProbe: {tcpSocket: {port: 1}}\n        resources: {requests: {cpu: 100m}, limits: {memory: 1Gi}}\n";
    let mut d = deployment("other", "api", "replicas: 2", containers);
    d.push_str("      initContainers:\n      - name: migrate\n        image: m:1\n");
    let r = run(&d, "");
    let req: Vec<(Option<&str>, Option<&str>)> =
        with(&r, "container-requests-missing").iter().map(|f| (fact(f, "container"), fact(f, "resource"))).collect();
    // app's memory request comes from its memory limit (API defaulting): only migrate lacks requests.
    assert_eq!(req, [(Some("migrate"), Some("cpu")), (Some("migrate"), Some("memory"))]);
    let lim: Vec<(Option<&str>, Option<&str>)> =
        with(&r, "container-limits-missing").iter().map(|f| (fact(f, "container"), fact(f, "resource"))).collect();
    assert_eq!(lim, [(Some("migrate"), Some("cpu")), (Some("migrate"), Some("memory")), (Some("app"), Some("cpu"))]);
    let f = with(&r, "container-limits-missing")[0];
    assert_eq!(f.target.as_deref(), Some("Deployment other/api"));
    assert!(
        f.message.contains("init container migrate has no cpu limit (no LimitRange in the namespace)"),
        "{}",
        f.message
    );
    assert!(
        r.evidence
            .iter()
            .any(|e| e.name == "defaults Deployment other/api [app]" && e.value.contains("set to the limit"))
    );
    // Init containers have no probes to judge.
    assert!(with(&r, "readiness-probe-missing").is_empty());
}

#[test]
fn limitrange_defaults_count_and_the_evidence_says_so() {
    let bare = "      - name: app\n        image: a:1\n        readinessProbe: {exec: {command: [true]}}\n\
        \x20       livenessProbe: {exec: {command: [true]}}\n";
    let r = run(&doc(&[LIMITRANGE, &deployment("ns", "api", "replicas: 3", bare)]), "");
    assert!(with(&r, "container-requests-missing").is_empty(), "{:#?}", r.findings());
    assert!(with(&r, "container-limits-missing").is_empty());
    assert!(with(&r, "limitrange-missing").is_empty());
    let e = r.evidence.iter().find(|e| e.name == "defaults Deployment ns/api [app]").expect("defaults evidence");
    assert_eq!(
        e.value,
        "cpu request 100m from LimitRange defaults (defaultRequest); memory request 128Mi from LimitRange defaults \
         (defaultRequest); cpu limit 500m from LimitRange defaults (default); memory limit 512Mi from LimitRange \
         defaults (default)"
    );
    // The same workload without the LimitRange: every value missing, and the namespace flagged.
    let r = run(&deployment("ns", "api", "replicas: 3", bare), "");
    assert_eq!(with(&r, "container-requests-missing").len(), 2);
    assert_eq!(with(&r, "container-limits-missing").len(), 2);
    let lr = with(&r, "limitrange-missing");
    assert_eq!(lr.len(), 1);
    assert_eq!(lr[0].target.as_deref(), Some("namespace ns"));
}

#[test]
fn limitrange_missing_in_a_named_namespace_without_workloads() {
    let r = run(&doc(&[LIMITRANGE, &deployment("ns", "api", "replicas: 2", GOOD)]), "namespaces = [\"ns\", \"empty\"]");
    let lr = with(&r, "limitrange-missing");
    assert_eq!(lr.iter().map(|f| f.target.as_deref()).collect::<Vec<_>>(), [Some("namespace empty")]);
}

#[test]
fn probes_readiness_is_an_error_liveness_a_warning() {
    let containers = "      - name: app\n        image: a:1\n        resources: {limits: {cpu: 1, memory: 1Gi}}\n\
        \x20     - name: side\n        image: s:1\n        readinessProbe: {}\n        livenessProbe: {grpc: {port: 9}}\n\
        \x20       resources: {limits: {cpu: 1, memory: 1Gi}}\n";
    let r = run(&deployment("ns", "api", "replicas: 2", containers), "");
    let ready: Vec<_> = with(&r, "readiness-probe-missing");
    assert_eq!(ready.iter().map(|f| fact(f, "container")).collect::<Vec<_>>(), [Some("app"), Some("side")]);
    assert!(ready.iter().all(|f| f.level == crate::outcome::Level::Error));
    assert!(ready[1].message.contains("readinessProbe with no handler"), "{}", ready[1].message);
    let live = with(&r, "liveness-probe-missing");
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].level, crate::outcome::Level::Warning);
    assert_eq!(fact(live[0], "container"), Some("app"));
}

#[test]
fn sidecar_init_containers_need_probes_too() {
    let mut d = deployment("ns", "api", "replicas: 2", GOOD);
    d.push_str(
        "      initContainers:\n      - name: proxy\n        image: p:1\n        restartPolicy: Always\n\
         \x20       resources: {limits: {cpu: 1, memory: 1Gi}}\n",
    );
    let r = run(&doc(&[LIMITRANGE, &d]), "");
    assert_eq!(
        with(&r, "readiness-probe-missing").iter().map(|f| fact(f, "container")).collect::<Vec<_>>(),
        [Some("proxy")]
    );
}

#[test]
fn images_latest_untagged_digest_and_invalid() {
    let digest = format!("sha256:{}", "b".repeat(64));
    let c = |name: &str, image: &str| {
        format!(
            "      - name: {name}\n        image: \"{image}\"\n        readinessProbe: {{tcpSocket: {{port: 1}}}}\n\
             \x20       livenessProbe: {{tcpSocket: {{port: 1}}}}\n        resources: {{limits: {{cpu: 1, memory: 1Gi}}}}\n"
        )
    };
    let containers = [
        c("latest", "nats:latest"),
        c("bare", "registry.local:5000/nats"),
        c("tagged", "nats:2.10.29"),
        c("pinned", &format!("nats:latest@{digest}")),
        c("bad", "NATS:2"),
    ]
    .concat();
    let d = deployment("ns", "api", "replicas: 2", &containers);
    let r = run(&d, "");
    let names = |code: &str| with(&r, code).iter().map(|f| fact(f, "container")).collect::<Vec<_>>();
    assert_eq!(names("image-tag-latest"), [Some("latest")]);
    assert_eq!(names("image-untagged"), [Some("bare")]);
    assert_eq!(names("image-reference-invalid"), [Some("bad")]);
    assert!(names("image-not-pinned").is_empty(), "require_digest is off by default");
    let r = run(&d, "require_digest = true");
    let names = |code: &str| with(&r, code).iter().map(|f| fact(f, "container")).collect::<Vec<_>>();
    assert_eq!(names("image-not-pinned"), [Some("tagged")]);
    // latest and untagged images keep their own code rather than a second one.
    assert_eq!(names("image-tag-latest"), [Some("latest")]);
}

const HPA: &str = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: api, namespace: ns}\n\
    spec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  minReplicas: MIN\n  maxReplicas: 10\n";

#[test]
fn replicas_below_minimum_from_spec_or_the_hpa_floor() {
    let one = deployment("ns", "api", "replicas: 1", GOOD);
    let r = run(&doc(&[LIMITRANGE, &one]), "");
    let f = with(&r, "replicas-below-minimum");
    assert_eq!(f.len(), 1);
    assert_eq!(fact(f[0], "source"), Some("spec.replicas"));
    // Not written: one replica.
    let unset = deployment("ns", "api", "paused: false", GOOD);
    let r = run(&doc(&[LIMITRANGE, &unset]), "");
    assert_eq!(fact(with(&r, "replicas-below-minimum")[0], "source"), Some("spec.replicas not set (1)"));
    // An HPA scales it: its minReplicas decides, both ways.
    let r = run(&doc(&[LIMITRANGE, &unset, &HPA.replace("MIN", "3")]), "");
    assert!(with(&r, "replicas-below-minimum").is_empty(), "{:#?}", r.findings());
    let three = deployment("ns", "api", "replicas: 3", GOOD);
    let r = run(&doc(&[LIMITRANGE, &three, &HPA.replace("MIN", "1")]), "");
    let f = with(&r, "replicas-below-minimum");
    assert_eq!(fact(f[0], "source"), Some("minReplicas of HorizontalPodAutoscaler ns/api"));
    assert!(
        run(&doc(&[LIMITRANGE, &three]), "min_replicas = 4")
            .findings()
            .iter()
            .any(|f| f.code == "replicas-below-minimum")
    );
}

#[test]
fn daemonsets_and_bare_pods_are_judged_owned_pods_are_not() {
    let yaml = doc(&[
        LIMITRANGE,
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: ns}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers:\n      - {name: agent, image: \"agent:1\"}\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: debug, namespace: ns}\nspec:\n  containers:\n  - {name: shell, image: busybox}\n",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: api-x\n  namespace: ns\n  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: api-1, uid: u, controller: true}]\nspec:\n  containers:\n  - {name: owned, image: busybox}\n",
    ]);
    let r = run(&yaml, "");
    let targets: Vec<_> =
        with(&r, "readiness-probe-missing").iter().map(|f| f.target.clone().unwrap_or_default()).collect();
    assert_eq!(targets, ["DaemonSet ns/agent", "Pod ns/debug"]);
    assert_eq!(with(&r, "image-untagged").len(), 1);
    // Neither a DaemonSet nor a bare Pod has replicas to judge.
    assert!(with(&r, "replicas-below-minimum").is_empty());
}

#[test]
fn namespaces_selector_and_exclude_select_workloads() {
    let yaml = doc(&[
        &deployment("a", "api", "replicas: 1", GOOD),
        &deployment("a", "worker", "replicas: 1", GOOD),
        &deployment("b", "api", "replicas: 1", GOOD),
        &deployment("kube-system", "dns", "replicas: 1", GOOD),
    ]);
    let targets = |toml: &str| {
        let r = run(&yaml, toml);
        with(&r, "replicas-below-minimum").iter().map(|f| f.target.clone().unwrap_or_default()).collect::<Vec<_>>()
    };
    assert_eq!(targets(""), ["Deployment a/api", "Deployment a/worker", "Deployment b/api"]);
    assert_eq!(targets("namespaces = [\"kube-system\"]"), ["Deployment kube-system/dns"]);
    assert_eq!(targets("selector = { app = \"api\" }"), ["Deployment a/api", "Deployment b/api"]);
    assert_eq!(targets("exclude = [\"a/api\", \"worker\"]"), ["Deployment b/api"]);
    let r = run(&yaml, "selector = { app = \"nothing\" }");
    assert_eq!(r.gaps().iter().map(|g| g.code.as_str()).collect::<Vec<_>>(), ["nothing-in-scope"]);
}

#[test]
fn unreadable_kinds_are_gaps_and_the_rest_is_still_judged() {
    let p = params("");
    let kinds: Vec<Kind> = needs(&p).iter().map(|n| n.kind).collect();
    let mut view = view_of(&deployment("ns", "api", "replicas: 1", GOOD), &kinds);
    let forbidden =
        |res: &str| Gap::Forbidden { verb: "list".into(), resource: res.into(), namespace: Some("ns".into()) };
    view.set(Kind::LimitRange, KindData::Gap(forbidden("limitranges")));
    view.set(Kind::HorizontalPodAutoscaler, KindData::Gap(forbidden("horizontalpodautoscalers.autoscaling")));
    let r = report_for(&view, &p);
    let perms: Vec<_> = r.gaps().iter().filter_map(|g| g.missing_permission.clone()).collect();
    assert_eq!(
        perms,
        ["list limitranges in namespace ns", "list horizontalpodautoscalers.autoscaling in namespace ns"]
    );
    // Requests, limits and replicas depend on what could not be read: not judged.
    for code in ["container-requests-missing", "limitrange-missing", "replicas-below-minimum"] {
        assert!(with(&r, code).is_empty(), "{code}");
    }
    // A server without autoscaling at all: no HPA floor, replicas judged from the spec.
    view.set(Kind::HorizontalPodAutoscaler, KindData::Gap(Gap::NotServed { reason: "no autoscaling".into() }));
    let r = report_for(&view, &p);
    assert_eq!(with(&r, "replicas-below-minimum").len(), 1);
}

#[test]
fn parameters_are_validated() {
    let errs = |toml: &str| read_for_test(toml, WorkloadParams::read).unwrap_err();
    assert!(errs("min_replicas = 0")[0].message.contains("at least 1"));
    assert!(errs("exclude = [\"a/b/c\"]")[0].message.contains("namespace/name"));
    assert!(errs("require_digest = \"yes\"")[0].message.contains("true or false"));
    assert!(errs("selectr = {}")[0].message.contains("did you mean `selector`"));
    let p = params("requests = [\"memory\"]\nlimits = []");
    assert_eq!((p.requests, p.limits), (vec!["memory".to_string()], Vec::<String>::new()));
}

#[test]
fn defaults_evidence_is_capped_and_counted() {
    let bare = "      - name: app\n        image: a:1\n        readinessProbe: {exec: {command: [true]}}\n\
        \x20       livenessProbe: {exec: {command: [true]}}\n";
    let mut parts = vec![LIMITRANGE.to_string()];
    parts.extend((0..25).map(|i| deployment("ns", &format!("d{i}"), "replicas: 2", bare)));
    let r = run(&parts.join("---\n"), "");
    assert!(r.findings().is_empty(), "{:#?}", r.findings());
    assert_eq!(r.evidence.iter().filter(|e| e.name.starts_with("defaults Deployment")).count(), 20);
    let more = r.evidence.iter().find(|e| e.name == "defaults (more)").unwrap();
    assert!(more.value.starts_with("5 more containers"), "{}", more.value);
}
