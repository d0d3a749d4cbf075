//! `pod-security` probe (check `security.pod-security`): every Pod and every workload's pod
//! template in scope judged by `crate::podsec` at the required level and version, as the
//! PodSecurity admission controller judges Pods, and the namespaces' pod-security labels.
//! Judging is per pod spec, namespaces and owners by lookup: linear in the objects.

mod namespaces;
mod objects;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use serde_json::Value;

use crate::cluster::{ClusterView, Kind, Need};
use crate::outcome::{Finding, ProbeReport, Unverified};
use crate::podsec::{Level, Version, Violation, evaluate};
use crate::probe::workload::{kind_gap, read_selection};
use crate::probe::{ParamReader, ProbeContext};
use crate::selector::Selector;
use crate::workload::judge::SYSTEM_NAMESPACES;

pub use namespaces::ADMISSION_SINCE_MINOR;
pub use objects::{PodCarrier, PodSource, read_carrier};

/// The policy version pods are judged at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionChoice {
    /// One version for every namespace.
    Fixed(Version),
    /// Each namespace's `enforce-version` label (`latest` where it pins none).
    Namespace,
}

impl fmt::Display for VersionChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionChoice::Fixed(v) => v.fmt(f),
            VersionChoice::Namespace => f.write_str("namespace"),
        }
    }
}

/// Parameters of a `pod-security` check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSecurityParams {
    pub level: Level,
    pub version: VersionChoice,
    pub namespaces: Vec<String>,
    pub selector: Option<BTreeMap<String, String>>,
    pub exclude: Vec<String>,
    pub require_namespace_enforcement: bool,
}

impl PodSecurityParams {
    pub fn read(r: &mut ParamReader) -> Option<Self> {
        let level = match r.opt_str("level") {
            None => Some(Level::Restricted),
            Some(s) => s.parse::<Level>().map_err(|e| r.error("level", format!("parameter `level`: {e}"))).ok(),
        };
        let version = match r.opt_str("version") {
            None => Some(VersionChoice::Fixed(Version::Latest)),
            Some(s) if s == "namespace" => Some(VersionChoice::Namespace),
            Some(s) => s
                .parse::<Version>()
                .map(VersionChoice::Fixed)
                .map_err(|e| r.error("version", format!("parameter `version`: {e}, or \"namespace\"")))
                .ok(),
        };
        let (namespaces, selector, exclude) = read_selection(r);
        let require_namespace_enforcement = r.opt_bool("require_namespace_enforcement").unwrap_or(true);
        Some(PodSecurityParams {
            level: level?,
            version: version?,
            namespaces,
            selector,
            exclude,
            require_namespace_enforcement,
        })
    }

    /// Namespaces are read for their enforcement, or for the versions they pin.
    pub fn reads_namespaces(&self) -> bool {
        self.require_namespace_enforcement || self.version == VersionChoice::Namespace
    }

    fn in_namespace_scope(&self, ns: &str) -> bool {
        if self.namespaces.is_empty() {
            !SYSTEM_NAMESPACES.contains(&ns)
        } else {
            self.namespaces.iter().any(|n| n == ns)
        }
    }

    fn excludes(&self, ns: &str, name: &str) -> bool {
        self.exclude.iter().any(|e| match e.split_once('/') {
            Some((n, rest)) => n == ns && rest == name,
            None => e == name,
        })
    }
}

pub fn needs(p: &PodSecurityParams) -> Vec<Need> {
    let mut out: Vec<Need> = PodSource::ALL.iter().map(|s| Need::namespaced(s.kind(), &p.namespaces)).collect();
    if p.reads_namespaces() {
        out.push(Need::cluster(Kind::Namespace));
    }
    out
}

/// Counts per kind, for the evidence: `3 Deployments, 1 StatefulSet`.
#[derive(Default)]
struct Tally(BTreeMap<PodSource, usize>);

