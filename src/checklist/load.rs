//! Loading a checklist: choosing the checklist and the catalog (built-in, a `checks/` directory
//! beside the checklist, or an explicit directory), reading them, validating, and the digest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::civil::Date;
use sha2::{Digest, Sha256};

use super::diagnostic::{Diagnostic, SourceFile};
use super::model::Checklist;
use super::raw::{parse_catalog_file, parse_checklist};
use super::spanned::Diags;
use super::validate::validate;

/// The default checklist, used when no checklist file is given.
pub const BUILT_IN_CHECKLIST: &str = include_str!("../../checklist.toml");

/// The built-in catalog: every file of the repository's `checks/` directory, by file name.
/// A test keeps this list in step with the directory, so a new catalog file cannot be forgotten.
pub const BUILT_IN_CATALOG: &[(&str, &str)] = &[
    ("alert-rules.toml", include_str!("../../checks/alert-rules.toml")),
    ("docs.toml", include_str!("../../checks/docs.toml")),
    ("hpa.toml", include_str!("../../checks/hpa.toml")),
    ("http.toml", include_str!("../../checks/http.toml")),
    ("load.toml", include_str!("../../checks/load.toml")),
    ("nats.toml", include_str!("../../checks/nats.toml")),
    ("netpol.toml", include_str!("../../checks/netpol.toml")),
    ("pdb.toml", include_str!("../../checks/pdb.toml")),
    ("pod-security.toml", include_str!("../../checks/pod-security.toml")),
    ("redis.toml", include_str!("../../checks/redis.toml")),
    ("scan.toml", include_str!("../../checks/scan.toml")),
    ("secrets.toml", include_str!("../../checks/secrets.toml")),
    ("slo.toml", include_str!("../../checks/slo.toml")),
    ("workloads.toml", include_str!("../../checks/workloads.toml")),
];

/// Display name of the built-in checklist (`Checklist::origin`).
pub const BUILT_IN_ORIGIN: &str = "<built-in>";

/// Which checklist to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChecklistSource {
    /// The checklist embedded in the binary.
    BuiltIn,
    /// A checklist file; a `checks/` directory beside it, if any, is its catalog.
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    pub source: ChecklistSource,
    /// The catalog directory (`*.toml` files), overriding both the built-in catalog and a
    /// `checks/` directory beside the checklist.
    pub catalog_dir: Option<PathBuf>,
    /// The date expiry of waivers and sign-offs is judged against.
    pub today: Date,
    /// `--set ITEM.PARAM=VALUE`: parameters laid over the items' `[item.with]` before validation.
    pub overrides: Vec<ParamOverride>,
}

/// One parameter of one item set on the command line (`--set ITEM.PARAM=VALUE`): validated with
/// the item's other parameters, by the same reader, so a URL in it is redacted like any other.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamOverride {
    pub item: String,
    pub key: String,
    pub value: toml::Value,
}

impl ParamOverride {
    /// `ITEM.PARAM=VALUE`: the item id is everything before the last `.` of the left side
    /// (item ids hold dots, parameter names do not). VALUE is read as a TOML value when it is
    /// one (`4222`, `true`, `["a", "b"]`, `"quoted"`), else taken as a string
    /// (`nats://10.96.0.7:4222`). The value is never echoed in an error.
    pub fn parse(arg: &str) -> Result<ParamOverride, String> {
        let Some((target, value)) = arg.split_once('=') else {
            return Err(format!("--set {:?}: expected ITEM.PARAM=VALUE", arg.split('=').next().unwrap_or("")));
        };
        let Some((item, key)) = target.rsplit_once('.').filter(|(i, k)| !i.is_empty() && !k.is_empty()) else {
            return Err(format!("--set {target}=...: expected ITEM.PARAM=VALUE (e.g. network.nats.port=4222)"));
        };
        if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(format!("--set {target}=...: {key:?} is not a parameter name"));
        }
        let value = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
            Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(value.to_string())),
            Err(_) => toml::Value::String(value.to_string()),
        };
        Ok(ParamOverride { item: item.to_string(), key: key.to_string(), value })
    }
}

/// A valid checklist and the non-fatal problems found in it (expired waivers and sign-offs,
/// empty categories), in file order.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub checklist: Checklist,
    pub warnings: Vec<Diagnostic>,
}

/// The catalog directory that applies to `opts`, or None for the built-in catalog.
pub fn catalog_dir_for(opts: &LoadOptions) -> Option<PathBuf> {
    if let Some(dir) = &opts.catalog_dir {
        return Some(dir.clone());
    }
    match &opts.source {
        ChecklistSource::BuiltIn => None,
        ChecklistSource::File(path) => {
            let beside = path.parent().unwrap_or(Path::new("")).join("checks");
            beside.is_dir().then_some(beside)
        }
    }
}

/// Loads and validates a checklist and its catalog. On failure, every problem found (errors and
/// warnings, in file order); on success, the checklist and the warnings.
pub fn load(opts: &LoadOptions) -> Result<Loaded, Vec<Diagnostic>> {
    let (checklist, origin) = match &opts.source {
        ChecklistSource::BuiltIn => (
            SourceFile::new(format!("{BUILT_IN_ORIGIN}/checklist.toml"), BUILT_IN_CHECKLIST),
            BUILT_IN_ORIGIN.to_string(),
        ),
        ChecklistSource::File(path) => {
            let name = path.display().to_string();
            match std::fs::read_to_string(path) {
                Ok(text) => (SourceFile::new(name.clone(), text), name),
                Err(e) => {
                    return Err(vec![Diagnostic::file_error(name, format!("cannot read the checklist: {e}"))]);
                }
            }
        }
    };
    let mut diags = Diags::default();
    let catalog = match catalog_dir_for(opts) {
        None => BUILT_IN_CATALOG
            .iter()
            .map(|(name, text)| (name.to_string(), SourceFile::new(format!("{BUILT_IN_ORIGIN}/checks/{name}"), *text)))
            .collect(),
        Some(dir) => read_catalog_dir(&dir, &mut diags)?,
    };
    load_files(checklist, catalog, origin, opts.today, &opts.overrides, diags)
}

