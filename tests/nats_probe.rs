//! The `nats` probe against real NATS servers on 127.0.0.1 (tests/support), for the production
//! version and the newest one: healthy and degraded clusters, auth, unreachable and silent ports,
//! JetStream off, round trips, the monitoring endpoint and exporters. Plus one audit by the binary.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kgents_gate::outcome::ProbeReport;
use kgents_gate::probe::{ProbeContext, ProbeKind, ProbeSpec};
use support::{
    NATS_NEWEST, NATS_PRODUCTION, NatsAuth, NatsCluster, NatsOptions, ScratchDir, ServerProcess, cache_dir, eventually,
    free_port, random_hex, require_binary,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const VERSIONS: [&str; 2] = [NATS_PRODUCTION, NATS_NEWEST];

fn spec(params: &str) -> ProbeSpec {
    let t: toml::Table = toml::from_str(params).unwrap();
    ProbeSpec::parse(ProbeKind::Nats, &t).unwrap_or_else(|e| panic!("invalid parameters {params}: {e:?}"))
}

async fn probe(params: &str) -> ProbeReport {
    let ctx = ProbeContext::standalone(".", Duration::from_secs(20));
    spec(params).run(&ctx).await
}

fn codes(r: &ProbeReport) -> Vec<&str> {
    r.findings().iter().map(|f| f.code.as_str()).collect()
}

fn fact<'a>(r: &'a ProbeReport, name: &str) -> Option<&'a str> {
    r.evidence.iter().find(|f| f.name == name).map(|f| f.value.as_str())
}

fn params_for(c: &NatsCluster, i: usize, extra: &str) -> String {
    format!("url = \"{}\"\nmonitor_url = \"{}\"\ntimeout = \"10s\"\n{extra}", c.client_url(i), c.monitor_url(i))
}

fn assert_pass(r: &ProbeReport, what: &str) {
    assert!(r.findings().is_empty() && r.first_gap().is_none(), "{what}: expected a pass, got {r:#?}");
}

async fn cluster(version: &str, jetstream: bool, auth: NatsAuth) -> NatsCluster {
    NatsCluster::start(NatsOptions { nodes: 3, version: version.into(), jetstream, auth }).await
}

#[tokio::test]
async fn a_healthy_cluster_passes_with_its_evidence() {
    for version in VERSIONS {
        let c = cluster(version, true, NatsAuth::None).await;
        let r = probe(&params_for(&c, 0, "min_version = \"2.10.0\"\ncluster_size = 3\nmax_rtt = \"1s\"\n")).await;
        assert_pass(&r, version);
        assert_eq!(fact(&r, "version"), Some(version));
        assert_eq!(fact(&r, "server_name"), Some(c.server_name(0)));
        assert_eq!(fact(&r, "cluster_name"), Some("test-cluster"));
        assert_eq!(fact(&r, "jetstream"), Some("enabled"));
        assert_eq!(fact(&r, "peers_seen"), Some("n1, n2, n3"));
        assert_eq!(fact(&r, "meta_cluster_size"), Some("3"));
        let rtt: f64 = fact(&r, "rtt_ms").unwrap().parse().unwrap();
        assert!(rtt < 1000.0, "{rtt}");

        // The same cluster against stricter expectations.
        let r = probe(&params_for(&c, 1, "min_version = \"99.0.0\"\ncluster_size = 5\nmax_rtt = \"0ms\"\n")).await;
        assert_eq!(codes(&r), ["nats-version-too-old", "nats-rtt-slow", "nats-cluster-size-mismatch"], "{version}");
    }
}