impl Tally {
    fn add(&mut self, s: PodSource) {
        *self.0.entry(s).or_default() += 1;
    }
    fn total(&self) -> usize {
        self.0.values().sum()
    }
    fn describe(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(s, n)| s.plural_name(*n)).collect();
        if parts.is_empty() { "none".to_string() } else { parts.join(", ") }
    }
}

/// Names at most this many objects in one evidence fact; the rest are counted.
const NAMED_AT_MOST: usize = 20;

fn listed(names: &[String]) -> String {
    let mut text = names.iter().take(NAMED_AT_MOST).cloned().collect::<Vec<_>>().join("; ");
    if names.len() > NAMED_AT_MOST {
        text.push_str(&format!("; and {} more", names.len() - NAMED_AT_MOST));
    }
    text
}

/// The finding for one violation of `c`'s pod spec.
fn violation_finding(c: &PodCarrier<'_>, v: &Violation, level: Level, version: Version) -> Finding {
    let value = v.value.as_deref().map(crate::redact::redact_text);
    let mut f = Finding::error(
        "pod-security-violation",
        format!("{} ({level} at {version}: check {})", crate::redact::redact_text(&v.message), v.check),
    )
    .target(c.target())
    .fact("check", v.check);
    if let Some(name) = &v.container {
        f = f.fact("container", name);
    }
    f.fact("field", format!("{}{}", c.source.field_prefix(), v.path))
        .fact("value", value.as_deref().unwrap_or("(not set)"))
        .fact("level", level)
        .fact("version", version)
        .fact("fix", crate::redact::redact_text(&v.fix))
}

/// The objects in scope, owners first, and what was left out by `exclude` (named in the evidence).
fn select<'v>(
    view: &'v ClusterView,
    p: &PodSecurityParams,
    report: &mut ProbeReport,
) -> (Vec<PodCarrier<'v>>, Vec<String>) {
    let selector = p.selector.as_ref().map(Selector::from_labels);
    let mut selected = Vec::new();
    let mut excluded: HashSet<(PodSource, String, String)> = HashSet::new();
    let mut excluded_names = Vec::new();
    for source in PodSource::ALL {
        let objects = match view.objects(source.kind()) {
            Ok(o) => o,
            Err(_) => {
                if let Some(g) = kind_gap(view, source.kind()) {
                    report.gap(g);
                }
                continue;
            }
        };
        for o in objects {
            let ns = o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
            if !p.in_namespace_scope(ns) {
                continue;
            }
            let c = match read_carrier(*source, o) {
                Ok(c) => c,
                Err(e) => {
                    let what = format!("{} {}: {e}", source.kind(), crate::cluster::object_ref(o));
                    report.gap(Unverified::new("invalid-object", what));
                    continue;
                }
            };
            let owner_excluded =
                c.owner.as_ref().is_some_and(|(k, n)| excluded.contains(&(*k, c.namespace.clone(), n.clone())));
            if owner_excluded || p.excludes(&c.namespace, &c.name) {
                let why = if owner_excluded { " (its controller is excluded)" } else { "" };
                excluded_names.push(format!("{}{why}", c.target()));
                excluded.insert((c.source, c.namespace.clone(), c.name.clone()));
                continue;
            }
            if selector
                .as_ref()
                .is_some_and(|s| !s.matches_opt(c.labels.as_ref()) && !s.matches_opt(c.pod_labels.as_ref()))
            {
                continue;
            }
            selected.push(c);
        }
    }
    (selected, excluded_names)
}

/// The namespaces whose labels are judged: those named, or those the selected objects run in
/// (and, without a selector, every namespace of the view outside Kubernetes' own).
fn namespaces_judged(view: &ClusterView, p: &PodSecurityParams, selected: &[PodCarrier<'_>]) -> BTreeSet<String> {
    if !p.namespaces.is_empty() {
        return p.namespaces.iter().cloned().collect();
    }
    let mut names: BTreeSet<String> = selected.iter().map(|c| c.namespace.clone()).collect();
    if p.selector.is_none() {
        let all = view.objects(Kind::Namespace).unwrap_or_default();
        let named = all.iter().filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str));
        names.extend(named.filter(|n| p.in_namespace_scope(n)).map(str::to_string));
    }
    names
}

