//! The shared, read-only view: for each kind the selected checks need, either its objects or the
//! reason they could not be read (a gap). Probes turn a gap into `unverified` or `skipped`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::kinds::Kind;
use super::manifests::ManifestSet;
use crate::outcome::{ProbeReport, ProbeState, Unverified};
use crate::report::ClusterInfo;

/// Why a kind's objects are not (all) in the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gap {
    /// RBAC refused: the verb, resource (with group) and namespace the credentials lack.
    Forbidden { verb: String, resource: String, namespace: Option<String> },
    /// The API does not serve the kind (e.g. the PrometheusRule CRD is not installed).
    NotServed { reason: String },
    /// The API server could not be reached or answered an error.
    Failed { reason: String },
    /// No live cluster and the manifests say nothing of this kind's absence (offline audit).
    Offline,
    /// No cluster configured and no manifests given.
    NoSource { reason: String },
    /// The kind was not requested by any selected check (a bug if a probe asks for it).
    NotLoaded,
}

impl Gap {
    /// What a check needing this kind could not see, or the reason it does not apply (`Err`:
    /// the kind is not served, e.g. a CRD that is not installed).
    pub fn to_unverified(&self, kind: Kind) -> Result<Unverified, String> {
        Ok(match self {
            Gap::Forbidden { verb, resource, namespace } => {
                let perm = match namespace {
                    Some(ns) => format!("{verb} {resource} in namespace {ns}"),
                    None => format!("{verb} {resource} (cluster-wide)"),
                };
                Unverified::forbidden(format!("not allowed to {verb} {resource}: cannot see the {kind} objects"), perm)
            }
            Gap::NotServed { reason } => return Err(reason.clone()),
            Gap::Failed { reason } => Unverified::new("api-error", format!("cannot read {kind} objects: {reason}")),
            Gap::Offline => Unverified::new(
                "offline",
                format!("offline audit: no live cluster, and the manifests were not read for {kind} objects"),
            ),
            Gap::NoSource { reason } => Unverified::new("no-cluster", reason.clone()),
            Gap::NotLoaded => Unverified::new("not-loaded", format!("{kind} objects were not loaded")),
        })
    }

    /// The result a check needing this kind reports.
    pub fn to_report(&self, kind: Kind) -> ProbeReport {
        match self.to_unverified(kind) {
            Ok(u) => ProbeReport { state: ProbeState::Unverified(u), ..Default::default() },
            Err(reason) => ProbeReport::skipped(reason),
        }
    }
}

/// One kind's content in the view.
#[derive(Debug, Clone, PartialEq)]
pub enum KindData {
    Objects(Vec<Value>),
    Gap(Gap),
}

/// The view every check reads. Objects are Kubernetes JSON with `apiVersion` and `kind` set.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    data: BTreeMap<Kind, KindData>,
    /// Set when a live cluster was read.
    pub cluster: Option<ClusterInfo>,
    /// Manifest files that were read.
    pub manifest_files: Vec<String>,
    /// True when no live cluster is involved (manifests alone, or nothing).
    pub offline: bool,
    /// Positions of each kind's objects by namespace, built on first use (checks scoped to a
    /// few namespaces then look at those namespaces' objects only, never at every pod).
    by_namespace: std::sync::OnceLock<NamespaceIndex>,
}

/// Kind -> namespace -> positions in that kind's object list, ascending.
type NamespaceIndex = BTreeMap<Kind, std::collections::HashMap<String, Vec<usize>>>;

fn meta<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    super::field::field_at(o, &["metadata", key]).and_then(Value::as_str)
}

/// The annotation `kubectl apply` writes: a full copy of the applied object, values included.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Blanks every value of a Secret (`data` and `stringData`, keys kept) and the last-applied copy
/// `kubectl apply` keeps in an annotation, so no Secret value is ever held by the view. Checks
/// on Secrets need key names only.
pub fn redact_secret(obj: &mut Value) {
    if let Some(o) = obj.as_object_mut() {
        for field in ["data", "stringData"] {
            match o.get_mut(field) {
                Some(Value::Object(m)) => m.values_mut().for_each(|v| *v = Value::String(String::new())),
                // Not a map: nothing with key names to keep, and nothing safe to show.
                Some(other) if !other.is_null() => *other = Value::Null,
                _ => {}
            }
        }
    }
    if let Some(a) = obj.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut)
        && let Some(v) = a.get_mut(LAST_APPLIED)
    {
        *v = Value::String(redact_last_applied(v.as_str().unwrap_or("")));
    }
}

