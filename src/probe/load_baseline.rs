//! `load-baseline` probe: a k6 `--summary-export` JSON judged against requests/s, error-rate and
//! p95-latency thresholds.

use serde_json::Value;

use crate::outcome::{Finding, ProbeReport};
use crate::probe::{ParamReader, ProbeContext};

#[derive(Debug, Clone, PartialEq)]
pub struct LoadBaselineParams {
    /// The k6 summary export, e.g. `load-test-results.json`.
    pub path: String,
    pub min_rps: Option<f64>,
    /// As a fraction: 0.01 is 1 %.
    pub max_error_rate: Option<f64>,
    pub max_p95_ms: Option<f64>,
}

impl LoadBaselineParams {
    pub fn read(r: &mut ParamReader) -> Option<Self> {
        let path = r.req_str("path");
        let min_rps = r.opt_f64("min_rps");
        let max_error_rate = r.opt_f64("max_error_rate");
        if let Some(e) = max_error_rate
            && !(0.0..=1.0).contains(&e)
        {
            r.error("max_error_rate", "parameter `max_error_rate` is a fraction between 0 and 1 (0.01 is 1%)");
        }
        let max_p95_ms = r.opt_f64("max_p95_ms");
        if min_rps.is_none() && max_error_rate.is_none() && max_p95_ms.is_none() {
            r.error_general("give at least one threshold: min_rps, max_error_rate or max_p95_ms");
        }
        Some(LoadBaselineParams { path: path?, min_rps, max_error_rate, max_p95_ms })
    }
}

/// The three figures read from a k6 summary export.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct K6Figures {
    pub rps: Option<f64>,
    pub error_rate: Option<f64>,
    pub p95_ms: Option<f64>,
}

/// Reads `metrics.http_reqs.rate`, `metrics.http_req_failed.value` and
/// `metrics.http_req_duration["p(95)"]` (k6 `--summary-export`; the `values` nesting of
/// `handleSummary` output is accepted too).
pub fn read_k6_summary(json: &Value) -> Result<K6Figures, String> {
    let metrics =
        json.get("metrics").and_then(Value::as_object).ok_or("no `metrics` object: not a k6 summary export")?;
    let field = |metric: &str, key: &str| -> Option<f64> {
        let m = metrics.get(metric)?;
        m.get(key).or_else(|| m.get("values").and_then(|v| v.get(key))).and_then(Value::as_f64)
    };
    Ok(K6Figures {
        rps: field("http_reqs", "rate"),
        error_rate: field("http_req_failed", "value").or_else(|| field("http_req_failed", "rate")),
        p95_ms: field("http_req_duration", "p(95)"),
    })
}

pub async fn run(p: &LoadBaselineParams, ctx: &ProbeContext) -> ProbeReport {
    let path = ctx.resolve(&p.path);
    let mut report = ProbeReport::default();
    report.fact("summary", path.display());
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.push(
                Finding::error("load-summary-missing", format!("no load-test summary at {}", p.path)).target(&p.path),
            );
            return report;
        }
        Err(e) => {
            return ProbeReport::unverified("unreadable", format!("cannot read {}: {e}", p.path));
        }
    };
    let figures = match serde_json::from_slice::<Value>(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|v| read_k6_summary(&v))
    {
        Ok(f) => f,
        Err(e) => {
            let mut r =
                ProbeReport::unverified("load-summary-invalid", format!("{} is not a k6 summary export: {e}", p.path));
            r.evidence = report.evidence;
            return r;
        }
    };
    check(p, figures, &mut report);
    report
}

fn check(p: &LoadBaselineParams, f: K6Figures, report: &mut ProbeReport) {
    let mut judge = |name: &str, code: &str, value: Option<f64>, bound: Option<f64>, at_least: bool, unit: &str| {
        let Some(bound) = bound else { return };
        match value {
            None => report.push(Finding::error(
                "load-metric-missing",
                format!("the summary has no {name} figure to compare with the threshold"),
            )),
            Some(v) => {
                report.fact(name, format!("{v:.3}{unit}"));
                let ok = if at_least { v >= bound } else { v < bound };
                if !ok {
                    let rel = if at_least { ">=" } else { "<" };
                    report.push(
                        Finding::error(code, format!("{name} {v:.3}{unit}, required {rel} {bound}{unit}"))
                            .fact(name, format!("{v:.3}{unit}"))
                            .fact("threshold", format!("{rel} {bound}{unit}")),
                    );
                }
            }
        }
    };
    judge("requests_per_second", "load-rps-below-threshold", f.rps, p.min_rps, true, "");
    judge("error_rate", "load-error-rate-above-threshold", f.error_rate, p.max_error_rate, false, "");
    judge("p95_ms", "load-p95-above-threshold", f.p95_ms, p.max_p95_ms, false, " ms");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> LoadBaselineParams {
        LoadBaselineParams {
            path: "x".into(),
            min_rps: Some(100.0),
            max_error_rate: Some(0.01),
            max_p95_ms: Some(500.0),
        }
    }

    #[test]
    fn kgents_baseline_passes() {
        let v: Value = serde_json::json!({"metrics": {
            "http_reqs": {"count": 143400, "rate": 478.0},
            "http_req_failed": {"passes": 0, "fails": 143400, "value": 0},
            "http_req_duration": {"avg": 3.1, "p(90)": 5.2, "p(95)": 6.95}}});
        let f = read_k6_summary(&v).unwrap();
        let mut r = ProbeReport::default();
        check(&params(), f, &mut r);
        assert!(r.findings().is_empty(), "{:?}", r.findings());
        assert!(r.evidence.iter().any(|e| e.name == "p95_ms" && e.value == "6.950 ms"));
    }

    #[test]
    fn each_threshold_fails_on_its_own() {
        let f = K6Figures { rps: Some(99.0), error_rate: Some(0.01), p95_ms: Some(500.0) };
        let mut r = ProbeReport::default();
        check(&params(), f, &mut r);
        let codes: Vec<_> = r.findings().iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["load-rps-below-threshold", "load-error-rate-above-threshold", "load-p95-above-threshold"]);
    }

    #[test]
    fn handle_summary_nesting_and_missing_metrics() {
        let v: Value = serde_json::json!({"metrics": {"http_reqs": {"values": {"rate": 200.0}}}});
        let f = read_k6_summary(&v).unwrap();
        assert_eq!(f.rps, Some(200.0));
        let mut r = ProbeReport::default();
        check(&params(), f, &mut r);
        let codes: Vec<_> = r.findings().iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["load-metric-missing", "load-metric-missing"]);
        assert!(read_k6_summary(&serde_json::json!({"foo": 1})).is_err());
    }
}