/// The pod security report for the view.
pub fn report_for(view: &ClusterView, p: &PodSecurityParams) -> ProbeReport {
    let mut report = ProbeReport::default();
    let (selected, excluded) = select(view, p, &mut report);
    // Read first (the versions they pin may be needed), reported after the pods' findings.
    let mut namespace_report = ProbeReport::default();
    let versions = if p.reads_namespaces() {
        let names = namespaces_judged(view, p, &selected);
        namespaces::judge_namespaces(view, &names, p.level, p.require_namespace_enforcement, &mut namespace_report)
    } else {
        Default::default()
    };
    if p.require_namespace_enforcement
        && let Some(f) = namespaces::admission_absent(view)
    {
        namespace_report.push(f);
    }
    let mut folding = objects::Folding::default();
    let (mut judged, mut through_owner, mut idle) = (Tally::default(), Tally::default(), Tally::default());
    let mut superseded = Tally::default();
    let mut violations = 0;
    for c in &selected {
        let version = match p.version {
            VersionChoice::Fixed(v) => v,
            VersionChoice::Namespace => versions.get(&c.namespace).copied().unwrap_or(Version::Latest),
        };
        let (fresh, ownership) = folding.fold(c, evaluate(c.pod_metadata, c.pod_spec, p.level, version));
        if c.idle_revision {
            idle.add(c.source);
            continue;
        }
        match ownership {
            objects::Ownership::None => judged.add(c.source),
            objects::Ownership::Owned => through_owner.add(c.source),
            objects::Ownership::Superseded => superseded.add(c.source),
        }
        violations += fresh.len();
        for v in &fresh {
            report.push(violation_finding(c, v, p.level, version));
        }
    }
    report.fact("level", p.level);
    report.fact(
        "version",
        match p.version {
            VersionChoice::Fixed(v) => v.to_string(),
            VersionChoice::Namespace => "each namespace's enforce-version label (latest where it pins none)".into(),
        },
    );
    let scope = if p.namespaces.is_empty() {
        "all but kube-system, kube-public, kube-node-lease".into()
    } else {
        p.namespaces.join(", ")
    };
    report.fact("namespaces", scope);
    report.fact("pod specs judged", judged.describe());
    if through_owner.total() > 0 {
        report.fact(
            "judged through their controller",
            format!("{} (only what differs from the controller's template is reported)", through_owner.describe()),
        );
    }
    if superseded.total() > 0 {
        report.fact(
            "replaced by the deploy",
            format!(
                "{} of the live cluster, whose controller the manifests replace (rolled out anew from the manifest's \
                 template; not reported)",
                superseded.describe()
            ),
        );
    }
    if idle.total() > 0 {
        report.fact("old revisions", format!("{} at 0 replicas (they run no pods; not reported)", idle.describe()));
    }
    if !excluded.is_empty() {
        report.fact("excluded", listed(&excluded));
    }
    report.fact("violations", violations);
    report.absorb(namespace_report);
    if view.offline {
        report.fact("source", "manifests (as the admission controller would judge them at creation)");
    }
    if selected.is_empty() {
        report.gap(Unverified::new(
            "nothing-in-scope",
            "no Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job or CronJob in scope",
        ));
    }
    report
}

pub async fn run(p: &PodSecurityParams, ctx: &ProbeContext) -> ProbeReport {
    match ctx.view.clone() {
        Some(view) => report_for(&view, p),
        None => ProbeReport::unverified("no-cluster", "no cluster view was loaded for this audit"),
    }
}
