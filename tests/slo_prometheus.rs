//! The `prometheus-slo` check against a real Prometheus (tests/support) scraping a test exporter
//! on 127.0.0.1 every second, whose counters and histograms grow at set rates so that `rate()` and
//! `histogram_quantile()` give known values: objectives met, warned and violated, a range
//! lookback, samples, no traffic, a typo'd metric, two series without `aggregate`, NaN from 0/0,
//! an execution error, Prometheus stopped, and a regression against a baseline report (through the
//! command line, with `diff`).

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kgents_gate::outcome::{Level, MeasurementStatus, ProbeReport};
use kgents_gate::probe::{ProbeContext, ProbeKind, ProbeSpec};
use support::{Exporter, Prometheus, PrometheusOptions};

/// One Prometheus for the whole binary, scraping one exporter.
struct World {
    /// Serving for as long as the binary runs.
    _exporter: Exporter,
    prometheus: Prometheus,
}

/// Buckets of a fast API: half the requests within 100 ms, 90 % within 250 ms: p95 = 0.375 s.
const FAST: &[(f64, f64)] = &[(0.1, 0.5), (0.25, 0.9), (0.5, 1.0)];
/// A slow one: p95 = 0.5 + 0.5 * (0.95 - 0.8) / 0.2 = 0.875 s.
const SLOW: &[(f64, f64)] = &[(0.25, 0.5), (0.5, 0.8), (1.0, 1.0)];

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let exporter = Exporter::start();
        let api = [("service", "kgents-api")];
        exporter.histogram("http_request_duration_seconds", &api, 200.0, FAST);
        exporter.histogram("http_request_duration_seconds", &[("service", "slow")], 50.0, SLOW);
        exporter.counter("http_requests_total", &[("service", "kgents-api"), ("code", "200")], 199.0);
        exporter.counter("http_requests_total", &[("service", "kgents-api"), ("code", "500")], 1.0);
        // A service without traffic: its counters exist and stand still.
        exporter.counter("http_requests_total", &[("service", "idle"), ("code", "200")], 0.0);
        exporter.counter("http_requests_total", &[("service", "idle"), ("code", "500")], 0.0);
        let scrape = exporter.scrape_config("kgents-api", "1s");
        let prometheus = support::run_blocking(async move {
            let p = Prometheus::start(PrometheusOptions { scrape_configs: Some(scrape), ..Default::default() }).await;
            // Rates are known once two scrapes fall in the window.
            p.wait_for_value(
                r#"sum(rate(http_requests_total{service="kgents-api"}[5s]))"#,
                Duration::from_secs(30),
                |v| (v - 200.0).abs() < 5.0,
            )
            .await;
            p
        });
        World { _exporter: exporter, prometheus }
    })
}

fn spec(url: &str, body: &str) -> ProbeSpec {
    let t: toml::Table = toml::from_str(&format!("prometheus_url = \"{url}\"\n{body}")).unwrap();
    ProbeSpec::parse(ProbeKind::PrometheusSlo, &t).unwrap()
}

async fn run(url: &str, body: &str) -> ProbeReport {
    spec(url, body).run(&ProbeContext::standalone(".", Duration::from_secs(20))).await
}

fn findings(r: &ProbeReport) -> Vec<(String, String, Level)> {
    r.findings()
        .iter()
        .map(|f| (f.target.clone().unwrap_or_default().replace("objective ", ""), f.code.clone(), f.level))
        .collect()
}

fn fact(r: &ProbeReport, objective: &str, name: &str) -> String {
    let f = r.findings().iter().find(|f| f.target.as_deref() == Some(&format!("objective {objective}")));
    f.and_then(|f| f.evidence.iter().find(|e| e.name == name)).map(|e| e.value.clone()).unwrap_or_default()
}

fn value(r: &ProbeReport, objective: &str) -> f64 {
    r.measurements.iter().find(|m| m.name == objective).map(|m| m.value).unwrap_or(f64::NAN)
}

const P95: &str =
    r#"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service=\"kgents-api\"}[5s])))"#;
const ERRORS: &str = r#"sum(rate(http_requests_total{service=\"kgents-api\",code=~\"5..\"}[5s])) / sum(rate(http_requests_total{service=\"kgents-api\"}[5s]))"#;
const RPS: &str = r#"sum(rate(http_requests_total{service=\"kgents-api\"}[5s]))"#;

