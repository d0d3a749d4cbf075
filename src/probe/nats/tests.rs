//! Unit tests of the `nats` probe's parameters, version comparison and pure helpers.

use std::time::Duration;

use super::monitor::{meta_cluster, nats_metric_lines, route_peers};
use super::*;
use crate::probe::{ParamError, ProbeKind, ProbeSpec};

fn parse(text: &str) -> Result<NatsParams, Vec<ParamError>> {
    let t: toml::Table = toml::from_str(text).unwrap();
    match ProbeSpec::parse(ProbeKind::Nats, &t)? {
        ProbeSpec::Nats(p) => Ok(*p),
        other => panic!("parsed as {other:?}"),
    }
}

fn errors(text: &str) -> Vec<String> {
    parse(text).unwrap_err().into_iter().map(|e| format!("{}: {}", e.key.unwrap_or_default(), e.message)).collect()
}

const URLS: &str = "url = \"nats://nats.example:4222\"\nmonitor_url = \"http://nats.example:8222\"\n";

#[test]
fn defaults_and_full_parameters() {
    let p = parse(URLS).unwrap();
    assert_eq!(p.cluster_size, 3);
    assert!(p.jetstream);
    assert_eq!(p.auth, NatsAuth::None);
    assert_eq!(p.exporter_url, None);
    assert!(!p.uses_tls());

    let p = parse(&format!(
        "{URLS}exporter_url = \"http://nats.example:7777/metrics\"\nmin_version = \"2.10\"\ncluster_size = 1\n\
         jetstream = false\nmax_rtt = \"50ms\"\ntimeout = \"5s\"\nuser_env = \"NATS_USER\"\n\
         password_env = \"NATS_PASSWORD\"\nca_file = \"ca.pem\"\ntls_required = true\n"
    ))
    .unwrap();
    assert_eq!(p.min_version, Some(semver::Version::new(2, 10, 0)));
    assert_eq!(p.cluster_size, 1);
    assert!(!p.jetstream);
    assert_eq!(p.max_rtt, Some(Duration::from_millis(50)));
    assert_eq!(p.auth, NatsAuth::UserPassword { user_env: "NATS_USER".into(), password_env: "NATS_PASSWORD".into() });
    assert!(p.uses_tls());
}

#[test]
fn each_auth_method_parses() {
    for (line, want) in [
        ("token_env = \"NATS_TOKEN\"", NatsAuth::TokenEnv("NATS_TOKEN".into())),
        ("token_file = \"/run/secrets/token\"", NatsAuth::TokenFile("/run/secrets/token".into())),
        ("nkey_file = \"user.nk\"", NatsAuth::NkeyFile("user.nk".into())),
        ("creds_file = \"user.creds\"", NatsAuth::CredsFile("user.creds".into())),
    ] {
        assert_eq!(parse(&format!("{URLS}{line}\n")).unwrap().auth, want, "{line}");
    }
}

#[test]
fn bad_parameters_are_all_reported() {
    let errs = errors(
        "url = \"http://nats.example:4222\"\nmonitor_url = \"nats://x:8222\"\nmin_version = \"two\"\n\
         cluster_size = 0\ntimeout = \"0s\"\nmax_rtt = \"fast\"\nclustre_size = 3\n",
    );
    let keys: Vec<&str> = errs.iter().map(|e| e.split(':').next().unwrap()).collect();
    assert_eq!(
        keys,
        ["url", "monitor_url", "min_version", "cluster_size", "max_rtt", "timeout", "clustre_size"],
        "{errs:?}"
    );
    assert!(errors("monitor_url = \"http://x:8222\"")[0].contains("missing parameter `url`"));
}

