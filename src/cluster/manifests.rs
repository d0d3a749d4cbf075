//! Manifest files as a source of objects: files or directories of YAML or JSON, multi-document,
//! `List` kinds and `kubectl get -o yaml` output. A bad file is a clear error with file and line;
//! the other files are still read.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::kinds::Kind;
use super::yaml::{self, Node, NodeDeserializer, NodeError, NodeValue, Pos};

/// One object read from a file, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestObject {
    pub kind: Kind,
    pub object: Value,
    pub file: PathBuf,
    /// 1-based number of the non-empty document within the file.
    pub document: usize,
}

/// A problem with one file. Never quotes file content (it may hold secret values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct ManifestError {
    pub file: String,
    /// Line and column, 1-based, when known.
    pub location: Option<(u64, u64)>,
    pub message: String,
}

/// What reading manifests gave: the objects of the kinds the gate knows, the kinds it does not
/// know (counted, not an error), and the files that could not be read.
#[derive(Debug, Clone, Default)]
pub struct ManifestSet {
    pub objects: Vec<ManifestObject>,
    pub ignored: usize,
    pub errors: Vec<ManifestError>,
    pub files: Vec<PathBuf>,
}

fn is_manifest_file(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// Every manifest file under `path` (a file, or a directory walked recursively, sorted).
/// `seen` holds the directories already walked: a symlink loop is walked once, not forever.
fn collect_files(
    path: &Path,
    out: &mut Vec<PathBuf>,
    errors: &mut Vec<ManifestError>,
    seen: &mut std::collections::HashSet<PathBuf>,
) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            errors.push(ManifestError { file: path.display().to_string(), location: None, message: e.to_string() });
            return;
        }
    };
    if meta.is_file() {
        out.push(path.to_path_buf());
        return;
    }
    if !seen.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())) {
        return;
    }
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            errors.push(ManifestError { file: path.display().to_string(), location: None, message: e.to_string() });
            return;
        }
    };
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            collect_files(&p, out, errors, seen);
        } else if is_manifest_file(&p) {
            out.push(p);
        }
    }
}

/// Which kinds' objects are kept; the others are still read (a bad object is an error
/// whatever its kind) but not converted or stored.
type Keep<'k> = &'k (dyn Fn(Kind) -> bool + Sync);

fn read_file(file: &Path, keep: Keep<'_>, set: &mut ManifestSet) {
    match std::fs::read_to_string(file) {
        Ok(text) => parse_kept(&text, file, keep, set),
        Err(e) => set.errors.push(ManifestError {
            file: file.display().to_string(),
            location: None,
            message: format!("cannot read: {e}"),
        }),
    }
    set.files.push(file.to_path_buf());
}

/// Below this many bytes of files, they are parsed on the calling thread.
const PARALLEL_FROM_BYTES: u64 = 512 * 1024;

/// Reads every path (files or directories).
pub fn read_paths(paths: &[PathBuf]) -> ManifestSet {
    read_paths_keeping(paths, &|_| true)
}

/// Reads every path, keeping the objects of the kinds `keep` accepts: every object is still
/// decoded (an unreadable one is an error with its file and line), but the others are dropped
/// as they are read instead of being held until the whole set is read.
pub fn read_paths_keeping(paths: &[PathBuf], keep: Keep<'_>) -> ManifestSet {
    let mut set = ManifestSet::default();
    let mut files = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in paths {
        collect_files(p, &mut files, &mut set.errors, &mut seen);
    }
    // Files are parsed on every core; the results are put together in file order, so the set
    // is the same whatever the timing.
    // A few hundred kB are parsed faster than threads start (each gets its own allocator heap).
    let bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let workers = if bytes < PARALLEL_FROM_BYTES {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8)
    };
    if workers == 1 {
        for file in &files {
            read_file(file, keep, &mut set);
        }
        return set;
    }
    let chunk = files.len().div_ceil(workers).max(1);
    let parts: Vec<ManifestSet> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|files| {
                (
                    files,
                    scope.spawn(move || {
                        let mut part = ManifestSet::default();
                        for file in files {
                            read_file(file, keep, &mut part);
                        }
                        part
                    }),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(files, h)| {
                // A reader that failed loses nothing silently: its files are errors.
                h.join().unwrap_or_else(|_| ManifestSet {
                    errors: files
                        .iter()
                        .map(|f| ManifestError {
                            file: f.display().to_string(),
                            location: None,
                            message: "internal error while reading this file".into(),
                        })
                        .collect(),
                    ..Default::default()
                })
            })
            .collect()
    });
    for part in parts {
        set.objects.extend(part.objects);
        set.ignored += part.ignored;
        set.errors.extend(part.errors);
        set.files.extend(part.files);
    }
    set
}

