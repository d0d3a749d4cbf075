//! How often Prometheus scrapes each job: from the scrape configuration (`prometheus.yml`, as a
//! file or a ConfigMap) or from the running Prometheus' targets, so rule windows and `for`
//! durations can be compared with the sampling they read.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::prometheus::api::TargetsData;
use crate::rules::names::parse_prometheus_duration;
use crate::rules::yaml::parse_documents;

/// Prometheus' own default when the configuration sets none.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// Scrape intervals by job name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrapeIntervals {
    pub jobs: BTreeMap<String, Duration>,
    /// Where they were read from, for messages.
    pub origin: String,
}

impl ScrapeIntervals {
    /// From the text of a Prometheus configuration file.
    pub fn from_config(text: &str, origin: &str) -> Result<Self, String> {
        let docs = parse_documents(text).map_err(|e| format!("{origin}: {}", e.message))?;
        let root = docs.first().ok_or_else(|| format!("{origin}: empty configuration"))?;
        let duration = |node: Option<&crate::rules::yaml::Node>, what: &str| -> Result<Option<Duration>, String> {
            match node.and_then(|n| n.scalar_text()) {
                None => Ok(None),
                Some(t) => parse_prometheus_duration(&t).map(Some).map_err(|e| format!("{origin}: {what}: {e}")),
            }
        };
        let global = duration(root.get("global").and_then(|g| g.get("scrape_interval")), "global.scrape_interval")?
            .unwrap_or(DEFAULT_INTERVAL);
        let mut jobs = BTreeMap::new();
        for job in root.get("scrape_configs").and_then(|s| s.as_seq()).unwrap_or_default() {
            let Some(name) = job.get("job_name").and_then(|n| n.scalar_text()) else {
                continue;
            };
            let interval = duration(job.get("scrape_interval"), &format!("job {name}: scrape_interval"))?;
            jobs.insert(name, interval.unwrap_or(global));
        }
        Ok(ScrapeIntervals { jobs, origin: origin.to_string() })
    }

    /// From the running Prometheus' active targets (the longest interval of each job).
    pub fn from_targets(targets: &TargetsData, origin: &str) -> Self {
        let mut jobs: BTreeMap<String, Duration> = BTreeMap::new();
        for t in &targets.active_targets {
            let (Some(job), Some(Ok(d))) =
                (t.labels.get("job"), t.scrape_interval.as_deref().map(parse_prometheus_duration))
            else {
                continue;
            };
            let e = jobs.entry(job.clone()).or_insert(d);
            *e = (*e).max(d);
        }
        ScrapeIntervals { jobs, origin: origin.to_string() }
    }

    /// The interval that applies to series of `jobs`: the longest of them; with no job known,
    /// the one interval every job shares (None when they differ or none is known).
    pub fn for_jobs<'a>(&self, jobs: impl IntoIterator<Item = &'a str>) -> Option<Duration> {
        let known: Vec<Duration> = jobs.into_iter().filter_map(|j| self.jobs.get(j).copied()).collect();
        if let Some(max) = known.iter().max() {
            return Some(*max);
        }
        let mut all = self.jobs.values();
        let first = *all.next()?;
        all.all(|d| *d == first).then_some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_from_the_configuration() {
        let text = "global:\n  scrape_interval: 15s\nscrape_configs:\n- job_name: nats\n  scrape_interval: 1m\n- job_name: api\n";
        let s = ScrapeIntervals::from_config(text, "prometheus.yml").unwrap();
        assert_eq!(s.jobs["nats"], Duration::from_secs(60));
        assert_eq!(s.jobs["api"], Duration::from_secs(15));
        assert_eq!(s.for_jobs(["nats", "api"]), Some(Duration::from_secs(60)));
        assert_eq!(s.for_jobs(["other"]), None, "the jobs differ");
        let one = ScrapeIntervals::from_config("scrape_configs:\n- job_name: a\n", "p").unwrap();
        assert_eq!(one.for_jobs([]), Some(DEFAULT_INTERVAL));
        assert!(ScrapeIntervals::from_config("global: {scrape_interval: soon}", "p").is_err());
    }
}
