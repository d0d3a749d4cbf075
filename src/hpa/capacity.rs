//! Capacity against the load test: what `maxReplicas` pods serve at the rate one pod served in
//! the k6 baseline, compared with the expected peak and its headroom.

use serde_json::Value;

use crate::outcome::Unverified;
use crate::probe::load_baseline::read_k6_summary;

/// The load-test figures and the target, as the checklist gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityParams {
    /// The k6 `--summary-export` file.
    pub load_summary: String,
    /// Replicas that served the load test.
    pub baseline_replicas: u32,
    /// Expected production peak, requests per second.
    pub target_rps: f64,
    /// Multiplier on the peak (1.5: 50 % spare).
    pub headroom: f64,
}

/// The measured rate with the parameters: enough to judge every HPA.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    pub params: CapacityParams,
    pub measured_rps: f64,
}

/// Reads the measured requests per second from the summary's bytes (or the reason the file could
/// not be read). A missing, unreadable or figure-less summary is a gap, never a pass.
pub fn baseline(params: &CapacityParams, bytes: Result<Vec<u8>, String>) -> Result<Baseline, Unverified> {
    let gap = |why: String| Unverified::new("hpa-capacity-unverified", format!("capacity not judged: {why}"));
    let bytes = bytes.map_err(|e| gap(format!("cannot read {}: {e}", params.load_summary)))?;
    let json: Value =
        serde_json::from_slice(&bytes).map_err(|e| gap(format!("{} is not JSON ({e})", params.load_summary)))?;
    let figures = read_k6_summary(&json).map_err(|e| gap(format!("{}: {e}", params.load_summary)))?;
    match figures.rps {
        Some(rps) if rps.is_finite() && rps > 0.0 => Ok(Baseline { params: params.clone(), measured_rps: rps }),
        Some(rps) => Err(gap(format!("{} reports {rps} requests/s", params.load_summary))),
        None => Err(gap(format!("{} has no http_reqs rate", params.load_summary))),
    }
}

/// The comparison for one HPA's `maxReplicas`.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub per_replica: f64,
    pub capacity: f64,
    pub needed: f64,
    /// The arithmetic, in words.
    pub arithmetic: String,
}

impl Verdict {
    pub fn short(&self) -> bool {
        self.capacity < self.needed
    }
}

fn num(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub fn judge(b: &Baseline, max_replicas: i32) -> Verdict {
    let p = &b.params;
    let per_replica = b.measured_rps / f64::from(p.baseline_replicas);
    let capacity = f64::from(max_replicas) * per_replica;
    let needed = p.target_rps * p.headroom;
    let rel = if capacity < needed { "<" } else { ">=" };
    let arithmetic = format!(
        "maxReplicas {max_replicas} x ({} req/s / {} baseline replicas = {} req/s per replica) = {} req/s {rel} \
         target {} req/s x headroom {} = {} req/s",
        num(b.measured_rps),
        p.baseline_replicas,
        num(per_replica),
        num(capacity),
        num(p.target_rps),
        num(p.headroom),
        num(needed)
    );
    Verdict { per_replica, capacity, needed, arithmetic }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> CapacityParams {
        CapacityParams { load_summary: "load.json".into(), baseline_replicas: 2, target_rps: 1200.0, headroom: 1.5 }
    }

    const KGENTS: &str = r#"{"metrics": {"http_reqs": {"count": 143400, "rate": 478.0}}}"#;

    #[test]
    fn kgents_baseline_sizes_the_api() {
        let b = baseline(&params(), Ok(KGENTS.as_bytes().to_vec())).unwrap();
        let v = judge(&b, 10);
        assert!(!v.short());
        assert_eq!(
            v.arithmetic,
            "maxReplicas 10 x (478 req/s / 2 baseline replicas = 239 req/s per replica) = 2390 req/s >= \
             target 1200 req/s x headroom 1.5 = 1800 req/s"
        );
        // 7 x 239 = 1673 < 1800; 8 x 239 = 1912 is enough.
        assert!(judge(&b, 7).short());
        assert!(!judge(&b, 8).short());
    }

    #[test]
    fn the_boundary_is_not_short() {
        let p = CapacityParams { target_rps: 1000.0, headroom: 1.0, ..params() };
        let b = Baseline { params: p, measured_rps: 500.0 };
        assert!(!judge(&b, 4).short(), "4 x 250 = 1000 serves exactly 1000");
        assert!(judge(&b, 3).short());
    }

    #[test]
    fn unreadable_summaries_are_gaps() {
        let gap = |bytes: Result<Vec<u8>, String>| baseline(&params(), bytes).unwrap_err();
        assert_eq!(gap(Err("No such file".into())).code, "hpa-capacity-unverified");
        assert!(gap(Err("No such file".into())).reason.contains("cannot read load.json"));
        assert!(gap(Ok(b"{not json".to_vec())).reason.contains("not JSON"));
        assert!(gap(Ok(b"{\"foo\": 1}".to_vec())).reason.contains("not a k6 summary"));
        assert!(gap(Ok(b"{\"metrics\": {}}".to_vec())).reason.contains("no http_reqs rate"));
        assert!(gap(Ok(br#"{"metrics": {"http_reqs": {"rate": 0}}}"#.to_vec())).reason.contains("0 requests/s"));
    }
}
