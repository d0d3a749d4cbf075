//! Unit tests of the SLO parameters and the judgement, on Prometheus answers as the API writes them.

use serde_json::json;

use crate::outcome::{Level, MeasurementStatus, ProbeReport};
use crate::probe::params::{ParamError, read_for_test};
use crate::prometheus::PromApiError;
use crate::prometheus::api::QueryData;
use crate::slo::Baseline;
use crate::slo::judge::{BaselineInput, Sample, judge};
use crate::slo::params::{Aggregate, Bound, SloParams};

const URL: &str = "prometheus_url = \"http://127.0.0.1:9090\"\n";

fn params(objectives: &str, extra: &str) -> SloParams {
    read_for_test(&format!("{URL}{extra}\nobjectives = [{objectives}]"), SloParams::read).unwrap()
}

fn errors(src: &str) -> Vec<ParamError> {
    read_for_test(&format!("{URL}{src}"), SloParams::read).unwrap_err()
}

fn messages(src: &str) -> String {
    errors(src)
        .iter()
        .map(|e| format!("{:?}: {}", e.path.as_deref().or(e.key.as_deref()), e.message))
        .collect::<Vec<_>>()
        .join("\n")
}

fn vector(series: serde_json::Value) -> QueryData {
    serde_json::from_value(json!({"resultType": "vector", "result": series})).unwrap()
}

/// One series `{labels}` with `value` at 1700000000.
fn one(labels: serde_json::Value, value: &str) -> serde_json::Value {
    json!({"metric": labels, "value": [1700000000.0, value]})
}

fn sample(data: QueryData) -> Sample {
    Sample { at: "2023-11-14T22:13:20Z".parse().unwrap(), result: Ok(data) }
}

fn run(p: &SloParams, samples: Vec<Vec<Sample>>) -> ProbeReport {
    judge(p, "slo.api", &samples, BaselineInput::None, Some(&["http_requests_total".to_string()]))
}

fn codes(r: &ProbeReport) -> Vec<(String, Level)> {
    r.findings().iter().map(|f| (f.code.clone(), f.level)).collect()
}

fn gap_codes(r: &ProbeReport) -> Vec<&str> {
    r.gaps().iter().map(|g| g.code.as_str()).collect()
}

const P95: &str = r#"{ name = "p95", query = "histogram_quantile(0.95, sum by (le) (rate(x_bucket[1m])))", max = 0.5, warn_max = 0.4 }"#;

#[test]
fn parameters_are_read_with_their_defaults() {
    let p = params(
        &format!(
            "{P95}, {{ name = \"rps\", query = \"sum(rate(http_requests_total[1m]))\", min = 100, key = false, weight = 2 }},\
             {{ name = \"avail\", query = \"up\", range = [0.9, 1], aggregate = \"avg\" }}"
        ),
        "samples = 3\ninterval = \"2s\"\ntotal_score = { pass = \"90%\" }",
    );
    assert_eq!(p.objectives.len(), 3);
    assert_eq!(p.objectives[0].bound, Bound::Max(0.5));
    assert_eq!(p.objectives[0].warn_max, Some(0.4));
    assert!(p.objectives[0].key && p.objectives[0].weight == 1);
    assert_eq!((p.objectives[1].key, p.objectives[1].weight), (false, 2));
    assert_eq!(p.objectives[2].bound, Bound::Range(0.9, 1.0));
    assert_eq!(p.objectives[2].aggregate, Some(Aggregate::Avg));
    assert_eq!((p.samples, p.interval.as_secs()), (3, 2));
    let ts = p.total_score.unwrap();
    assert_eq!((ts.pass, ts.warn), (0.9, 0.75));
}