#[tokio::test]
async fn one_node_down_is_a_cluster_size_mismatch() {
    for version in VERSIONS {
        let mut c = cluster(version, true, NatsAuth::None).await;
        c.stop_node(2);
        // Wait for the routes to drop it and, if it led the meta group, for a new leader.
        eventually("routes to drop the stopped node and a meta leader", Duration::from_secs(30), || async {
            let peers = c.route_peers(0).await?;
            let leader = c.monitor_json(0, "/jsz").await?["meta_cluster"]["leader"].clone();
            let (status, _) = support::http_get(&format!("{}/healthz", c.monitor_url(0))).await?;
            (peers.len() == 1 && leader.as_str().is_some_and(|l| l != "n3" && !l.is_empty()) && status == 200)
                .then_some(())
                .ok_or(format!("peers {peers:?}, leader {leader}, healthz {status}"))
        })
        .await;
        let r = probe(&params_for(&c, 0, "")).await;
        assert_eq!(codes(&r), ["nats-cluster-size-mismatch"], "{version}: {r:#?}");
        let f = &r.findings()[0];
        let peers = f.evidence.iter().find(|e| e.name == "peers_seen").unwrap();
        assert_eq!(peers.value, "n1, n2", "{version}");
        assert!(f.evidence.iter().any(|e| e.name == "offline_peers"), "{version}: {f:?}");
        assert!(f.message.contains("routes reach 2 of 3"), "{version}: {}", f.message);

        // Two live nodes meet an expectation of two.
        let r = probe(&params_for(&c, 0, "cluster_size = 2\njetstream = false\n")).await;
        assert_pass(&r, version);
    }
}

#[tokio::test]
async fn auth_is_required_and_given_from_the_environment() {
    for version in VERSIONS {
        let token = random_hex(16);
        let c = cluster(version, true, NatsAuth::Token(token.clone())).await;
        let r = probe(&params_for(&c, 0, "")).await;
        assert_eq!(codes(&r), ["nats-auth-failed"], "{version}: {r:#?}");

        let var = format!("KGENTS_GATE_TEST_NATS_TOKEN_{}", version.replace('.', "_"));
        unsafe { std::env::set_var(&var, &token) };
        let r = probe(&params_for(&c, 0, &format!("token_env = \"{var}\"\n"))).await;
        assert_pass(&r, version);
        assert!(!format!("{r:?}").contains(&token), "the token leaked into the report");

        let wrong = format!("{var}_WRONG");
        unsafe { std::env::set_var(&wrong, "not-the-token") };
        let r = probe(&params_for(&c, 0, &format!("token_env = \"{wrong}\"\n"))).await;
        assert_eq!(codes(&r), ["nats-auth-failed"], "{version}");
        assert!(!format!("{r:?}").contains("not-the-token"));

        // A variable that is not set: the gate could not check, which is not the server's fault.
        let r = probe(&params_for(&c, 0, "token_env = \"KGENTS_GATE_TEST_NATS_UNSET\"\n")).await;
        assert_eq!(r.first_gap().map(|u| u.code.as_str()), Some("credential-missing"));
    }
}

#[tokio::test]
async fn user_and_password_come_from_the_environment() {
    for version in VERSIONS {
        let password = random_hex(16);
        let c =
            cluster(version, true, NatsAuth::UserPassword { user: "agent".into(), password: password.clone() }).await;
        let suffix = version.replace('.', "_");
        let (user_var, pass_var) =
            (format!("KGENTS_GATE_TEST_NATS_USER_{suffix}"), format!("KGENTS_GATE_TEST_NATS_PW_{suffix}"));
        unsafe {
            std::env::set_var(&user_var, "agent");
            std::env::set_var(&pass_var, &password);
        }
        let extra = format!("user_env = \"{user_var}\"\npassword_env = \"{pass_var}\"\n");
        let r = probe(&params_for(&c, 2, &extra)).await;
        assert_pass(&r, version);
        assert!(!format!("{r:?}").contains(&password), "the password leaked into the report");

        let r = probe(&params_for(&c, 2, "")).await;
        assert_eq!(codes(&r), ["nats-auth-failed"], "{version}");
    }
}

#[tokio::test]
async fn a_closed_port_is_unreachable_within_the_timeout() {
    let port = free_port();
    let started = Instant::now();
    let r = probe(&format!(
        "url = \"nats://127.0.0.1:{port}\"\nmonitor_url = \"http://127.0.0.1:{port}\"\ntimeout = \"3s\"\n"
    ))
    .await;
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    assert_eq!(codes(&r)[0], "nats-unreachable", "{r:#?}");
    assert!(!codes(&r).contains(&"nats-timeout"));
    assert!(codes(&r).contains(&"nats-monitor-unhealthy"));
}

