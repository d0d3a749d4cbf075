//! Whether alert rules can fire, against a real Prometheus (tests/support) that loads the rules
//! and scrapes a test exporter on 127.0.0.1: a rule on an existing series passes; a typo'd
//! metric, a wrong job label, a metric that stopped being scraped, a 30 s rate window and a 30 s
//! `for` on a 60 s scrape, the gnatsd/nats prefix (in Prometheus and against the exporter), and
//! Prometheus down (unverified). The kgents example's 8 alerts read series its exporters expose,
//! offline (the saved scrapes) and in a Prometheus scraping them.

mod support;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use kgents_gate::outcome::{Level, ProbeReport};
use kgents_gate::probe::{ProbeContext, ProbeKind, ProbeSpec};
use support::{Exporter, Prometheus, PrometheusOptions};

const RULES: &str = r#"
groups:
- name: fire
  rules:
  - alert: ExistingSeries
    expr: increase(nats_varz_slow_consumers{job="nats"}[5s]) > 0
    for: 5s
    labels: {severity: warning}
  - alert: TypoMetric
    expr: rate(kgents_openmeter_events_ingestd_total[5s]) == 0
    for: 5s
    labels: {severity: critical}
  - alert: WrongJob
    expr: nats_varz_slow_consumers{job="nats-exporter"} > 0
    for: 5s
    labels: {severity: warning}
  - alert: StoppedMetric
    expr: rate(kgents_stripe_webhook_failures_total[5s]) > 0
    for: 5s
    labels: {severity: critical}
  - alert: ShortWindow
    expr: rate(kgents_openmeter_events_ingested_total{job="slow"}[30s]) == 0
    for: 30s
    labels: {severity: critical}
  - alert: GnatsdPrefix
    expr: gnatsd_varz_slow_consumers > 0
    for: 5s
    labels: {severity: warning}
  - alert: NatsDown
    expr: absent(up{job="nats-cluster"})
    for: 5s
    labels: {severity: critical}
"#;

struct World {
    exporter: Exporter,
    /// The target of the job scraped every minute, serving for as long as the binary runs.
    _slow: Exporter,
    prometheus: Prometheus,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let exporter = Exporter::start();
        exporter.gauge("nats_varz_slow_consumers", &[("server_id", "n1")], 0.0);
        exporter.counter("kgents_openmeter_events_ingested_total", &[], 5.0);
        exporter.counter("kgents_stripe_webhook_failures_total", &[], 0.1);
        // Two jobs scrape the exporter every second; a third scrapes another one every minute
        // (when its first scrape comes is up to Prometheus, so nothing here waits for it).
        let slow = Exporter::start();
        slow.counter("kgents_openmeter_events_ingested_total", &[], 5.0);
        let scrape = [
            exporter.scrape_config("nats", "1s"),
            exporter.scrape_config("kgents", "1s"),
            slow.scrape_config("slow", "60s"),
        ]
        .concat();
        let stripe = "kgents_stripe_webhook_failures_total";
        let (prometheus, exporter) = support::run_blocking(async move {
            let p = Prometheus::start(PrometheusOptions {
                rule_files: vec![("fire.yml".into(), RULES.into())],
                scrape_configs: Some(scrape),
            })
            .await;
            p.wait_for_value(&format!("count({stripe})"), Duration::from_secs(30), |v| v >= 1.0).await;
            // The Stripe client stops exporting: its series go stale.
            exporter.remove(stripe);
            p.wait_for_value(&format!("count({stripe}) or vector(0)"), Duration::from_secs(30), |v| v == 0.0).await;
            tokio::time::sleep(Duration::from_secs(4)).await;
            (p, exporter)
        });
        World { exporter, _slow: slow, prometheus }
    })
}

fn spec(body: &str) -> ProbeSpec {
    let t: toml::Table = toml::from_str(body).unwrap();
    ProbeSpec::parse(ProbeKind::AlertRules, &t).unwrap()
}

async fn run(dir: &Path, body: &str) -> ProbeReport {
    spec(body).run(&ProbeContext::standalone(dir, Duration::from_secs(20))).await
}

/// (alert, code, level) of the can-fire findings.
fn fired(r: &ProbeReport) -> Vec<(String, String, Level)> {
    const CODES: &[&str] = &[
        "alert-series-missing",
        "rule-metric-not-exported",
        "rule-rate-window-short",
        "alert-for-shorter-than-scrape",
        "rule-range-beyond-retention",
    ];
    let mut out: Vec<(String, String, Level)> = r
        .findings()
        .iter()
        .filter(|f| CODES.contains(&f.code.as_str()))
        .map(|f| {
            let alert = f.target.as_deref().and_then(|t| t.rsplit("alert ").next()).unwrap_or("").to_string();
            (alert, f.code.clone(), f.level)
        })
        .collect();
    out.sort();
    out
}

fn message<'a>(r: &'a ProbeReport, alert: &str, code: &str) -> &'a str {
    r.findings()
        .iter()
        .find(|f| f.code == code && f.target.as_deref().is_some_and(|t| t.ends_with(&format!("alert {alert}"))))
        .map(|f| f.message.as_str())
        .unwrap_or_else(|| panic!("no {code} for {alert}: {r:#?}"))
}

