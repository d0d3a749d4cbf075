//! The `netpol.isolation` check on manifests (static verdicts only): the example world passes,
//! and each finding code is triggered by a world that has the problem and absent from one without.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kgents_gate::cluster::live::LiveOptions;
use kgents_gate::outcome::ProbeReport;
use kgents_gate::probe::{ProbeContext, ProbeKind, ProbeSpec};
use kgents_gate::sources::{SourceOptions, load_view};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kgents/manifests")
}

const NATS: &str = r#"namespace = "kgents-agents"
selector = { "app.kubernetes.io/name" = "nats" }
port = 4222
allow_from = ["kgents-agents"]
deny_from = ["default", "kgents-observability", "external"]
"#;

/// Runs the check with `params` on the manifest paths, offline.
fn run(params: &str, manifests: Vec<PathBuf>) -> ProbeReport {
    let table: toml::Table = toml::from_str(params).unwrap();
    let spec = ProbeSpec::parse(ProbeKind::NetpolIsolation, &table).unwrap();
    let opts =
        SourceOptions { live: LiveOptions::default(), manifests, manifest_namespace: "default".into(), offline: true };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let loaded = load_view(&spec.needs(), &opts, Duration::from_secs(5)).await.unwrap();
        let mut ctx = ProbeContext::standalone(".", Duration::from_secs(10));
        ctx.offline = true;
        ctx.view = Some(loaded.view);
        spec.run(&ctx).await
    })
}

fn codes(r: &ProbeReport) -> Vec<&str> {
    r.findings().iter().map(|f| f.code.as_str()).collect()
}

fn fact<'a>(r: &'a ProbeReport, name: &str) -> Option<&'a str> {
    r.evidence.iter().find(|f| f.name == name).map(|f| f.value.as_str())
}

/// The example world with `nats.yaml` edited by `edit`, plus extra documents.
fn variant(edit: impl Fn(&str) -> String, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["namespaces.yaml", "triad.yaml", "observability.yaml"] {
        std::fs::copy(example().join(f), dir.path().join(f)).unwrap();
    }
    let nats = std::fs::read_to_string(example().join("nats.yaml")).unwrap();
    std::fs::write(dir.path().join("nats.yaml"), edit(&nats)).unwrap();
    std::fs::write(dir.path().join("extra.yaml"), extra).unwrap();
    dir
}

#[test]
fn the_example_world_isolates_nats() {
    let r = run(NATS, vec![example()]);
    assert!(r.findings().is_empty(), "{:#?}", r.findings());
    assert!(r.first_gap().is_none(), "{:?}", r.first_gap());
    assert_eq!(fact(&r, "static kgents-agents"), Some("2 of 2 connection(s) allowed as required"), "{:#?}", r.evidence);
    assert_eq!(fact(&r, "static default"), Some("1 of 1 connection(s) denied as required"));
    // Neither default nor kgents-observability runs a pod in the example: the evaluation says so.
    assert!(fact(&r, "source default").is_some_and(|v| v.contains("synthetic") || v.contains("no pod")));
    assert!(fact(&r, "source kgents-observability").is_some());
    assert!(fact(&r, "source kgents-agents").is_none());
}

#[test]
fn kustomize_polluted_selector_selects_nothing_and_denies_the_allowed_source() {
    let polluted = variant(
        |nats| {
            nats.replace(
                "  podSelector:\n    matchLabels: { app.kubernetes.io/name: nats }\n  policyTypes: [Ingress]",
                "  podSelector:\n    matchLabels: { app.kubernetes.io/name: nats, app.kubernetes.io/part-of: kgents }\n  policyTypes: [Ingress]",
            )
        },
        "",
    );
    let r = run(NATS, vec![polluted.path().to_path_buf()]);
    let c = codes(&r);
    assert!(c.contains(&"netpol-selects-nothing"), "{c:?}");
    assert!(c.contains(&"isolation-denied-from-allowed-source"), "{c:?}");
    assert!(!c.contains(&"isolation-allowed-from-denied-source"), "{c:?}");
    let nothing = r.findings().iter().find(|f| f.code == "netpol-selects-nothing").unwrap();
    assert_eq!(nothing.target.as_deref(), Some("kgents-agents/nats-access"));
    let denied = r.findings().iter().find(|f| f.code == "isolation-denied-from-allowed-source").unwrap();
    assert!(denied.message.contains("deciding: kgents-agents/default-deny-ingress"), "{}", denied.message);
    assert!(denied.message.contains("from kgents-agents"), "{}", denied.message);
}