#[test]
fn credentials_never_come_from_the_checklist() {
    let errs = errors("url = \"nats://alice:s3cr3t@nats.example:4222\"\nmonitor_url = \"http://x:8222\"\n");
    assert!(errs[0].contains("must not carry credentials"), "{errs:?}");
    assert!(errs.iter().all(|e| !e.contains("s3cr3t")), "{errs:?}");

    let errs = errors(&format!("{URLS}token_env = \"s3cr3t-token value\"\n"));
    assert!(errs[0].contains("must name an environment variable"), "{errs:?}");
    assert!(errs.iter().all(|e| !e.contains("s3cr3t")), "{errs:?}");
}

#[test]
fn auth_methods_are_exclusive_and_user_needs_password() {
    let errs = errors(&format!("{URLS}token_env = \"T\"\ncreds_file = \"u.creds\"\n"));
    assert!(errs[0].contains("one way to authenticate"), "{errs:?}");
    let errs = errors(&format!("{URLS}user_env = \"U\"\n"));
    assert!(errs[0].contains("needs `password_env`"), "{errs:?}");
}

#[test]
fn versions_compare_as_semver() {
    let v = |s: &str| parse_version(s).unwrap();
    assert!(version_at_least(&v("2.10.29"), &v("2.10.0")));
    assert!(version_at_least(&v("2.10.0"), &v("2.10")));
    assert!(version_at_least(&v("2.15.1"), &v("2.10.26")));
    // Numeric, not lexical: 2.9 is older than 2.10.
    assert!(!version_at_least(&v("2.9.25"), &v("2.10.0")));
    assert!(!version_at_least(&v("2.11.0-RC.1"), &v("2.11.0")));
    assert!(version_at_least(&v("v2.11.0"), &v("2.11.0")));
    assert_eq!(v("2"), semver::Version::new(2, 0, 0));
    for bad in ["", "two", "2.x", "2.10.0.1", "-1"] {
        assert!(parse_version(bad).is_err(), "{bad:?} should be rejected");
    }
}

#[test]
fn routes_are_counted_by_distinct_peer_name() {
    // 2.10 pools three connections per peer.
    let routez: serde_json::Value = serde_json::json!({ "num_routes": 6, "routes": [
        {"remote_name": "n2"}, {"remote_name": "n2"}, {"remote_name": "n3"},
        {"remote_name": "n3"}, {"remote_name": "n2"}, {"remote_id": "NOLD"}
    ]});
    let peers: Vec<String> = route_peers(&routez).into_iter().collect();
    assert_eq!(peers, ["NOLD", "n2", "n3"]);
    assert!(route_peers(&serde_json::json!({"routes": null})).is_empty());
}

#[test]
fn meta_cluster_reads_peer_states() {
    let jsz = serde_json::json!({"meta_cluster": {"leader": "n1", "cluster_size": 3, "replicas": [
        {"name": "n2", "current": true}, {"name": "n3", "current": false, "offline": true}
    ]}});
    let m = meta_cluster(&jsz).unwrap();
    assert_eq!(m.cluster_size, Some(3));
    assert_eq!(m.leader.as_deref(), Some("n1"));
    assert_eq!(m.replicas.iter().filter(|r| r.offline).count(), 1);
    assert!(meta_cluster(&serde_json::json!({"disabled": true})).is_none());
}

#[test]
fn exporter_metrics_are_recognised() {
    let body = "# HELP gnatsd_varz_connections x\n# TYPE gnatsd_varz_connections gauge\ngnatsd_varz_connections 3\n";
    assert_eq!(nats_metric_lines(body), 1);
    assert_eq!(nats_metric_lines("nats_core_mem_bytes 1\n"), 1);
    assert_eq!(nats_metric_lines("# nats_x comment only\ngo_goroutines 12\n"), 0);
    assert_eq!(nats_metric_lines("{\"status\":\"ok\"}"), 0);
}

#[test]
fn the_probe_subject_is_a_valid_subject() {
    assert_eq!(probe_subject("67a1b2c3d4"), "_kgents_gate.probe.67a1b2c3d4");
    assert_eq!(probe_subject("a.b *>"), "_kgents_gate.probe.a_b___");
    assert_eq!(probe_subject(""), "_kgents_gate.probe.run");
}
