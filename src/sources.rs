//! Loads the cluster view an audit needs from its sources: the live cluster, manifest files,
//! or both (manifests overlaid on the live objects).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::live::{self, ConnectError, LiveOptions};
use crate::cluster::manifests::{self, ManifestError};
use crate::cluster::{ClusterView, Gap, KindData, Need};

#[derive(Debug, Clone)]
pub struct SourceOptions {
    pub live: LiveOptions,
    pub manifests: Vec<PathBuf>,
    pub manifest_namespace: String,
    /// `--offline`: never contact a cluster.
    pub offline: bool,
}

/// Why an audit cannot start: the user's input is wrong (exit 2), not the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// Every manifest file that could not be read or parsed.
    Manifests(Vec<ManifestError>),
    /// The kubeconfig (file, `KUBECONFIG`, or `--context`) is missing or invalid.
    Kubeconfig(String),
}

impl SourceError {
    /// One line per problem, for stderr.
    pub fn details(&self) -> Vec<String> {
        match self {
            SourceError::Manifests(errors) => errors.iter().map(ToString::to_string).collect(),
            SourceError::Kubeconfig(reason) => vec![reason.clone()],
        }
    }

    /// A one-line summary.
    pub fn summary(&self) -> String {
        match self {
            SourceError::Manifests(errors) => format!(
                "{} manifest problem{}; nothing was checked",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            ),
            SourceError::Kubeconfig(_) => "the kubeconfig cannot be used; nothing was checked".to_string(),
        }
    }
}

/// The loaded view, plus remarks for the report (e.g. "no cluster configured: manifests only").
pub struct LoadedView {
    pub view: Arc<ClusterView>,
    pub notes: Vec<String>,
    /// The live connection, for probes that re-read or create objects.
    pub live: Option<live::Live>,
}

/// Reads the manifests first (bad files are an error listing every problem), then the cluster.
/// A kubeconfig that cannot be read is an error too; an unreachable cluster is not (the checks
/// report it as unverified).
/// `budget` bounds connecting and listing together: it is what is left of the audit's one
/// deadline (docs/decision.md, "One deadline").
pub async fn load_view(needs: &[Need], opts: &SourceOptions, budget: Duration) -> Result<LoadedView, SourceError> {
    let end = tokio::time::Instant::now() + budget;
    // Only the kinds the selected checks read are kept (one copy of each object: moved, never
    // cloned); objects of the other kinds are read, so a bad one is still an error, and dropped.
    let set = manifests::read_paths_keeping(&opts.manifests, &|k| needs.iter().any(|n| n.kind == k));
    if !set.errors.is_empty() {
        return Err(SourceError::Manifests(set.errors));
    }
    let mut notes = Vec::new();
    let offline_view = |set: manifests::ManifestSet, notes: &mut Vec<String>| {
        // Pre-deploy: the manifests are the whole world for the kinds the checks read.
        let mut view = ClusterView::new(true);
        for n in needs {
            view.set(n.kind, KindData::Objects(Vec::new()));
        }
        if set.ignored > 0 {
            notes.push(format!("{} manifest objects of kinds no check reads were ignored", set.ignored));
        }
        view.overlay(set, &opts.manifest_namespace);
        view
    };
    if opts.offline {
        if opts.manifests.is_empty() {
            let mut view = ClusterView::new(true);
            for n in needs {
                view.set(n.kind, KindData::Gap(Gap::Offline));
            }
            return Ok(LoadedView { view: Arc::new(view), notes, live: None });
        }
        let view = offline_view(set, &mut notes);
        return Ok(LoadedView { view: Arc::new(view), notes, live: None });
    }
    if needs.is_empty() && opts.manifests.is_empty() {
        return Ok(LoadedView { view: Arc::new(ClusterView::new(true)), notes, live: None });
    }
    let connected = tokio::time::timeout_at(end, live::connect(&opts.live)).await;
    let live = match connected {
        Ok(Ok(l)) => l,
        Ok(Err(ConnectError::NoConfig)) if !opts.manifests.is_empty() => {
            notes.push("no cluster configured: the audit read the manifests only (pre-deploy)".into());
            let view = offline_view(set, &mut notes);
            return Ok(LoadedView { view: Arc::new(view), notes, live: None });
        }
        Ok(Err(ConnectError::BadConfig(reason))) => return Err(SourceError::Kubeconfig(reason)),
        Ok(Err(e)) => return Ok(LoadedView { view: Arc::new(gap_view(needs, &e.to_string())), notes, live: None }),
        Err(_) => {
            let reason = format!("the API server did not answer within {}", crate::engine::human(budget));
            return Ok(LoadedView { view: Arc::new(gap_view(needs, &reason)), notes, live: None });
        }
    };
    let mut view = match tokio::time::timeout_at(end, live::load(&live, needs, opts.live.page_size)).await {
        Ok(v) => v,
        Err(_) => {
            let reason =
                format!("connecting and listing objects took longer than the {} left", crate::engine::human(budget));
            let mut v = gap_view(needs, &reason);
            v.cluster = Some(live.info.clone());
            v
        }
    };
    if !opts.manifests.is_empty() {
        notes.push(format!("{} manifest files overlaid on the live cluster", set.files.len()));
        view.overlay(set, &opts.manifest_namespace);
    }
    Ok(LoadedView { view: Arc::new(view), notes, live: Some(live) })
}

/// A view in which every needed kind is unseen, for `reason` (an unreachable cluster).
pub fn gap_view(needs: &[Need], reason: &str) -> ClusterView {
    let mut view = ClusterView::new(false);
    for n in needs {
        let gap = Gap::NoSource { reason: reason.to_string() };
        view.set(n.kind, KindData::Gap(gap));
    }
    view
}
