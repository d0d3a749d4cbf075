//! An earlier JSON report as the baseline of a run: the values it recorded per item and
//! measurement, for `max_regression` comparisons (`audit --baseline OLD.json`, or `baseline` in
//! an item).

use std::collections::BTreeMap;
use std::path::Path;

use crate::outcome::Measurement;

/// The measurements of an earlier report, by item id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    /// Where it was read from, for messages.
    pub origin: String,
    /// When that audit started (RFC 3339).
    pub started_at: String,
    pub items: BTreeMap<String, Vec<Measurement>>,
}

impl Baseline {
    /// Reads a kgents-gate JSON report. Err: why it cannot serve as a baseline.
    pub fn read(path: &Path) -> Result<Baseline, String> {
        let origin = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read the baseline report {origin}: {e}"))?;
        Self::parse(&text, origin)
    }

    pub fn parse(text: &str, origin: String) -> Result<Baseline, String> {
        let report = crate::report::json::parse_json(text).map_err(|e| format!("baseline report {origin}: {e}"))?;
        let items = report.items.into_iter().map(|i| (i.id, i.measurements)).collect();
        Ok(Baseline { origin, started_at: report.provenance.started_at, items })
    }

    /// The value recorded for `name` of item `item`, or why there is none.
    pub fn value(&self, item: &str, name: &str) -> Result<f64, String> {
        let Some(list) = self.items.get(item) else {
            return Err(format!("the baseline report {} has no item `{item}`", self.origin));
        };
        list.iter().find(|m| m.name == name).map(|m| m.value).ok_or_else(|| {
            format!("the baseline report {} recorded no value for `{name}` of item `{item}`", self.origin)
        })
    }
}