#[tokio::test]
async fn alerts_that_cannot_fire_are_found_in_prometheus_and_against_the_exporter() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "prometheus_url = \"{}\"\ncan_fire = \"all\"\nseries_lookback = \"1h\"\nexporters = [{{ url = \"{}\", job = \"kgents\" }}]",
        w.prometheus.url(),
        w.exporter.url()
    );
    let r = run(dir.path(), &body).await;
    assert!(r.gaps().is_empty(), "{r:#?}");
    use Level::*;
    // Whether the minute job has been scraped yet is up to Prometheus: its series are not judged.
    let mut got = fired(&r);
    got.retain(|(a, c, _)| !(a == "ShortWindow" && c == "alert-series-missing"));
    let s = |a: &str, c: &str, l: Level| (a.to_string(), c.to_string(), l);
    assert_eq!(
        got,
        [
            s("GnatsdPrefix", "alert-series-missing", Error),
            s("GnatsdPrefix", "rule-metric-not-exported", Error),
            s("ShortWindow", "alert-for-shorter-than-scrape", Warning),
            s("ShortWindow", "rule-rate-window-short", Error),
            s("StoppedMetric", "alert-series-missing", Warning),
            s("StoppedMetric", "rule-metric-not-exported", Error),
            s("TypoMetric", "alert-series-missing", Error),
            s("TypoMetric", "rule-metric-not-exported", Error),
            s("WrongJob", "alert-series-missing", Error),
        ],
        "ExistingSeries and NatsDown (absent) can fire: {r:#?}"
    );
    let m = message(&r, "GnatsdPrefix", "alert-series-missing");
    assert!(
        m.ends_with("Prometheus has no metric `gnatsd_varz_slow_consumers` (did you mean `nats_varz_slow_consumers`?)"),
        "{m}"
    );
    let m = message(&r, "GnatsdPrefix", "rule-metric-not-exported");
    assert!(m.ends_with("the closest exported name is `nats_varz_slow_consumers`"), "{m}");
    let m = message(&r, "TypoMetric", "alert-series-missing");
    assert!(m.contains("(did you mean `kgents_openmeter_events_ingested_total`?)"), "{m}");
    let m = message(&r, "WrongJob", "alert-series-missing");
    assert!(m.contains(r#"metric `nats_varz_slow_consumers` exists, but no series has `job="nats-exporter"` (they have job="kgents", job="nats""#), "{m}");
    let m = message(&r, "StoppedMetric", "alert-series-missing");
    assert!(m.contains("which has no series now (last seen at "), "{m}");
    let m = message(&r, "ShortWindow", "rule-rate-window-short");
    assert!(m.contains("[30s]), a window shorter than twice the scrape interval 1m"), "{m}");
    // The exporter check knows the stripe metric is gone from the exporter too.
    let m = message(&r, "StoppedMetric", "rule-metric-not-exported");
    assert!(m.contains("`kgents_stripe_webhook_failures_total`"), "{m}");
}

#[tokio::test]
async fn only_the_expected_alerts_are_checked_by_default() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "prometheus_url = \"{}\"\nexpected = [{{ name = \"ExistingSeries\", severity = \"warning\" }}, {{ name = \"WrongJob\", severity = \"warning\" }}]",
        w.prometheus.url()
    );
    let r = run(dir.path(), &body).await;
    assert_eq!(fired(&r), [("WrongJob".to_string(), "alert-series-missing".to_string(), Level::Error)], "{r:#?}");
    let none = run(dir.path(), &format!("{body}\ncan_fire = \"none\"")).await;
    assert!(fired(&none).is_empty(), "{none:#?}");
}

#[tokio::test]
async fn prometheus_down_is_unverified_and_the_exporter_is_still_compared() {
    let mut p = Prometheus::start(PrometheusOptions::default()).await;
    let url = p.url().to_string();
    p.stop();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nats.prom"), "# TYPE nats_varz_slow_consumers gauge\nnats_varz_slow_consumers 0\n")
        .unwrap();
    let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"namespace": "obs", "name": "rules"}, "data": {"a.yml": RULES}});
    let mut view = kgents_gate::cluster::ClusterView::new(true);
    view.set(kgents_gate::cluster::Kind::ConfigMap, kgents_gate::cluster::KindData::Objects(vec![cm]));
    let mut ctx = ProbeContext::standalone(dir.path(), Duration::from_secs(20));
    ctx.view = Some(std::sync::Arc::new(view));
    let r = spec(&format!(
        "prometheus_url = \"{url}\"\nconfigmaps = [{{ namespace = \"obs\", name = \"rules\" }}]\ncan_fire = \"all\"\nexporters = [{{ file = \"nats.prom\" }}]"
    ))
    .run(&ctx)
    .await;
    let gap = r.first_gap().expect("Prometheus' part is unverified");
    assert_eq!(gap.code, "unreachable", "{r:#?}");
    assert!(!r.findings().iter().any(|f| f.code == "alert-series-missing"), "nothing is said about series: {r:#?}");
    let m = message(&r, "GnatsdPrefix", "rule-metric-not-exported");
    assert!(m.ends_with("`nats_varz_slow_consumers`"), "{m}");
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/kgents");
const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

