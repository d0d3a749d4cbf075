//! Unit tests of the "can it fire" judgement on hand-made answers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::outcome::{Finding, Level, Unverified};
use crate::prometheus::PromApiError;
use crate::prometheus::scrape::ScrapeIntervals;
use crate::rules::fire::{Exposed, FireInput, FiringRule, Labels, LiveFire, SeriesSeen, judge_fire};

fn rule(alert: &str, expr: &str, for_secs: u64) -> FiringRule {
    FiringRule {
        alert: alert.into(),
        expr: expr.into(),
        for_duration: Some(Duration::from_secs(for_secs)),
        target: format!("alert {alert}"),
        loaded: true,
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn live(series: Vec<(&str, Result<SeriesSeen, PromApiError>)>, names: &[&str]) -> LiveFire {
    LiveFire {
        now: "2026-01-01T12:00:00Z".parse().unwrap(),
        lookback: Duration::from_secs(86_400),
        series: series.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        metric_names: Some(names.iter().map(|n| n.to_string()).collect()),
    }
}

fn run(
    rules: &[FiringRule],
    exposed: &[Exposed],
    live: Option<&LiveFire>,
    intervals: Option<&ScrapeIntervals>,
) -> (Vec<Finding>, Vec<Unverified>) {
    judge_fire(FireInput {
        rules,
        recorded: &BTreeSet::from(["job:errors:rate5m".to_string()]),
        exposed,
        live,
        intervals,
        retention: Some(Duration::from_secs(15 * 86_400)),
    })
}

fn codes(f: &[Finding]) -> Vec<(&str, Level)> {
    f.iter().map(|f| (f.code.as_str(), f.level)).collect()
}

#[test]
fn metrics_no_exporter_exposes_name_the_closest() {
    let exposed = [Exposed {
        source: "exporters/nats.prom".into(),
        job: Some("nats".into()),
        names: BTreeSet::from(["nats_varz_slow_consumers".to_string(), "nats_varz_connections".to_string()]),
    }];
    let rules = [
        rule("NatsSlowConsumers", "increase(gnatsd_varz_slow_consumers[5m]) > 0", 300),
        rule("Fine", "nats_varz_connections > 1000 and on() job:errors:rate5m > 0 and up == 1", 300),
        rule("Absent", "absent(some_other_metric)", 300),
        rule("Unknown", "kgents_nothing_like_it_total > 0", 300),
    ];
    let (f, g) = run(&rules, &exposed, None, None);
    assert!(g.is_empty());
    assert_eq!(codes(&f), [("rule-metric-not-exported", Level::Error), ("rule-metric-not-exported", Level::Error)]);
    assert_eq!(
        f[0].message,
        "alert NatsSlowConsumers reads `gnatsd_varz_slow_consumers`, which no exporter exposes; the closest exported name is `nats_varz_slow_consumers`"
    );
    assert_eq!(
        f[1].message,
        "alert Unknown reads `kgents_nothing_like_it_total`, which none of the exporters exposes (exporters/nats.prom)"
    );
}

#[test]
fn series_missing_now_or_ever_and_the_label_that_selects_nothing() {
    let rules = [
        rule("WrongJob", r#"nats_varz_slow_consumers{job="nats"} > 0"#, 300),
        rule("Typo", "rate(http_requests_totl[5m]) > 1", 300),
        rule("Stopped", "kgents_stripe_webhook_failures_total > 0", 300),
        rule("Fine", "http_requests_total > 0", 300),
        rule("Broken", "broken_metric > 0", 300),
    ];
    let exporter = labels(&[("__name__", "nats_varz_slow_consumers"), ("job", "nats-exporter")]);
    let now_series = vec![labels(&[("__name__", "http_requests_total"), ("job", "api")])];
    let l = live(
        vec![
            (
                r#"nats_varz_slow_consumers{job="nats"}"#,
                Ok(SeriesSeen { metric_series: vec![exporter], ..Default::default() }),
            ),
            ("http_requests_totl", Ok(SeriesSeen::default())),
            (
                "kgents_stripe_webhook_failures_total",
                Ok(SeriesSeen {
                    lookback: vec![labels(&[("job", "billing")])],
                    last_seen: Some("2026-01-01T11:30:00Z".parse().unwrap()),
                    ..Default::default()
                }),
            ),
            (
                "http_requests_total",
                Ok(SeriesSeen { lookback: now_series.clone(), now: now_series, ..Default::default() }),
            ),
            (
                "broken_metric",
                Err(PromApiError::Unreachable { url: "http://p/api/v1/series".into(), reason: "refused".into() }),
            ),
        ],
        &["http_requests_total", "nats_varz_slow_consumers"],
    );
    let (f, g) = run(&rules, &[], Some(&l), None);
    assert_eq!(
        codes(&f),
        [
            ("alert-series-missing", Level::Error),
            ("alert-series-missing", Level::Error),
            ("alert-series-missing", Level::Warning)
        ]
    );
    assert!(
        f[0].message.ends_with(r#"metric `nats_varz_slow_consumers` exists, but no series has `job="nats"` (they have job="nats-exporter")"#),
        "{}",
        f[0].message
    );
    assert!(
        f[0].message.starts_with(
            "alert WrongJob can never fire: no series of `nats_varz_slow_consumers{job=\"nats\"}` in the last 1d"
        ),
        "{}",
        f[0].message
    );
    assert!(
        f[1].message.ends_with("Prometheus has no metric `http_requests_totl` (did you mean `http_requests_total`?)"),
        "{}",
        f[1].message
    );
    assert!(f[2].message.contains("no series now (last seen at 2026-01-01T11:30:00Z (30m ago))"), "{}", f[2].message);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].code, "unreachable");
    assert!(g[0].reason.contains("alert Broken: whether series of `broken_metric` exist was not checked"), "{g:?}");
    // A rule Prometheus has not loaded is not looked for there.
    let mut unloaded = rules[1].clone();
    unloaded.loaded = false;
    assert!(run(&[unloaded], &[], Some(&l), None).0.is_empty());
}

#[test]
fn windows_and_for_against_the_scrape_interval_and_ranges_against_the_retention() {
    let intervals = ScrapeIntervals {
        jobs: BTreeMap::from([
            ("slow".to_string(), Duration::from_secs(60)),
            ("fast".to_string(), Duration::from_secs(15)),
        ]),
        origin: "prometheus.yml".into(),
    };
    let rules = [
        rule("Short", r#"rate(x_total{job="slow"}[30s]) > 0"#, 30),
        rule("Tight", r#"increase(x_total{job="slow"}[90s]) > 0"#, 300),
        rule("Fine", r#"rate(x_total{job="slow"}[2m]) > 0"#, 300),
        rule("FastFine", r#"irate(x_total{job="fast"}[30s]) > 0"#, 15),
        rule("Unknown", "rate(y_total[30s]) > 0", 1),
        rule("Long", r#"increase(x_total{job="fast"}[30d]) > 0"#, 300),
    ];
    let (f, _) = run(&rules, &[], None, Some(&intervals));
    let got: Vec<(&str, &str, Level)> =
        f.iter().map(|f| (f.target.as_deref().unwrap_or(""), f.code.as_str(), f.level)).collect();
    assert_eq!(
        got,
        [
            ("alert Short", "rule-rate-window-short", Level::Error),
            ("alert Short", "alert-for-shorter-than-scrape", Level::Warning),
            ("alert Tight", "rule-rate-window-short", Level::Warning),
            ("alert Long", "rule-range-beyond-retention", Level::Warning),
        ]
    );
    assert!(
        f[0].message.contains("rate(`x_total{job=\"slow\"}`[30s]), a window shorter than twice the scrape interval 1m"),
        "{}",
        f[0].message
    );
    assert!(f[1].message.contains("`for: 30s`, shorter than the scrape interval 1m"), "{}", f[1].message);
    // The job comes from the exporter exposing the metric when the selector names none.
    let exposed =
        [Exposed { source: "e".into(), job: Some("slow".into()), names: BTreeSet::from(["y_total".to_string()]) }];
    let (f, _) = run(&rules[4..5], &exposed, None, Some(&intervals));
    assert_eq!(
        codes(&f),
        [("rule-rate-window-short", Level::Error), ("alert-for-shorter-than-scrape", Level::Warning)]
    );
}

#[test]
fn the_can_fire_parameters_are_read_and_checked() {
    use crate::probe::params::read_for_test;
    use crate::rules::fire_params::{ExporterAt, PodPort};
    use crate::rules::params::AlertRulesParams;
    let p = read_for_test(
        r#"prometheus_url = "http://p:9090"
can_fire = "all"
series_lookback = "6h"
exporters = [{ url = "http://nats:7777/metrics", job = "nats" }, { file = "scrapes/api.prom" }]
exporter_pods = [{ namespace = "a", selector = { app = "nats" }, port = "prom-metrics" }, { namespace = "b", selector = { app = "x" }, port = 9102, path = "/m" }]
scrape_config = { namespace = "obs", name = "prometheus-config" }"#,
        AlertRulesParams::read,
    )
    .unwrap();
    let f = &p.fire;
    assert_eq!((f.scope, f.lookback), (crate::rules::fire::CanFire::All, Duration::from_secs(6 * 3600)));
    assert!(matches!(&f.exporters[0].at, ExporterAt::Url(u) if u.to_string().contains("nats:7777")));
    assert_eq!(f.exporters[1].at, ExporterAt::File("scrapes/api.prom".into()));
    assert_eq!((&f.pods[0].port, f.pods[0].path.as_str()), (&PodPort::Name("prom-metrics".into()), "/metrics"));
    assert_eq!((&f.pods[1].port, f.pods[1].path.as_str()), (&PodPort::Number(9102), "/m"));
    assert_eq!(f.scrape_config.as_ref().map(|c| c.key.as_str()), Some("prometheus.yml"));

    let errs = read_for_test(
        r#"prometheus_url = "http://p:9090"
can_fire = "some"
exporters = [{ url = "http://n/metrics", file = "x" }, { url = "ftp://n" }, { job = "a" }]
exporter_pods = [{ namespace = "a", selector = { app = "n" } }, { namespace = "a", port = 0, path = "m" }]
scrape_config = { name = "p", keys = "x" }"#,
        AlertRulesParams::read,
    )
    .unwrap_err();
    let got: Vec<String> = errs
        .iter()
        .map(|e| format!("{}: {}", e.path.clone().or(e.key.clone()).unwrap_or_default(), e.message))
        .collect();
    let text = got.join("\n");
    for want in [
        "can_fire: `can_fire` must be \"expected\", \"all\" or \"none\", found \"some\"",
        "exporters[0]: `exporters[0]` needs exactly one of `url` or `file`",
        "exporters[1].url: `exporters[1].url`",
        "exporters[2]: `exporters[2]` needs exactly one of `url` or `file`",
        "exporter_pods[0].port: `exporter_pods[0]` needs `port`",
        "exporter_pods[1]: `exporter_pods[1]` needs `selector`",
        "exporter_pods[1].path: `exporter_pods[1].path` must start with `/`",
        "scrape_config.namespace: `scrape_config` needs `namespace`",
        "scrape_config.keys: unknown key `keys` in `scrape_config`",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}
