//! `scan-report` probe: vulnerability scan reports (Trivy, Grype, pip-audit, Safety; read by
//! `crate::scan`) judged against a severity threshold and a maximum age, and tied to the images
//! actually deployed: every container image in scope must have a report that scanned it.

mod files;
mod images;
mod judge;

use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;

use crate::cluster::{Kind, Need};
use crate::outcome::ProbeReport;
use crate::probe::{ParamReader, ProbeContext};
use crate::scan::Severity;
use crate::secrets::NamespaceScope;
use crate::secrets::params::DEFAULT_EXCLUDED_NAMESPACES;

pub use files::{ReadReport, Reports, read_all};
pub use images::{DeployedImage, WORKLOAD_KINDS, deployed_images};
pub use judge::judge;

/// The default `max_age`: a week.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 86_400);

#[derive(Debug, Clone, PartialEq)]
pub struct ScanReportParams {
    /// `reports`: report files and globs, relative to the checklist's folder.
    pub reports: Vec<String>,
    /// `fail_on` (default `high`): the lowest severity that is an error; below it, a warning.
    pub fail_on: Severity,
    /// `ignore_unfixed` (default false): findings without a fixed version do not count.
    pub ignore_unfixed: bool,
    /// `max_age` (default `7d`): older scans are stale.
    pub max_age: Duration,
    /// `match_images` (default true): every deployed image must have a report that scanned it.
    pub match_images: bool,
    /// `namespaces`: where deployed images are looked for (empty: all).
    pub namespaces: Vec<String>,
    /// `exclude_namespaces` (default: kube-system, kube-public, kube-node-lease).
    pub exclude_namespaces: Vec<String>,
}

impl ScanReportParams {
    pub fn read(r: &mut ParamReader) -> Option<Self> {
        let reports = r.opt_str_list("reports");
        match &reports {
            None if r.value("reports").is_none() => {
                r.error("reports", "missing parameter `reports` (report files or globs, e.g. [\"scans/*.json\"])")
            }
            Some(list) if list.is_empty() => r.error("reports", "parameter `reports` names no report file"),
            Some(list) => {
                for entry in list {
                    if entry.trim().is_empty() {
                        r.error("reports", "parameter `reports` has an empty entry");
                    } else if files::is_pattern(entry)
                        && let Err(e) = glob::Pattern::new(entry)
                    {
                        r.error("reports", format!("parameter `reports`: `{entry}` is not a valid pattern: {}", e.msg));
                    }
                }
            }
            None => {}
        }
        let fail_on = match r.opt_str("fail_on") {
            None => Some(Severity::High),
            Some(s) => match s.parse::<Severity>() {
                Ok(sev) => Some(sev),
                Err(e) => {
                    r.error("fail_on", format!("parameter `fail_on`: {e}"));
                    None
                }
            },
        };
        let ignore_unfixed = r.opt_bool("ignore_unfixed").unwrap_or(false);
        let max_age = r.opt_duration("max_age").unwrap_or(DEFAULT_MAX_AGE);
        if max_age.is_zero() {
            r.error("max_age", "parameter `max_age` must be longer than zero");
        }
        let match_images = r.opt_bool("match_images").unwrap_or(true);
        let namespaces = r.opt_str_list("namespaces").unwrap_or_default();
        let exclude_namespaces = r
            .opt_str_list("exclude_namespaces")
            .unwrap_or_else(|| DEFAULT_EXCLUDED_NAMESPACES.iter().map(|s| s.to_string()).collect());
        Some(ScanReportParams {
            reports: reports?,
            fail_on: fail_on?,
            ignore_unfixed,
            max_age,
            match_images,
            namespaces,
            exclude_namespaces,
        })
    }

    fn scope(&self) -> NamespaceScope {
        NamespaceScope {
            include: self.namespaces.iter().cloned().collect(),
            exclude: self.exclude_namespaces.iter().cloned().collect(),
        }
    }
}

/// Pods (live: their container statuses) and, for manifests, the workloads with pod templates.
pub fn needs(p: &ScanReportParams) -> Vec<Need> {
    if !p.match_images {
        return Vec::new();
    }
    [Kind::Pod].iter().chain(WORKLOAD_KINDS).map(|k| Need::namespaced(*k, &p.namespaces)).collect()
}

/// The moment ages are judged at: now, unless the audit is judged as of another day
/// (`--today`), then the end of that day (UTC), so no scan of that day counts as in the future.
pub fn judged_at(today: Date) -> Timestamp {
    let now = Timestamp::now();
    if jiff::ZonedDateTime::now().date() == today {
        return now;
    }
    today.tomorrow().ok().and_then(|d| d.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok()).map_or(now, |z| z.timestamp())
}

pub async fn run(p: &ScanReportParams, ctx: &ProbeContext) -> ProbeReport {
    let entries = p.reports.clone();
    let base = ctx.base_dir.clone();
    let reports = match tokio::task::spawn_blocking(move || read_all(&entries, &base)).await {
        Ok(r) => r,
        Err(e) => return ProbeReport::unverified("probe-crashed", format!("reading the scan reports failed: {e}")),
    };
    let images = p.match_images.then(|| match &ctx.view {
        Some(view) => deployed_images(view, &p.scope()),
        None => Err(crate::outcome::Unverified::new(
            "no-cluster",
            "no cluster view was loaded for this audit: the reports cannot be tied to the deployed images",
        )),
    });
    judge(reports, images, p, judged_at(ctx.today))
}

#[cfg(test)]
mod tests;
