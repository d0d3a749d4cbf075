//! Finding rule files in their sources: plain Prometheus rule files, ConfigMaps holding rule
//! files under one or several data keys, PrometheusRule objects (monitoring.coreos.com), `List`
//! kinds and multi-document YAML; from files on disk or from objects fetched from a cluster.

use std::path::{Path, PathBuf};

use crate::outcome::Level;
use crate::rules::rulefmt::{Flavour, check_groups};
use crate::rules::yaml::{Node, parse_documents};
use crate::rules::{CheckError, CheckOptions, RuleEntry, RuleFinding, RuleSource, codes};

const RULE_FILE_EXTENSIONS: &[&str] = &["yaml", "yml", "json", "rules"];

/// The files to read for `path`: the file itself, or every rule-like file under a folder, sorted.
pub fn rule_files_under(path: &Path) -> Result<Vec<PathBuf>, CheckError> {
    let meta = std::fs::metadata(path).map_err(|source| CheckError::Read { path: path.to_path_buf(), source })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let read = std::fs::read_dir(&dir).map_err(|source| CheckError::Read { path: dir.clone(), source })?;
        for entry in read {
            let entry = entry.map_err(|source| CheckError::Read { path: dir.clone(), source })?;
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| RULE_FILE_EXTENSIONS.contains(&e)) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The rule entries of one file's text. A file named explicitly is read as a rule file even
/// without `groups:` (so that a unit-test file or a typo is reported, as promtool does); files
/// found in a folder count only when they hold rules.
pub fn entries_from_text(text: &str, file: &str, opts: &CheckOptions, explicit: bool) -> Vec<RuleEntry> {
    let file_source = RuleSource { file: Some(file.to_string()), ..Default::default() };
    let docs = match parse_documents(text) {
        Ok(d) => d,
        Err(e) => {
            let finding = RuleFinding::new(codes::FILE_UNPARSABLE, Level::Error, e.message, e.line);
            return vec![RuleEntry { source: file_source, findings: vec![finding], ..Default::default() }];
        }
    };
    let mut entries = Vec::new();
    for doc in &docs {
        entries.extend(entries_from_doc(doc, &file_source, opts, explicit));
    }
    if explicit && entries.is_empty() {
        let finding = RuleFinding::new(
            codes::NO_RULES,
            Level::Info,
            "no rules found (no rule groups, ConfigMap rule files or PrometheusRule objects)",
            None,
        );
        entries.push(RuleEntry { source: file_source, findings: vec![finding], ..Default::default() });
    }
    entries
}

/// The rule entries of objects fetched from a cluster (ConfigMaps, PrometheusRules, Lists).
pub fn entries_from_objects(objects: &[serde_json::Value], opts: &CheckOptions) -> Vec<RuleEntry> {
    objects.iter().flat_map(|o| entries_from_doc(&Node::from_json(o), &RuleSource::default(), opts, false)).collect()
}

fn str_at<'a>(node: &'a Node, path: &[&str]) -> Option<&'a str> {
    let mut n = node;
    for p in path {
        n = n.get(p)?;
    }
    n.as_str()
}

fn entries_from_doc(doc: &Node, base: &RuleSource, opts: &CheckOptions, explicit: bool) -> Vec<RuleEntry> {
    if doc.is_null() {
        return Vec::new();
    }
    let kind = str_at(doc, &["kind"]);
    let api_version = str_at(doc, &["apiVersion"]);
    let object_source = |kind: &str| RuleSource {
        kind: Some(kind.to_string()),
        namespace: str_at(doc, &["metadata", "namespace"]).map(str::to_string),
        name: str_at(doc, &["metadata", "name"]).map(str::to_string),
        ..base.clone()
    };
    match (kind, api_version) {
        (Some("PrometheusRule"), Some(v)) if v.starts_with("monitoring.coreos.com/") => {
            let spec = doc.get("spec").cloned().unwrap_or_else(|| Node::new(crate::rules::yaml::Value::Null));
            check_groups(&spec, &object_source("PrometheusRule"), opts, Flavour::PrometheusRule)
        }
        (Some("ConfigMap"), _) => configmap_entries(doc, object_source("ConfigMap"), opts),
        (Some(k), _) if k.ends_with("List") => doc
            .get("items")
            .and_then(Node::as_seq)
            .unwrap_or_default()
            .iter()
            .flat_map(|item| entries_from_doc(item, base, opts, false))
            .collect(),
        (Some(_), _) => Vec::new(),
        (None, _) if explicit || doc.get("groups").is_some() => check_groups(doc, base, opts, Flavour::RuleFile),
        (None, _) => Vec::new(),
    }
}

/// Each data key whose content is a rule file (a mapping with `groups:`). A key that does not
/// parse counts when its name says it holds rules (`*.rules`, `*rule*`, `*alert*`).
fn configmap_entries(doc: &Node, source: RuleSource, opts: &CheckOptions) -> Vec<RuleEntry> {
    let mut entries = Vec::new();
    let Some(data) = doc.get("data").and_then(Node::as_map) else {
        return entries;
    };
    for (k, v) in data {
        let (Some(key), Some(content)) = (k.scalar_text(), v.as_str()) else {
            continue;
        };
        let key_source = RuleSource { key: Some(key.clone()), ..source.clone() };
        let lower = key.to_lowercase();
        let named_as_rules = lower.ends_with(".rules") || lower.contains("rule") || lower.contains("alert");
        match parse_documents(content) {
            Ok(docs) => {
                for d in docs.iter().filter(|d| d.get("groups").is_some()) {
                    entries.extend(check_groups(d, &key_source, opts, Flavour::RuleFile));
                }
            }
            Err(e) if named_as_rules => {
                let finding = RuleFinding::new(codes::FILE_UNPARSABLE, Level::Error, e.message, e.line);
                entries.push(RuleEntry { source: key_source, findings: vec![finding], ..Default::default() });
            }
            Err(_) => {}
        }
    }
    entries
}