/// Parses one file's text (YAML or JSON, which is YAML too; several documents) into `set`,
/// reading each object as the API server would (docs/manifests.md).
pub fn parse_into(text: &str, file: &Path, set: &mut ManifestSet) {
    parse_kept(text, file, &|_| true, set)
}

fn parse_kept(text: &str, file: &Path, keep: Keep<'_>, set: &mut ManifestSet) {
    // A .json file is JSON, as kubectl reads it: strict syntax first (a stream of values).
    if file.extension().and_then(|e| e.to_str()) == Some("json") {
        let stream = serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
        for v in stream {
            if let Err(e) = v {
                set.errors.push(ManifestError {
                    file: file.display().to_string(),
                    // serde_json says column 0 at a line start; locations here are 1-based.
                    location: Some((e.line() as u64, e.column().max(1) as u64)),
                    message: format!("invalid JSON ({})", json_error_class(&e)),
                });
                return;
            }
        }
    }
    let docs = match yaml::documents(text) {
        Ok(d) => d,
        Err(e) => {
            set.errors.push(ManifestError {
                file: file.display().to_string(),
                location: e.pos.map(|p| (p.line, p.column)),
                message: e.message,
            });
            return;
        }
    };
    for (i, node) in docs.into_iter().flatten().enumerate() {
        add_document(&node, file, i + 1, None, keep, set);
    }
}

fn json_error_class(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Eof => "unexpected end of file",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Io => "read error",
    }
}

fn add_document(
    node: &Node,
    file: &Path,
    document: usize,
    list_type: Option<(&str, &str)>,
    keep: Keep<'_>,
    set: &mut ManifestSet,
) {
    let error = |set: &mut ManifestSet, pos: Pos, message: String| {
        set.errors.push(ManifestError {
            file: file.display().to_string(),
            location: Some((pos.line, pos.column)),
            message,
        });
    };
    if !matches!(node.value, NodeValue::Map(_)) {
        return error(set, node.pos, format!("document {document} is not a Kubernetes object (expected a mapping)"));
    }
    let field = |key: &str| node.get(key).and_then(Node::as_text).filter(|t| !t.is_empty());
    let (Some(api_version), Some(kind)) =
        (field("apiVersion").or(list_type.map(|t| t.0)), field("kind").or(list_type.map(|t| t.1)))
    else {
        return error(set, node.pos, format!("document {document} has no apiVersion or kind"));
    };
    // `kubectl get -o yaml` output and hand-written lists: a List (or FooList) of objects.
    if kind == "List"
        || (kind.ends_with("List") && matches!(node.get("items").map(|n| &n.value), Some(NodeValue::Seq(_))))
    {
        let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
        if let Some(NodeValue::Seq(items)) = node.get("items").map(|n| &n.value) {
            for item in items {
                // Items of a typed list (PodList) may omit their own apiVersion/kind.
                add_document(item, file, document, item_kind.map(|k| (api_version, k)), keep, set);
            }
        }
        return;
    }
    let Some(k) = Kind::from_type(api_version, kind) else {
        set.ignored += 1;
        return;
    };
    let kept = keep(k);
    let mut object = match decode_as(k, node, api_version, kind, kept) {
        Ok(v) => v,
        Err(e) => {
            let pos = e.pos.unwrap_or(node.pos);
            return error(set, pos, format!("document {document} ({kind}): {e}"));
        }
    };
    let meta = object.get("metadata");
    let named = ["name", "generateName"]
        .iter()
        .any(|f| meta.and_then(|m| m.get(*f)).and_then(Value::as_str).is_some_and(|s| !s.is_empty()));
    if !named {
        let pos = node.get("metadata").map_or(node.pos, |m| m.pos);
        return error(set, pos, format!("document {document} ({kind}) has no metadata.name"));
    }
    if !kept {
        return;
    }
    // Secret values never leave the loader: checks need key names only.
    if k == Kind::Secret {
        super::view::redact_secret(&mut object);
    }
    set.objects.push(ManifestObject { kind: k, object, file: file.to_path_buf(), document })
}