#[test]
fn bad_objectives_are_reported_at_their_entry() {
    let m = messages(
        r#"objectives = [
  { name = "a", query = "up" },
  { name = "b", query = "up", max = 1, min = 0 },
  { name = "c", query = "up", max = 1, warn_max = 2 },
  { name = "d", query = "up", min = 1, warn_max = 2 },
  { name = "e", query = "sum(", max = 1 },
  { name = "f", query = "up", max = 1, weight = 0, aggregate = "median" },
  { name = "g", query = "up", range = [1, 0] },
  { name = "h", query = "up", range = [0, 1], max_regression = "10%" },
  { name = "i", query = "up", max = 1, max_regression = 0.1, treshold = 1 },
  { name = "i", query = "up", max = 1 },
]
total_score = { pass = "70%", warn = "80%", fail = "1%" }
interval = "5s"
step = "1m"
"#,
    );
    for want in [
        r#"Some("objectives[0]"): `objectives[0]` needs exactly one of `max`, `min` or `range`"#,
        r#"Some("objectives[1]"): `objectives[1]` needs exactly one"#,
        r#"Some("objectives[2].warn_max"): `objectives[2].warn_max` = 2 must lie below the upper bound 1"#,
        r#"Some("objectives[3].warn_max"): `objectives[3].warn_max` warns before `max` is reached: it needs `max` or `range`"#,
        r#"Some("objectives[4].query"): `objectives[4].query` is not valid PromQL"#,
        r#"Some("objectives[5].weight"): `objectives[5].weight` must be 1 or more"#,
        r#"Some("objectives[5].aggregate"): `objectives[5].aggregate` must be max, min, avg or sum, found "median""#,
        r#"Some("objectives[6].range"): `objectives[6].range` must be [low, high] with low <= high"#,
        r#"Some("objectives[7].max_regression"): `objectives[7].max_regression` needs `max` or `min`"#,
        r#"Some("objectives[8].max_regression"): `objectives[8].max_regression` must be a percentage such as "10%""#,
        r#"Some("objectives[8].treshold"): unknown key `treshold` in `objectives[8]`"#,
        r#"Some("objectives[9].name"): objective name "i" is used twice"#,
        r#"Some("total_score.fail"): unknown key `fail` in `total_score`"#,
        r#"Some("total_score"): `total_score.warn` must not be above `total_score.pass`"#,
        r#"Some("interval"): `interval` is the time between samples: it needs `samples` of 2 or more"#,
        r#"Some("step"): `step` is the resolution of range evaluation: it needs a `lookback`"#,
    ] {
        assert!(m.contains(want), "missing {want:?} in\n{m}");
    }
    let m = messages("");
    assert!(m.contains("missing parameter `objectives`"), "{m}");
    let m = read_for_test("objectives = []", SloParams::read).unwrap_err();
    let m: Vec<&str> = m.iter().map(|e| e.message.as_str()).collect();
    assert!(m.iter().any(|e| e.contains("missing parameter `prometheus_url`")), "{m:?}");
    assert!(m.iter().any(|e| e.contains("`objectives` is empty")), "{m:?}");
}

#[test]
fn met_warned_and_violated_objectives() {
    let p = params(&format!("{P95}, {{ name = \"rps\", query = \"r\", min = 100, key = false }}"), "");
    let at = |p95: &str, rps: &str| {
        vec![
            vec![sample(vector(json!([one(json!({}), p95)])))],
            vec![sample(vector(json!([one(json!({"job": "api"}), rps)])))],
        ]
    };
    let r = run(&p, at("0.375", "478"));
    assert_eq!(codes(&r), [("slo-met".into(), Level::Info), ("slo-met".into(), Level::Info)]);
    assert!(r.gaps().is_empty());
    let m = &r.measurements;
    assert_eq!((m[0].name.as_str(), m[0].value, m[0].status), ("p95", 0.375, MeasurementStatus::Met));
    assert_eq!(m[0].threshold, "<= 0.5; warn above 0.4");
    assert_eq!(m[0].at.as_deref(), Some("2023-11-14T22:13:20Z"));
    let f = &r.findings()[1];
    let fact = |n: &str| f.evidence.iter().find(|e| e.name == n).map(|e| e.value.clone()).unwrap_or_default();
    assert_eq!((fact("query"), fact("value"), fact("series")), ("r".into(), "478".into(), "{job=\"api\"}".into()));

    let r = run(&p, at("0.45", "80"));
    assert_eq!(codes(&r), [("slo-warning".into(), Level::Warning), ("slo-violated".into(), Level::Warning)]);
    assert!(r.findings()[1].message.contains("below the minimum 100 (not a key objective)"), "{r:?}");
    let r = run(&p, at("0.75", "478"));
    assert_eq!(codes(&r)[0], ("slo-violated".into(), Level::Error));
    assert_eq!(r.findings()[0].message, "`p95` is 0.75, above the maximum 0.5");
    assert_eq!(r.measurements[0].status, MeasurementStatus::Violated);
}