/// Loads a checklist and catalog given as text: `(name, text)` pairs; names are used in
/// diagnostics, and the checklist's name is its origin.
pub fn load_from_strs(
    checklist: (&str, &str),
    catalog: &[(&str, &str)],
    today: Date,
) -> Result<Loaded, Vec<Diagnostic>> {
    let file = SourceFile::new(checklist.0, checklist.1);
    let catalog = catalog.iter().map(|(name, text)| (name.to_string(), SourceFile::new(*name, *text))).collect();
    load_files(file, catalog, checklist.0.to_string(), today, &[], Diags::default())
}

/// Every `*.toml` file of `dir`, sorted by file name.
fn read_catalog_dir(dir: &Path, d: &mut Diags) -> Result<Vec<(String, Arc<SourceFile>)>, Vec<Diagnostic>> {
    let dir_name = dir.display().to_string();
    let cannot =
        |e: std::io::Error| vec![Diagnostic::file_error(&dir_name, format!("cannot read the catalog directory: {e}"))];
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let path = entry.map_err(cannot)?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            names.push(path);
        }
    }
    names.sort();
    if names.is_empty() {
        d.push(Diagnostic::file_warning(&dir_name, "the catalog directory has no .toml files"));
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for path in names {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match std::fs::read_to_string(&path) {
            Ok(text) => out.push((name, SourceFile::new(path.display().to_string(), text))),
            Err(e) => errors.push(Diagnostic::file_error(path.display().to_string(), format!("cannot read: {e}"))),
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// sha256 over the checklist bytes followed by each catalog file's bytes in file-name order,
/// so it equals `cat checklist.toml checks/*.toml | sha256sum`.
fn digest(checklist: &SourceFile, catalog: &[(String, Arc<SourceFile>)]) -> String {
    let mut h = Sha256::new();
    h.update(checklist.text.as_bytes());
    for (_, f) in catalog {
        h.update(f.text.as_bytes());
    }
    hex::encode(h.finalize())
}

fn load_files(
    checklist: Arc<SourceFile>,
    mut catalog: Vec<(String, Arc<SourceFile>)>,
    origin: String,
    today: Date,
    overrides: &[ParamOverride],
    mut diags: Diags,
) -> Result<Loaded, Vec<Diagnostic>> {
    catalog.sort_by(|a, b| a.0.cmp(&b.0));
    let raw = parse_checklist(&checklist, &mut diags);
    let mut checks = Vec::new();
    let mut catalog_parsed = true;
    for (_, f) in &catalog {
        match parse_catalog_file(f, &mut diags) {
            Some(c) => checks.extend(c),
            None => catalog_parsed = false,
        }
    }
    // Cross-references are only checked when every file parsed: a catalog with a syntax error
    // would otherwise turn into a cascade of "unknown check" errors.
    let validated = match &raw {
        Some(raw) if catalog_parsed => validate(raw, &checks, today, overrides, &mut diags),
        _ => None,
    };
    let mut list = diags.list;
    let rank = |file: &str| {
        std::iter::once(&checklist.name).chain(catalog.iter().map(|(_, f)| &f.name)).position(|n| n == file)
    };
    list.sort_by_key(|d| (rank(&d.file), d.offset()));
    match validated {
        Some(v) if !list.iter().any(Diagnostic::is_error) => Ok(Loaded {
            checklist: Checklist {
                launch: v.launch,
                categories: v.categories,
                items: v.items,
                waivers: v.waivers,
                catalog: v.catalog,
                sha256: digest(&checklist, &catalog),
                origin,
            },
            warnings: list,
        }),
        _ => Err(list),
    }
}

#[cfg(test)]
mod tests {
    use super::ParamOverride;

    #[test]
    fn set_arguments_split_at_the_last_dot_and_read_toml_values() {
        let o = ParamOverride::parse("resources.nats-cluster.url=nats://10.96.0.7:4222").unwrap();
        assert_eq!((o.item.as_str(), o.key.as_str()), ("resources.nats-cluster", "url"));
        assert_eq!(o.value, toml::Value::String("nats://10.96.0.7:4222".into()));
        assert_eq!(ParamOverride::parse("a.port=4222").unwrap().value, toml::Value::Integer(4222));
        assert_eq!(ParamOverride::parse("a.live=false").unwrap().value, toml::Value::Boolean(false));
        let list = ParamOverride::parse(r#"a.deny_from=["default", "x"]"#).unwrap().value;
        assert_eq!(list.as_array().map(Vec::len), Some(2));
        assert_eq!(ParamOverride::parse(r#"a.b="2024""#).unwrap().value, toml::Value::String("2024".into()));
        assert_eq!(ParamOverride::parse("a.b=").unwrap().value, toml::Value::String(String::new()));
        for bad in ["nodot=1", "a.=1", ".b=1", "a.b", "a.b c=1"] {
            let e = ParamOverride::parse(bad).unwrap_err();
            assert!(e.starts_with("--set "), "{bad}: {e}");
        }
        // The value is never echoed.
        assert!(!ParamOverride::parse("x.y z=Secret123").unwrap_err().contains("Secret123"));
    }
}
