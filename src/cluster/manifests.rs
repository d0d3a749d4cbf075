//! Manifest files as a source of objects: files or directories of YAML or JSON, multi-document,
//! `List` kinds and `kubectl get -o yaml` output. A bad file is a clear error with file and line;
//! the other files are still read.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::kinds::Kind;

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

/// Reads every path (files or directories).
pub fn read_paths(paths: &[PathBuf]) -> ManifestSet {
    let mut set = ManifestSet::default();
    let mut files = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in paths {
        collect_files(p, &mut files, &mut set.errors, &mut seen);
    }
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => parse_into(&text, &file, &mut set),
            Err(e) => set.errors.push(ManifestError {
                file: file.display().to_string(),
                location: None,
                message: format!("cannot read: {e}"),
            }),
        }
        set.files.push(file);
    }
    set
}

/// Parses one file's text (YAML or JSON; several documents) into `set`.
pub fn parse_into(text: &str, file: &Path, set: &mut ManifestSet) {
    let name = file.display().to_string();
    let docs: Vec<Value> = if file.extension().and_then(|e| e.to_str()) == Some("json") {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => vec![v],
            Err(e) => {
                set.errors.push(ManifestError {
                    file: name,
                    // serde_json says column 0 at a line start; locations here are 1-based.
                    location: Some((e.line() as u64, e.column().max(1) as u64)),
                    message: format!("invalid JSON ({})", json_error_class(&e)),
                });
                return;
            }
        }
    } else {
        match serde_saphyr::from_multiple::<Value>(text) {
            Ok(docs) => docs,
            Err(e) => {
                let location = e.location().map(|l| (l.line(), l.column()));
                set.errors.push(ManifestError { file: name, location, message: "invalid YAML".to_string() });
                return;
            }
        }
    };
    for (i, doc) in docs.into_iter().enumerate() {
        add_document(doc, file, i + 1, set);
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

fn add_document(doc: Value, file: &Path, document: usize, set: &mut ManifestSet) {
    if doc.is_null() {
        return; // an empty document (e.g. a trailing `---`)
    }
    let name = file.display().to_string();
    let Some(obj) = doc.as_object() else {
        set.errors.push(ManifestError {
            file: name,
            location: None,
            message: format!("document {document} is not a Kubernetes object (expected a mapping)"),
        });
        return;
    };
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version.is_empty() || kind.is_empty() {
        set.errors.push(ManifestError {
            file: name,
            location: None,
            message: format!("document {document} has no apiVersion or kind"),
        });
        return;
    }
    // `kubectl get -o yaml` output and hand-written lists: a List (or FooList) of objects.
    if kind == "List" || (kind.ends_with("List") && obj.get("items").is_some_and(Value::is_array)) {
        let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
        for item in obj.get("items").and_then(Value::as_array).cloned().unwrap_or_default() {
            let mut item = item;
            // Items of a typed list (PodList) may omit their own apiVersion/kind.
            if let (Some(o), Some(k)) = (item.as_object_mut(), item_kind) {
                o.entry("kind").or_insert_with(|| Value::String(k.to_string()));
                o.entry("apiVersion").or_insert_with(|| Value::String(api_version.to_string()));
            }
            add_document(item, file, document, set);
        }
        return;
    }
    match Kind::from_type(api_version, kind) {
        Some(k) => {
            let mut object = doc;
            // Secret values never leave the loader: checks need key names only.
            if k == Kind::Secret {
                super::view::redact_secret(&mut object);
            }
            set.objects.push(ManifestObject { kind: k, object, file: file.to_path_buf(), document })
        }
        None => set.ignored += 1,
    }
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