#[tokio::test]
async fn objectives_that_hold_pass_with_their_values_recorded() {
    let w = world();
    let r = run(
        w.prometheus.url(),
        &format!(
            r#"objectives = [
  {{ name = "p95", query = "{P95}", max = 0.5 }},
  {{ name = "errors", query = "{ERRORS}", max = 0.01 }},
  {{ name = "rps", query = "{RPS}", min = 100 }},
  {{ name = "up", query = "up{{job=\"kgents-api\"}}", min = 1, lookback = "3s" }},
]"#
        ),
    )
    .await;
    assert!(r.gaps().is_empty(), "{r:#?}");
    assert!(findings(&r).iter().all(|(_, c, l)| c == "slo-met" && *l == Level::Info), "{r:#?}");
    let (p95, errors, rps) = (value(&r, "p95"), value(&r, "errors"), value(&r, "rps"));
    assert!((0.36..0.39).contains(&p95), "p95 {p95}");
    assert!((0.004..0.006).contains(&errors), "error rate {errors}");
    assert!((190.0..210.0).contains(&rps), "rps {rps}");
    assert_eq!(value(&r, "up"), 1.0);
    // The evidence: query, value, threshold, evaluation time, series.
    assert!(fact(&r, "p95", "query").starts_with("histogram_quantile(0.95"), "{r:#?}");
    assert_eq!(fact(&r, "p95", "threshold"), "<= 0.5");
    assert_eq!(fact(&r, "p95", "series"), "{}");
    assert!(fact(&r, "up", "series").contains(r#"job="kgents-api""#), "{r:#?}");
    assert!(fact(&r, "up", "points").starts_with(|c: char| c.is_ascii_digit()), "a range: {r:#?}");
    let at: jiff::Timestamp = fact(&r, "rps", "at").parse().unwrap();
    assert!(jiff::Timestamp::now().duration_since(at).as_secs() < 30, "evaluated now: {at}");
    let m = r.measurements.iter().find(|m| m.name == "p95").unwrap();
    assert_eq!((m.status, m.threshold.as_str()), (MeasurementStatus::Met, "<= 0.5"));
}

#[tokio::test]
async fn warned_and_violated_objectives() {
    let w = world();
    let slow = P95.replace("kgents-api", "slow");
    let r = run(
        w.prometheus.url(),
        &format!(
            r#"objectives = [
  {{ name = "p95-warned", query = "{P95}", max = 0.5, warn_max = 0.3 }},
  {{ name = "rps-low", query = "{RPS}", min = 500, key = false }},
  {{ name = "slow-p95", query = "{slow}", max = 0.5 }},
]"#
        ),
    )
    .await;
    assert_eq!(
        findings(&r),
        [
            ("p95-warned".into(), "slo-warning".into(), Level::Warning),
            ("rps-low".into(), "slo-violated".into(), Level::Warning),
            ("slow-p95".into(), "slo-violated".into(), Level::Error),
        ],
        "{r:#?}"
    );
    let slow_p95 = value(&r, "slow-p95");
    assert!((0.85..0.9).contains(&slow_p95), "slow p95 {slow_p95}");
    assert!(r.findings()[2].message.contains("above the maximum 0.5"), "{r:#?}");
    assert_eq!(
        r.measurements.iter().map(|m| m.status).collect::<Vec<_>>(),
        [MeasurementStatus::Warning, MeasurementStatus::Violated, MeasurementStatus::Violated]
    );
}