/// The last-applied annotation is a full copy of the object, values included. Keep its shape
/// (which keys had a value, which is what secret hygiene judges) and replace every non-empty
/// value by a fixed marker; anything unparsable is dropped whole.
fn redact_last_applied(text: &str) -> String {
    let Ok(mut applied) = serde_json::from_str::<Value>(text) else {
        return String::new();
    };
    let Some(o) = applied.as_object_mut() else {
        return String::new();
    };
    for field in ["data", "stringData"] {
        match o.get_mut(field) {
            Some(Value::Object(m)) => m.values_mut().for_each(|v| {
                let empty = v.is_null() || v.as_str().is_some_and(str::is_empty);
                *v = Value::String(if empty { String::new() } else { REDACTED.to_string() });
            }),
            Some(other) if !other.is_null() => *other = Value::Null,
            _ => {}
        }
    }
    // Nested annotations may hold an older last-applied copy: drop them, they say nothing needed.
    if let Some(md) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("annotations");
    }
    serde_json::to_string(&applied).unwrap_or_default()
}

/// What a redacted value reads as.
pub const REDACTED: &str = "<redacted>";

/// `namespace/name` of an object (or `name` when cluster-scoped).
pub fn object_ref(o: &Value) -> String {
    match meta(o, "namespace") {
        Some(ns) => format!("{ns}/{}", meta(o, "name").unwrap_or("?")),
        None => meta(o, "name").unwrap_or("?").to_string(),
    }
}

impl ClusterView {
    pub fn new(offline: bool) -> Self {
        ClusterView { offline, ..Default::default() }
    }

    pub fn set(&mut self, kind: Kind, data: KindData) {
        self.data.insert(kind, data);
        self.by_namespace = std::sync::OnceLock::new();
    }

    fn namespace_index(&self) -> &NamespaceIndex {
        self.by_namespace.get_or_init(|| {
            let mut index = NamespaceIndex::new();
            for (kind, data) in &self.data {
                if let KindData::Objects(list) = data {
                    let by_ns = index.entry(*kind).or_default();
                    for (i, o) in list.iter().enumerate() {
                        if let Some(ns) = meta(o, "namespace") {
                            match by_ns.get_mut(ns) {
                                Some(at) => at.push(i),
                                None => {
                                    by_ns.insert(ns.to_string(), vec![i]);
                                }
                            }
                        }
                    }
                }
            }
            index
        })
    }

    /// Objects of `kind` in any of `namespaces` (every object when `namespaces` is empty), in
    /// the order of the kind's list, found through the namespace index.
    pub fn in_namespaces(&self, kind: Kind, namespaces: &[String]) -> Result<Vec<&Value>, &Gap> {
        let list = self.objects(kind)?;
        if namespaces.is_empty() {
            return Ok(list.iter().collect());
        }
        let Some(by_ns) = self.namespace_index().get(&kind) else {
            return Ok(Vec::new());
        };
        let mut at: Vec<usize> = namespaces.iter().filter_map(|n| by_ns.get(n)).flatten().copied().collect();
        at.sort_unstable();
        at.dedup();
        Ok(at.into_iter().map(|i| &list[i]).collect())
    }

    /// Every loaded object of `kind`, or the gap.
    pub fn objects(&self, kind: Kind) -> Result<&[Value], &Gap> {
        static NOT_LOADED: Gap = Gap::NotLoaded;
        match self.data.get(&kind) {
            Some(KindData::Objects(v)) => Ok(v),
            Some(KindData::Gap(g)) => Err(g),
            None => Err(&NOT_LOADED),
        }
    }

    /// Objects of `kind` in namespace `ns`.
    pub fn in_namespace(&self, kind: Kind, ns: &str) -> Result<Vec<&Value>, &Gap> {
        self.in_namespaces(kind, &[ns.to_string()])
    }

    /// The first gap among `kinds`, as the report a check should return; None when all loaded.
    pub fn gap_report(&self, kinds: &[Kind]) -> Option<ProbeReport> {
        kinds.iter().find_map(|k| self.objects(*k).err().map(|g| g.to_report(*k)))
    }

    /// Every object of every loaded kind (for checks that look at everything, e.g. secrets scans).
    pub fn all_objects(&self) -> impl Iterator<Item = &Value> {
        self.data.values().flat_map(|d| match d {
            KindData::Objects(v) => v.as_slice(),
            KindData::Gap(_) => &[],
        })
    }

    pub fn kinds(&self) -> impl Iterator<Item = (&Kind, &KindData)> {
        self.data.iter()
    }