/// Reads an object into its Kubernetes type and back to JSON, so that every field has the type
/// the API gives it; the apiVersion and kind as written are kept (an older served version
/// decodes into the current type of the same shape). Kinds without a type here (CRDs) are read
/// with the YAML 1.2 core schema.
pub fn decode(kind: Kind, node: &Node, api_version: &str, kind_name: &str) -> Result<Value, NodeError> {
    decode_as(kind, node, api_version, kind_name, true)
}

/// As `decode`; with `whole` false, a typed object is checked as fully but only its name is
/// returned (`metadata.name` and `generateName`): the caller drops the object.
fn decode_as(kind: Kind, node: &Node, api_version: &str, kind_name: &str, whole: bool) -> Result<Value, NodeError> {
    use k8s_openapi::api::{apps, autoscaling, batch, core, networking, policy, rbac};
    fn typed_object<T>(node: &Node, whole: bool) -> Result<Value, NodeError>
    where
        T: k8s_openapi::Resource
            + k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>
            + serde::de::DeserializeOwned
            + serde::Serialize,
    {
        let t = T::deserialize(NodeDeserializer::with_type(node, T::API_VERSION, T::KIND))?;
        if !whole {
            let m = t.metadata();
            return Ok(serde_json::json!({"metadata": {"name": m.name, "generateName": m.generate_name}}));
        }
        serde_json::to_value(t).map_err(|e| <NodeError as serde::de::Error>::custom(e.to_string()))
    }
    let mut value = match kind {
        Kind::Namespace => typed_object::<core::v1::Namespace>(node, whole),
        Kind::Pod => typed_object::<core::v1::Pod>(node, whole),
        Kind::Deployment => typed_object::<apps::v1::Deployment>(node, whole),
        Kind::StatefulSet => typed_object::<apps::v1::StatefulSet>(node, whole),
        Kind::ReplicaSet => typed_object::<apps::v1::ReplicaSet>(node, whole),
        Kind::DaemonSet => typed_object::<apps::v1::DaemonSet>(node, whole),
        Kind::Job => typed_object::<batch::v1::Job>(node, whole),
        Kind::CronJob => typed_object::<batch::v1::CronJob>(node, whole),
        Kind::ReplicationController => typed_object::<core::v1::ReplicationController>(node, whole),
        Kind::Service => typed_object::<core::v1::Service>(node, whole),
        Kind::PodDisruptionBudget => typed_object::<policy::v1::PodDisruptionBudget>(node, whole),
        Kind::NetworkPolicy => typed_object::<networking::v1::NetworkPolicy>(node, whole),
        Kind::ConfigMap => typed_object::<core::v1::ConfigMap>(node, whole),
        Kind::Secret => typed_object::<core::v1::Secret>(node, whole),
        Kind::ServiceAccount => typed_object::<core::v1::ServiceAccount>(node, whole),
        Kind::Role => typed_object::<rbac::v1::Role>(node, whole),
        Kind::ClusterRole => typed_object::<rbac::v1::ClusterRole>(node, whole),
        Kind::RoleBinding => typed_object::<rbac::v1::RoleBinding>(node, whole),
        Kind::ClusterRoleBinding => typed_object::<rbac::v1::ClusterRoleBinding>(node, whole),
        Kind::LimitRange => typed_object::<core::v1::LimitRange>(node, whole),
        // v2beta2 has the shape of v2; v2beta1 (metrics with targetAverageUtilization) has no
        // type here and is read with the core schema, as CRDs are.
        Kind::HorizontalPodAutoscaler => match api_version {
            "autoscaling/v2" | "autoscaling/v2beta2" => {
                typed_object::<autoscaling::v2::HorizontalPodAutoscaler>(node, whole)
            }
            "autoscaling/v1" => typed_object::<autoscaling::v1::HorizontalPodAutoscaler>(node, whole),
            _ => Ok(node.to_json()),
        },
        Kind::PrometheusRule => Ok(node.to_json()),
    }?;
    if let Some(o) = value.as_object_mut() {
        o.insert("apiVersion".into(), Value::String(api_version.to_string()));
        o.insert("kind".into(), Value::String(kind_name.to_string()));
    }
    Ok(value)
}