#[test]
fn no_data_nan_ambiguity_and_query_errors_are_unverified() {
    let p = params(r#"{ name = "err", query = "sum(rate(http_requests_totl[1m]))", max = 0.01 }"#, "");
    let r = run(&p, vec![vec![sample(vector(json!([])))]]);
    assert_eq!(gap_codes(&r), ["slo-no-data"]);
    let reason = &r.gaps()[0].reason;
    assert!(reason.contains("no metric `http_requests_totl` (did you mean `http_requests_total`?)"), "{reason}");
    assert!(reason.contains("query: sum(rate(http_requests_totl[1m]))"), "{reason}");
    assert!(r.findings().is_empty() && r.measurements.is_empty());

    let r = run(&p, vec![vec![sample(vector(json!([one(json!({}), "NaN")])))]]);
    assert_eq!(gap_codes(&r), ["slo-no-data"]);
    assert!(r.gaps()[0].reason.contains("NaN"), "{r:?}");
    let r = run(&p, vec![vec![sample(vector(json!([one(json!({}), "+Inf")])))]]);
    assert!(r.gaps()[0].reason.contains("infinite"), "{r:?}");

    let two = vector(json!([one(json!({"code": "200"}), "1"), one(json!({"code": "500"}), "2")]));
    let r = run(&p, vec![vec![sample(two.clone())]]);
    assert_eq!(gap_codes(&r), ["slo-ambiguous-result"]);
    assert!(r.gaps()[0].reason.contains(r#"2 series ({code="200"}, {code="500"})"#), "{r:?}");
    let summed = params(r#"{ name = "err", query = "x", max = 5, aggregate = "sum" }"#, "");
    let r = run(&summed, vec![vec![sample(two)]]);
    assert_eq!(r.measurements[0].value, 3.0);
    assert!(r.findings()[0].evidence.iter().any(|e| e.value.starts_with("sum of 2 series")), "{r:?}");

    let bad = PromApiError::Api { url: "u".into(), error_type: "bad_data".into(), error: "parse error".into() };
    let r = run(&p, vec![vec![Sample { at: jiff::Timestamp::now(), result: Err(bad) }]]);
    assert_eq!(gap_codes(&r), ["slo-query-error"]);
    assert!(r.gaps()[0].reason.contains("bad_data"), "{r:?}");
}

#[test]
fn every_sample_must_hold_and_the_worst_decides() {
    let p = params(P95, "samples = 3\ninterval = \"1s\"");
    let s = |v: &str| sample(vector(json!([one(json!({}), v)])));
    let r = run(&p, vec![vec![s("0.3"), s("0.6"), s("0.2")]]);
    assert_eq!(codes(&r), [("slo-violated".into(), Level::Error)]);
    assert_eq!((r.measurements[0].value, &r.measurements[0].samples), (0.6, &vec![0.3, 0.6, 0.2]));
    // A sample without a value could have been worse: unverified, unless another one violated.
    let r = run(&p, vec![vec![s("0.3"), sample(vector(json!([]))), s("0.2")]]);
    assert_eq!(gap_codes(&r), ["slo-no-data"]);
    assert!(r.gaps()[0].reason.contains("1 of 3 samples gave no value"), "{r:?}");
    assert!(r.findings().is_empty() && r.measurements.is_empty(), "{r:?}");
    let r = run(&p, vec![vec![s("0.9"), sample(vector(json!([])))]]);
    assert_eq!(codes(&r), [("slo-violated".into(), Level::Error)]);
    assert_eq!(gap_codes(&r), ["slo-no-data"]);
}

#[test]
fn range_answers_are_judged_point_by_point() {
    let p = params(r#"{ name = "up", query = "min(up)", min = 1, lookback = "5m" }"#, "");
    let m: QueryData = serde_json::from_value(json!({"resultType": "matrix", "result": [
        {"metric": {}, "values": [[1700000000.0, "1"], [1700000060.0, "0"], [1700000120.0, "1"]]}]}))
    .unwrap();
    let r = run(&p, vec![vec![sample(m)]]);
    assert_eq!(codes(&r), [("slo-violated".into(), Level::Error)]);
    assert_eq!(r.measurements[0].at.as_deref(), Some("2023-11-14T22:14:20Z"));
    assert!(r.findings()[0].evidence.iter().any(|e| e.name == "points" && e.value.starts_with("3 from")), "{r:?}");
}

#[test]
fn the_total_score_counts_warnings_half_and_judges_only_what_is_certain() {
    let objectives = r#"{ name = "a", query = "a", max = 1, warn_max = 0.5, key = false, weight = 2 },
        { name = "b", query = "b", max = 1, key = false }, { name = "c", query = "c", max = 1, key = false }"#;
    let p = params(objectives, "total_score = { pass = \"90%\", warn = \"60%\" }");
    let s = |v: &str| vec![sample(vector(json!([one(json!({}), v)])))];
    let score = |r: &ProbeReport| r.evidence.iter().find(|e| e.name == "score").map(|e| e.value.clone()).unwrap();
    let r = run(&p, vec![s("0.1"), s("0.1"), s("0.1")]);
    assert_eq!(score(&r), "100% (pass at 90%, warning at 60%)");
    assert!(codes(&r).iter().all(|(_, l)| *l == Level::Info));
    // a warns (1 of 2), b met, c violated: 2/4 = 50%.
    let r = run(&p, vec![s("0.7"), s("0.1"), s("2")]);
    assert!(codes(&r).contains(&("slo-score-failed".into(), Level::Error)), "{r:?}");
    // a warns: 3/4 = 75%, between warning and pass.
    let r = run(&p, vec![s("0.7"), s("0.1"), s("0.1")]);
    assert!(codes(&r).contains(&("slo-score-warning".into(), Level::Warning)), "{r:?}");
    // a warns, c unknown: 50% to 75%, a warning or a failure: undecided, the gap decides.
    let r = run(&p, vec![s("0.7"), s("0.1"), vec![sample(vector(json!([])))]]);
    assert_eq!(score(&r), "50% to 75% (pass at 90%, warning at 60%)");
    assert!(!codes(&r).iter().any(|(c, _)| c.starts_with("slo-score")), "{r:?}");
    // a and b violated, c unknown: at most 1/4, below the warning threshold whatever c is.
    let r = run(&p, vec![s("2"), s("2"), vec![sample(vector(json!([])))]]);
    assert!(codes(&r).contains(&("slo-score-failed".into(), Level::Error)), "at most 25%: {r:?}");
}

#[test]
fn regressions_against_the_baseline() {
    let p = params(
        r#"{ name = "p95", query = "q", max = 0.5, max_regression = "10%" },
           { name = "rps", query = "r", min = 100, max_regression = "10%", key = false }"#,
        "",
    );
    let s = |v: &str| vec![sample(vector(json!([one(json!({}), v)])))];
    let r = run(&p, vec![s("0.3"), s("400")]);
    assert_eq!(gap_codes(&r), ["slo-baseline-missing", "slo-baseline-missing"]);
    assert!(r.gaps()[0].reason.contains("no baseline report was given"), "{r:?}");

    let old = serde_json::to_string(&json!({"schema_version": 2})).unwrap();
    assert!(Baseline::parse(&old, "old.json".into()).is_err(), "an incomplete report is not a baseline");
    let baseline = Baseline {
        origin: "old.json".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        items: [(
            "slo.api".to_string(),
            vec![crate::outcome::Measurement {
                name: "p95".into(),
                value: 0.25,
                threshold: "<= 0.5".into(),
                status: MeasurementStatus::Met,
                query: None,
                at: None,
                samples: vec![],
                baseline: None,
            }],
        )]
        .into(),
    };
    let judge_with =
        |p95: &str, rps: &str| judge(&p, "slo.api", &[s(p95), s(rps)], BaselineInput::Report(&baseline), None);
    let r = judge_with("0.27", "400");
    assert!(r.findings().iter().all(|f| f.code == "slo-met"), "{r:?}");
    assert_eq!(r.measurements[0].baseline, Some(0.25));
    assert_eq!(gap_codes(&r), ["slo-baseline-missing"], "rps has no recorded value");
    assert!(r.gaps()[0].reason.contains("recorded no value for `rps` of item `slo.api`"), "{r:?}");
    let r = judge_with("0.3", "400");
    assert_eq!(codes(&r)[0], ("slo-regressed".into(), Level::Error));
    assert!(r.findings()[0].message.contains("regressed from 0.25 to 0.3 (+20%; at most 10% worse allowed)"), "{r:?}");
    let r = judge(&p, "other.item", &[s("0.3"), s("400")], BaselineInput::Report(&baseline), None);
    assert!(r.gaps()[0].reason.contains("has no item `other.item`"), "{r:?}");
    let r = judge(&p, "slo.api", &[s("0.3"), s("400")], BaselineInput::Unreadable("cannot read x.json"), None);
    assert!(r.gaps()[0].reason.contains("cannot read x.json"), "{r:?}");
}