    /// Puts manifest objects over the view: an object in the files replaces the live one with the
    /// same kind, namespace and name ("the cluster after this deploy"). Kinds the manifests hold
    /// become loaded even where the live read had a gap only when no live cluster is involved.
    /// The objects are moved in, not copied.
    pub fn overlay(&mut self, set: ManifestSet, default_namespace: &str) {
        self.by_namespace = std::sync::OnceLock::new();
        self.manifest_files.extend(set.files.iter().map(|f| f.display().to_string()));
        // Where each object of a kind is, by `namespace/name`, so replacing is a lookup.
        let mut positions: BTreeMap<Kind, std::collections::HashMap<String, usize>> = BTreeMap::new();
        for m in set.objects {
            let mut obj = m.object;
            if m.kind.info().namespaced
                && meta(&obj, "namespace").is_none()
                && let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut)
            {
                md.insert("namespace".into(), Value::String(default_namespace.to_string()));
            }
            let entry = self.data.entry(m.kind).or_insert_with(|| KindData::Objects(Vec::new()));
            if let KindData::Gap(_) = entry {
                if !self.offline {
                    continue; // the live read failed: do not pretend the files are the whole truth
                }
                *entry = KindData::Objects(Vec::new());
            }
            if let KindData::Objects(list) = entry {
                let at = positions
                    .entry(m.kind)
                    .or_insert_with(|| list.iter().enumerate().map(|(i, o)| (object_ref(o), i)).collect());
                let key = object_ref(&obj);
                match at.get(&key) {
                    // Replaced in place: the later file wins, as before.
                    Some(&i) => list[i] = obj,
                    None => {
                        at.insert(key, list.len());
                        list.push(obj);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::manifests::parse_into;
    use std::path::Path;

    #[test]
    fn overlay_replaces_same_object_and_defaults_namespace() {
        let mut view = ClusterView::new(false);
        view.set(
            Kind::ConfigMap,
            KindData::Objects(vec![
                serde_json::json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"ns"},"data":{"v":"live"}}),
                serde_json::json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b","namespace":"ns"}}),
            ]),
        );
        view.set(Kind::Secret, KindData::Gap(Gap::Failed { reason: "x".into() }));
        let mut set = ManifestSet::default();
        parse_into(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns}\ndata: {v: file}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
            Path::new("m.yaml"),
            &mut set,
        );
        view.overlay(set, "default");
        let cms = view.objects(Kind::ConfigMap).unwrap();
        assert_eq!(cms.len(), 3);
        let a = cms.iter().find(|o| object_ref(o) == "ns/a").unwrap();
        assert_eq!(a["data"]["v"], "file");
        assert!(cms.iter().any(|o| object_ref(o) == "default/c"));
        assert!(view.objects(Kind::Secret).is_err(), "a failed live read stays a gap");
        assert_eq!(view.in_namespace(Kind::ConfigMap, "ns").unwrap().len(), 2);
        // Several namespaces: the objects in list order, each once.
        let both = view.in_namespaces(Kind::ConfigMap, &["default".into(), "ns".into(), "ns".into()]).unwrap();
        assert_eq!(both.iter().map(|o| object_ref(o)).collect::<Vec<_>>(), ["ns/a", "ns/b", "default/c"]);
        assert_eq!(view.in_namespaces(Kind::ConfigMap, &[]).unwrap().len(), 3);
        assert!(view.in_namespaces(Kind::ConfigMap, &["none".into()]).unwrap().is_empty());
        // Changing the view rebuilds the index.
        view.set(
            Kind::ConfigMap,
            KindData::Objects(vec![serde_json::json!({"metadata":{"name":"z","namespace":"none"}})]),
        );
        assert_eq!(view.in_namespace(Kind::ConfigMap, "none").unwrap().len(), 1);
    }

    #[test]
    fn secrets_are_redacted_keys_kept() {
        let mut s = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "annotations": {LAST_APPLIED: "{\"data\":{\"k\":\"c2VjcmV0\"}}", "team": "a"}},
            "data": {"k": "c2VjcmV0", "j": "eA=="}, "stringData": {"p": "secret"}
        });
        redact_secret(&mut s);
        assert_eq!(s["data"], serde_json::json!({"k": "", "j": ""}));
        assert_eq!(s["stringData"], serde_json::json!({"p": ""}));
        // The annotation keeps its shape (which keys held values), never the values.
        assert_eq!(s["metadata"]["annotations"][LAST_APPLIED], "{\"data\":{\"k\":\"<redacted>\"}}");
        assert_eq!(s["metadata"]["annotations"]["team"], "a");
        assert!(!s.to_string().contains("c2VjcmV0") && !s.to_string().contains("\"secret\""));
        // Malformed data (not a map) is dropped; a metadata-only Secret is left as it is.
        let mut odd = serde_json::json!({"data": "c2VjcmV0"});
        redact_secret(&mut odd);
        assert!(odd["data"].is_null());
        let mut bare = serde_json::json!({"metadata": {"name": "x"}});
        redact_secret(&mut bare);
        assert_eq!(bare, serde_json::json!({"metadata": {"name": "x"}}));
    }

    #[test]
    fn gaps_become_unverified_or_skipped() {
        let g = Gap::Forbidden { verb: "list".into(), resource: "secrets".into(), namespace: Some("kgents".into()) };
        let r = g.to_report(Kind::Secret);
        let u = &r.gaps()[0];
        assert_eq!(u.code, "forbidden");
        assert_eq!(u.missing_permission.as_deref(), Some("list secrets in namespace kgents"));
        let r = Gap::NotServed { reason: "no CRD".into() }.to_report(Kind::PrometheusRule);
        assert_eq!(r.skip_reason(), Some("no CRD"));
        let view = ClusterView::new(true);
        assert_eq!(view.gap_report(&[Kind::Pod]).unwrap().gaps()[0].code, "not-loaded");
    }
}