#[tokio::test]
async fn what_gives_no_number_is_unverified_never_a_pass() {
    let w = world();
    let ghost = RPS.replace("kgents-api", "ghost");
    let nan = ERRORS.replace("kgents-api", "idle");
    let typo = RPS.replace("http_requests_total", "http_request_totl");
    let two = r#"rate(http_requests_total{service=\"kgents-api\"}[5s])"#;
    let join = r#"(label_replace(vector(1),\"a\",\"1\",\"\",\"\") or label_replace(vector(1),\"a\",\"2\",\"\",\"\")) * on() vector(1)"#;
    let r = run(
        w.prometheus.url(),
        &format!(
            r#"objectives = [
  {{ name = "no-traffic", query = "{ghost}", min = 1 }},
  {{ name = "typo", query = "{typo}", min = 1 }},
  {{ name = "two-series", query = "{two}", max = 1000 }},
  {{ name = "nan", query = "{nan}", max = 0.01 }},
  {{ name = "execution-error", query = "{join}", max = 1 }},
]"#
        ),
    )
    .await;
    assert!(r.findings().is_empty() && r.measurements.is_empty(), "{r:#?}");
    let gaps: Vec<(&str, &str)> = r.gaps().iter().map(|g| (g.code.as_str(), g.reason.as_str())).collect();
    let codes: Vec<&str> = gaps.iter().map(|g| g.0).collect();
    assert_eq!(
        codes,
        ["slo-no-data", "slo-no-data", "slo-ambiguous-result", "slo-no-data", "slo-query-error"],
        "{gaps:#?}"
    );
    assert!(gaps[0].1.contains("its metrics exist; no series matches now"), "{}", gaps[0].1);
    assert!(gaps[1].1.contains("no metric `http_request_totl` (did you mean `http_requests_total`?)"), "{}", gaps[1].1);
    assert!(gaps[2].1.contains(r#"2 series ({code="200","#), "{}", gaps[2].1);
    assert!(gaps[3].1.contains("NaN"), "{}", gaps[3].1);
    assert!(gaps[4].1.contains("execution"), "{}", gaps[4].1);
    assert!(gaps.iter().all(|g| g.1.contains("; query: ")), "every gap names its query: {gaps:#?}");
}

#[tokio::test]
async fn every_sample_is_taken_interval_apart() {
    let w = world();
    let t0 = Instant::now();
    let r = run(
        w.prometheus.url(),
        &format!("samples = 3\ninterval = \"1s\"\nobjectives = [{{ name = \"rps\", query = \"{RPS}\", min = 100 }}]"),
    )
    .await;
    assert!(t0.elapsed() >= Duration::from_secs(2), "{:?}", t0.elapsed());
    let m = &r.measurements[0];
    assert_eq!(m.samples.len(), 3, "{r:#?}");
    assert!(m.samples.iter().all(|v| (190.0..210.0).contains(v)), "{m:?}");
    assert_eq!(m.value, m.samples.iter().copied().fold(f64::INFINITY, f64::min), "the worst sample decides a minimum");
}

#[tokio::test]
async fn prometheus_stopped_is_unverified() {
    let mut p = Prometheus::start(PrometheusOptions::default()).await;
    let url = p.url().to_string();
    p.stop();
    let r = run(&url, &format!("objectives = [{{ name = \"rps\", query = \"{RPS}\", min = 100 }}]")).await;
    assert!(r.findings().is_empty(), "{r:#?}");
    let gap = r.first_gap().expect("unverified");
    assert_eq!(gap.code, "unreachable", "{gap:?}");
    assert!(gap.reason.contains(&url), "{gap:?}");
}

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

fn checklist(url: &str, service: &str) -> String {
    let p95 = P95.replace("kgents-api", service);
    format!(
        r#"[launch]
name = "slo"
approvers = ["ops"]
[[category]]
id = "slo"
title = "SLOs"
[[item]]
id = "slo.api"
category = "slo"
title = "API objectives"
check = "slo.objectives"
[item.with]
prometheus_url = "{url}"
objectives = [
  {{ name = "p95", query = "{p95}", max = 1.0, max_regression = "10%" }},
  {{ name = "rps", query = "{RPS}", min = 100, max_regression = "10%", key = false }},
]
"#
    )
}

fn audit(dir: &Path, out: &str, extra: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(BIN)
        .args(["audit", "--format", "terminal,markdown,json,junit", "--out-dir", out])
        .args(extra)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
}

fn item(dir: &Path, out: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(out).join("kgents-gate-report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    report["items"][0].clone()
}

/// The first audit records the values; the second, against a slower service, compares with them
/// through `--baseline`, and `diff` shows the change per objective.
#[tokio::test]
async fn a_regression_against_the_baseline_report() {
    let url = world().prometheus.url().to_string();
    let ws = tempfile::tempdir().unwrap();
    let dir = ws.path().to_path_buf();
    std::fs::write(dir.join("checklist.toml"), checklist(&url, "kgents-api")).unwrap();
    let (code, out) = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || audit(&dir, "old", &[])
    })
    .await
    .unwrap();
    // No baseline yet: the regressions are unverified, never a pass.
    assert_eq!(code, Some(3), "{out}");
    let old = item(&dir, "old");
    assert_eq!(old["code"], "slo-baseline-missing", "{old:#}");
    let recorded: Vec<&str> =
        old["measurements"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(recorded, ["p95", "rps"], "{old:#}");
    assert!(out.contains("measured:") && out.contains("p95 0.3"), "the terminal shows the values: {out}");
    let md = std::fs::read_to_string(dir.join("old/kgents-gate-report.md")).unwrap();
    assert!(md.contains("| Objective | Value | Threshold |") && md.contains("| p95 | 0.3"), "{md}");
    let junit = std::fs::read_to_string(dir.join("old/kgents-gate-report.xml")).unwrap();
    assert!(junit.contains("measured:"), "{junit}");

    std::fs::write(dir.join("checklist.toml"), checklist(&url, "slow")).unwrap();
    let (code, out) = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || audit(&dir, "new", &["--baseline", "old/kgents-gate-report.json"])
    })
    .await
    .unwrap();
    assert_eq!(code, Some(1), "a key objective regressed: {out}");
    let new = item(&dir, "new");
    assert_eq!(new["code"], "slo-regressed", "{new:#}");
    let p95 = &new["measurements"][0];
    assert_eq!(p95["status"], "met", "within its maximum of 1, yet regressed: {new:#}");
    assert!(p95["baseline"].as_f64().is_some_and(|b| (0.36..0.39).contains(&b)), "{new:#}");
    let messages: Vec<&str> =
        new["findings"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert!(messages.iter().any(|m| m.starts_with("`p95` regressed from 0.3")), "{messages:?}");

    let diff = Command::new(BIN)
        .args(["diff", "old/kgents-gate-report.json", "new/kgents-gate-report.json"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&diff.stdout);
    assert_eq!(diff.status.code(), Some(1), "a new blocking failure: {text}");
    let line = text.lines().find(|l| l.contains("slo.api  p95:")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(" met -> 0.8") && line.contains("(+1"), "{line}");
    assert!(text.contains("Measurements ("), "{text}");
}