/// The alert-rules item of an offline audit of the kgents example in `dir` (a copy of it).
fn example_audit(dir: &Path) -> serde_json::Value {
    let out = std::process::Command::new(BIN)
        .args(["audit", "--checklist", "checklist.toml", "--manifests", "manifests", "--offline", "--format", "json"])
        .args(["--only", "observability.alert-rules", "--out-dir", "out"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1 | 3)), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(dir.join("out/kgents-gate-report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    report["items"].as_array().unwrap().iter().find(|i| i["id"] == "observability.alert-rules").unwrap().clone()
}

fn copy_example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["manifests", "exporters"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        for f in std::fs::read_dir(Path::new(EXAMPLE).join(sub)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, dir.path().join(sub).join(f.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(Path::new(EXAMPLE).join("checklist.toml"), dir.path().join("checklist.toml")).unwrap();
    dir
}

fn codes_of(item: &serde_json::Value) -> Vec<String> {
    item["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap().to_string()).collect()
}

#[test]
fn the_kgents_examples_alerts_read_what_its_exporters_expose() {
    let ws = copy_example();
    let item = example_audit(ws.path());
    assert!(codes_of(&item).is_empty(), "{item:#}");
    let evidence = item["evidence"].to_string();
    assert!(evidence.contains(r#""alerts_checked_to_fire","value":"8""#), "{evidence}");
    // The only gaps are the running Prometheus and the NATS pods' metrics port, offline.
    let gaps: Vec<&str> = item["gaps"].as_array().unwrap().iter().map(|g| g["code"].as_str().unwrap()).collect();
    assert_eq!(gaps, ["offline", "offline"], "{item:#}");

    // The exporter as shipped by default (the gnatsd_ prefix): the NATS alert reads nothing.
    let nats = ws.path().join("exporters/nats-exporter.prom");
    let scrape = std::fs::read_to_string(&nats).unwrap();
    std::fs::write(&nats, scrape.replace("nats_varz_", "gnatsd_varz_")).unwrap();
    let item = example_audit(ws.path());
    assert_eq!(codes_of(&item), ["rule-metric-not-exported"], "{item:#}");
    let messages = item["findings"].to_string();
    assert!(messages.contains("the closest exported name is `gnatsd_varz_slow_consumers`"), "{messages}");
    // A scrape interval that the NATS alert's [5m] window does not suit.
    std::fs::write(&nats, scrape).unwrap();
    let manifests = ws.path().join("manifests/observability.yaml");
    let text = std::fs::read_to_string(&manifests).unwrap();
    std::fs::write(&manifests, text.replace("scrape_interval: 30s", "scrape_interval: 3m")).unwrap();
    let item = example_audit(ws.path());
    assert_eq!(codes_of(&item), ["rule-rate-window-short"], "{item:#}");
    assert!(item["findings"][0]["message"].as_str().unwrap().contains("NatsSlowConsumers uses increase("), "{item:#}");
}

#[tokio::test]
async fn the_kgents_examples_alerts_find_their_series_in_a_prometheus_scraping_its_exporters() {
    let observability = std::fs::read_to_string(Path::new(EXAMPLE).join("manifests/observability.yaml")).unwrap();
    let objects = kgents_gate::cluster::manifests::parse_objects(&observability, "observability.yaml").unwrap();
    let rules = objects
        .iter()
        .find_map(|o| o.pointer("/data/kgents-alerts.yml").and_then(|r| r.as_str()))
        .expect("the rule ConfigMap")
        .to_string();
    let mut exporters = Vec::new();
    let mut scrape = String::new();
    for (job, file) in [("nats", "nats-exporter.prom"), ("kgents-api", "kgents-api.prom"), ("billing", "billing.prom")]
    {
        let e = Exporter::start();
        e.raw(&std::fs::read_to_string(Path::new(EXAMPLE).join("exporters").join(file)).unwrap());
        scrape.push_str(&e.scrape_config(job, "1s"));
        exporters.push(e);
    }
    let p = Prometheus::start(PrometheusOptions {
        rule_files: vec![("kgents.yml".into(), rules)],
        scrape_configs: Some(scrape),
    })
    .await;
    p.wait_for_value("count(up == 1)", Duration::from_secs(30), |v| v == 3.0).await;
    let checklist = std::fs::read_to_string(Path::new(EXAMPLE).join("checklist.toml")).unwrap();
    let expected = checklist.split("expected = [").nth(1).and_then(|s| s.split(']').next()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &format!("prometheus_url = \"{}\"\nexpected = [{expected}]", p.url())).await;
    assert!(r.gaps().is_empty(), "{r:#?}");
    let series: Vec<&str> =
        r.findings().iter().filter(|f| f.code == "alert-series-missing").map(|f| f.message.as_str()).collect();
    assert!(series.is_empty(), "{series:#?}");
    assert!(r.evidence.iter().any(|e| e.name == "alerts_checked_to_fire" && e.value == "8"), "{r:#?}");
}