/// Accepts connections and never says a word (no NATS INFO).
async fn silent_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    port
}

#[tokio::test]
async fn a_silent_server_is_a_timeout_not_unreachable() {
    let c = NatsCluster::start(NatsOptions { nodes: 1, ..Default::default() }).await;
    let port = silent_listener().await;
    let started = Instant::now();
    let r = probe(&format!(
        "url = \"nats://127.0.0.1:{port}\"\nmonitor_url = \"{}\"\ntimeout = \"2s\"\ncluster_size = 1\n",
        c.monitor_url(0)
    ))
    .await;
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(9), "took {elapsed:?}");
    assert_eq!(codes(&r), ["nats-timeout"], "{r:#?}");
}

#[tokio::test]
async fn jetstream_disabled_is_a_finding() {
    for version in VERSIONS {
        let c = cluster(version, false, NatsAuth::None).await;
        let r = probe(&params_for(&c, 0, "")).await;
        assert_eq!(codes(&r), ["nats-jetstream-disabled"], "{version}: {r:#?}");
        assert_eq!(fact(&r, "jetstream"), Some("disabled"));
        // Not required: the same cluster passes.
        assert_pass(&probe(&params_for(&c, 0, "jetstream = false\n")).await, version);
    }
}

/// Serves `body` with 200 to every request; returns the URL.
async fn serve_metrics(body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(format!("{head}{body}").as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/metrics")
}

#[tokio::test]
async fn the_exporter_must_serve_nats_metrics() {
    let c = NatsCluster::start(NatsOptions { nodes: 1, ..Default::default() }).await;
    let base = params_for(&c, 0, "cluster_size = 1\n");
    let exporter = serve_metrics("# TYPE gnatsd_varz_connections gauge\ngnatsd_varz_connections 1\n").await;
    let r = probe(&format!("{base}exporter_url = \"{exporter}\"\n")).await;
    assert_pass(&r, "a NATS exporter");
    assert_eq!(fact(&r, "exporter_nats_metrics"), Some("1"));

    let other = serve_metrics("# TYPE go_goroutines gauge\ngo_goroutines 12\n").await;
    let r = probe(&format!("{base}exporter_url = \"{other}\"\n")).await;
    assert_eq!(codes(&r), ["nats-exporter-missing"], "{r:#?}");

    // The monitoring port is not an exporter.
    let r = probe(&format!("{base}exporter_url = \"{}/varz\"\n", c.monitor_url(0))).await;
    assert_eq!(codes(&r), ["nats-exporter-missing"], "{r:#?}");

    let r = probe(&format!("{base}exporter_url = \"http://127.0.0.1:{}/metrics\"\n", free_port())).await;
    assert_eq!(codes(&r), ["nats-exporter-missing"], "{r:#?}");
}

#[tokio::test]
async fn an_unhealthy_monitor_is_a_finding() {
    let c = NatsCluster::start(NatsOptions { nodes: 1, ..Default::default() }).await;
    let bad = serve_metrics("not json").await.replace("/metrics", "");
    let r = probe(&format!("url = \"{}\"\nmonitor_url = \"{bad}\"\ncluster_size = 1\n", c.client_url(0))).await;
    assert_eq!(codes(&r), ["nats-monitor-unhealthy"], "{r:#?}");
    assert_pass(&probe(&params_for(&c, 0, "cluster_size = 1\n")).await, "a standalone server");
}

/// A standalone server whose only user may not publish on the probe's subjects.
fn start_restricted(password: &str) -> (ServerProcess, ScratchDir, u16, u16) {
    let binary = require_binary(&cache_dir().join(format!("nats-{NATS_PRODUCTION}/bin/nats-server")), "nats-server");
    let dir = ScratchDir::new("nats-restricted");
    let (port, monitor) = (free_port(), free_port());
    let config = dir.path().join("n.conf");
    std::fs::write(
        &config,
        format!(
            "listen: \"127.0.0.1:{port}\"\nhttp: \"127.0.0.1:{monitor}\"\nauthorization {{ users = [ {{ user: \"agent\", \
             password: \"{password}\", permissions: {{ publish: {{ deny: [\"_kgents_gate.>\"] }} }} }} ] }}\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(binary);
    cmd.arg("-c").arg(&config);
    let process = ServerProcess::spawn("nats-server restricted", cmd, &dir.path().join("n.log"));
    (process, dir, port, monitor)
}

#[tokio::test]
async fn a_round_trip_that_never_returns_is_a_finding() {
    let password = random_hex(12);
    let (_server, _dir, port, monitor) = start_restricted(&password);
    eventually("the restricted server", Duration::from_secs(10), || async {
        support::http_get(&format!("http://127.0.0.1:{monitor}/healthz")).await.map(|_| ())
    })
    .await;
    unsafe {
        std::env::set_var("KGENTS_GATE_TEST_NATS_R_USER", "agent");
        std::env::set_var("KGENTS_GATE_TEST_NATS_R_PW", &password);
    }
    let r = probe(&format!(
        "url = \"nats://127.0.0.1:{port}\"\nmonitor_url = \"http://127.0.0.1:{monitor}\"\ncluster_size = 1\n\
         jetstream = false\ntimeout = \"2s\"\nuser_env = \"KGENTS_GATE_TEST_NATS_R_USER\"\n\
         password_env = \"KGENTS_GATE_TEST_NATS_R_PW\"\n"
    ))
    .await;
    assert_eq!(codes(&r), ["nats-roundtrip-failed"], "{r:#?}");
    assert!(!format!("{r:?}").contains(&password));
}

#[tokio::test]
async fn offline_is_unverified() {
    let mut ctx = ProbeContext::standalone(".", Duration::from_secs(5));
    ctx.offline = true;
    let r = spec("url = \"nats://127.0.0.1:4222\"\nmonitor_url = \"http://127.0.0.1:8222\"\n").run(&ctx).await;
    assert_eq!(r.first_gap().map(|u| u.code.as_str()), Some("offline"));
    assert!(r.findings().is_empty());
}

fn write_workspace(dir: &Path, c: &NatsCluster) {
    std::fs::create_dir(dir.join("checks")).unwrap();
    std::fs::write(dir.join("checks/nats.toml"), include_str!("../checks/nats.toml")).unwrap();
    let checklist = format!(
        "[launch]\nname = \"nats audit\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"messaging\"\n\
         title = \"Messaging\"\n\n[[item]]\nid = \"messaging.nats\"\ncategory = \"messaging\"\ntitle = \"NATS\"\n\
         check = \"nats.cluster\"\nseverity = \"blocking\"\nowner = \"platform\"\n[item.with]\n{}",
        params_for(c, 0, "max_rtt = \"1s\"\n")
    );
    std::fs::write(dir.join("checklist.toml"), checklist).unwrap();
}

#[tokio::test]
async fn an_audit_with_a_healthy_cluster_exits_0() {
    let c = cluster(NATS_PRODUCTION, true, NatsAuth::None).await;
    let dir = tempfile::tempdir().unwrap();
    write_workspace(dir.path(), &c);
    let out = Command::new(env!("CARGO_BIN_EXE_kgents-gate"))
        .args(["audit", "--out-dir", "out", "--format", "json"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/kgents-gate-report.json")).unwrap())
            .unwrap();
    let text = report.to_string();
    assert!(text.contains("\"messaging.nats\"") && text.contains("\"pass\""), "{text}");
    assert!(text.contains(NATS_PRODUCTION), "the version is in the evidence: {text}");
}

/// A definite finding and a part that could not be checked are both kept: the version is too
/// old, and the monitoring endpoint is closed.
#[tokio::test]
async fn a_finding_and_a_gap_are_both_reported() {
    let c = NatsCluster::start(NatsOptions { nodes: 1, ..NatsOptions::default() }).await;
    let closed = free_port();
    let r = probe(&format!(
        "url = \"{}\"\nmonitor_url = \"http://127.0.0.1:{closed}\"\ntimeout = \"5s\"\nmin_version = \"99.0.0\"\ncluster_size = 1\n",
        c.client_url(0)
    ))
    .await;
    assert!(codes(&r).contains(&"nats-version-too-old"), "{r:#?}");
    assert!(!r.gaps().is_empty(), "the unchecked parts stay: {r:#?}");
}