/// Every object of a YAML or JSON text, read as the API server would: for tests and tools that
/// read corpora the same way the manifest loader does.
pub fn parse_objects(text: &str, name: &str) -> Result<Vec<Value>, Vec<ManifestError>> {
    let mut set = ManifestSet::default();
    parse_into(text, Path::new(name), &mut set);
    if set.errors.is_empty() { Ok(set.objects.into_iter().map(|o| o.object).collect()) } else { Err(set.errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, text: &str) -> ManifestSet {
        let mut set = ManifestSet::default();
        parse_into(text, Path::new(name), &mut set);
        set
    }

    #[test]
    fn multi_document_yaml_with_empty_docs_and_unknown_kinds() {
        let s = parse(
            "a.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\n---\napiVersion: example.com/v1\nkind: Widget\n---\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: x}\n",
        );
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        let kinds: Vec<Kind> = s.objects.iter().map(|o| o.kind).collect();
        assert_eq!(kinds, [Kind::Pod, Kind::PodDisruptionBudget]);
        // Empty documents are not counted.
        assert_eq!(s.objects[1].document, 3);
        assert_eq!(s.ignored, 1);
    }

    #[test]
    fn lists_and_typed_lists_are_flattened() {
        let s = parse(
            "l.yaml",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: b}\n",
        );
        assert_eq!(s.objects.len(), 2);
        let s = parse("p.json", r#"{"apiVersion":"v1","kind":"PodList","items":[{"metadata":{"name":"x"}}]}"#);
        assert_eq!(s.objects.len(), 1);
        assert_eq!(s.objects[0].kind, Kind::Pod);
    }

    #[test]
    fn hpas_of_every_version_decode() {
        let s = parse(
            "h.yaml",
            "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata: {name: a}\nspec:\n  scaleTargetRef: {kind: Deployment, name: d}\n  maxReplicas: 3\n\
             ---\napiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: b}\nspec:\n  scaleTargetRef: {kind: Deployment, name: d}\n  maxReplicas: 3\n  targetCPUUtilizationPercentage: 50\n\
             ---\napiVersion: autoscaling/v2beta1\nkind: HorizontalPodAutoscaler\nmetadata: {name: c}\nspec:\n  maxReplicas: 3\n  metrics: [{type: Resource, resource: {name: cpu, targetAverageUtilization: 70}}]\n",
        );
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        let versions: Vec<&str> = s.objects.iter().map(|o| o.object["apiVersion"].as_str().unwrap()).collect();
        assert_eq!(versions, ["autoscaling/v2beta2", "autoscaling/v1", "autoscaling/v2beta1"]);
        assert_eq!(s.objects[1].object["spec"]["targetCPUUtilizationPercentage"], 50);
        assert_eq!(s.objects[2].object["spec"]["metrics"][0]["resource"]["targetAverageUtilization"], 70);
        // Typed: a string where v2 declares an integer is an error with the line.
        let s = parse(
            "bad.yaml",
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: a}\nspec:\n  scaleTargetRef: {kind: Deployment, name: d}\n  maxReplicas: three\n",
        );
        assert_eq!(s.errors.len(), 1);
        assert!(s.errors[0].to_string().starts_with("bad.yaml:6:"), "{}", s.errors[0]);
    }

    #[test]
    fn bad_yaml_points_at_the_line_without_quoting_content() {
        let s =
            parse("bad.yaml", "apiVersion: v1\nkind: Secret\nstringData:\n  password: \"hunter2-canary\n  other: [\n");
        assert_eq!(s.errors.len(), 1);
        let msg = s.errors[0].to_string();
        assert!(msg.starts_with("bad.yaml:"), "{msg}");
        assert!(s.errors[0].location.is_some(), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let s = parse("bad.json", "{\"apiVersion\": \"v1\",\n \"kind\": }");
        assert_eq!(s.errors[0].location, Some((2, 10)));
        assert!(parse("n.yaml", "- 1\n- 2\n").errors[0].message.contains("not a Kubernetes object"));
        assert!(parse("n.yaml", "metadata: {}\n").errors[0].message.contains("no apiVersion or kind"));
    }
}