#[test]
fn a_denied_source_that_gets_through_names_the_allowing_policy() {
    let params = NATS
        .replace("allow_from = [\"kgents-agents\"]", "allow_from = []")
        .replace("deny_from = [\"default\"", "deny_from = [\"kgents-agents\", \"default\"");
    let r = run(&params, vec![example()]);
    assert_eq!(codes(&r), ["isolation-allowed-from-denied-source"]);
    let f = &r.findings()[0];
    assert!(f.message.contains("deciding: kgents-agents/nats-access"), "{}", f.message);
    assert_eq!(f.evidence[0].value, "kgents-agents/nats-access");
}

#[test]
fn selector_tables_narrow_sources_and_stand_in_with_their_labels() {
    let params = r#"namespace = "kgents-triad"
selector = { app = "triad-redis" }
port = 6379
allow_from = [{ namespace = "kgents-triad", selector = { app = "billing" } }]
deny_from = [{ namespace = "kgents-triad", selector = { app = "reporting" } }, "kgents-agents"]
"#;
    let r = run(params, vec![example()]);
    assert!(r.findings().is_empty(), "{:#?}", r.findings());
    assert!(fact(&r, "source kgents-triad [app=reporting]").is_some(), "{:#?}", r.evidence);
    // Denying the billing clients themselves is contradicted by redis-access.
    let params = params.replace(
        "deny_from = [{ namespace = \"kgents-triad\", selector = { app = \"reporting\" } }",
        "deny_from = [{ namespace = \"kgents-triad\", selector = { app = \"billing\" } }",
    );
    let r = run(&params, vec![example()]);
    assert_eq!(codes(&r), ["isolation-allowed-from-denied-source"]);
    assert!(r.findings()[0].message.contains("kgents-triad/redis-access"));
}

#[test]
fn a_selector_matching_no_destination_is_reported() {
    let params = NATS.replace("{ \"app.kubernetes.io/name\" = \"nats\" }", "{ app = \"ghost\" }");
    let r = run(&params, vec![example()]);
    assert_eq!(codes(&r), ["netpol-no-destination"]);
    assert!(r.findings()[0].message.contains("app=ghost"));
    assert!(!codes(&run(NATS, vec![example()])).contains(&"netpol-no-destination"));
}

#[test]
fn ipblocks_over_pod_ips_are_a_warning() {
    let extra = r#"apiVersion: v1
kind: Pod
metadata: { name: nats-0, namespace: kgents-agents, labels: { app.kubernetes.io/name: nats, app.kubernetes.io/instance: nats } }
spec:
  containers:
  - { name: nats, image: nats:2.10, ports: [{ name: nats, containerPort: 4222 }] }
status: { podIP: 10.244.1.7 }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: from-office, namespace: kgents-agents }
spec:
  podSelector: { matchLabels: { app.kubernetes.io/name: nats } }
  policyTypes: [Ingress]
  ingress:
  - from: [{ ipBlock: { cidr: 10.244.0.0/16 } }]
"#;
    let dir = variant(|n| n.to_string(), extra);
    let r = run(NATS, vec![dir.path().to_path_buf()]);
    let f = r.findings().iter().find(|f| f.code == "netpol-ipblock-matches-pods").expect("warning");
    assert_eq!(f.level, kgents_gate::outcome::Level::Warning);
    assert_eq!(f.target.as_deref(), Some("kgents-agents/from-office"));
    assert!(f.message.contains("kgents-agents/nats-0"));
    // The ipBlock does not match the external address the check uses: external stays denied.
    assert!(!codes(&r).contains(&"isolation-allowed-from-denied-source"), "{:#?}", r.findings());
    let r = run(NATS, vec![example()]);
    assert!(!codes(&r).contains(&"netpol-ipblock-matches-pods"));
}

#[test]
fn an_unresolvable_port_name_or_no_source_is_unverified() {
    let params = NATS.replace("port = 4222", "port = \"no-such-port\"");
    let r = run(&params, vec![example()]);
    let u = r.first_gap().expect("unverified");
    assert_eq!(u.code, "port-unresolved");
    assert!(u.reason.contains("no-such-port"));
    let r = run(NATS, vec![]);
    assert_eq!(r.first_gap().expect("unverified").code, "offline");
    assert!(r.findings().is_empty());
}
