//! Reading a spanned TOML tree (`toml::de::DeTable`) key by key. Every unknown key and every
//! mistyped value becomes a diagnostic at its span and reading goes on, so one run reports all.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use jiff::civil::Date;
use toml::de::{DeTable, DeValue};

use super::diagnostic::{Diagnostic, SourceFile, did_you_mean};

pub(crate) type Sp<T> = toml::Spanned<T>;

/// Collected diagnostics of one load.
#[derive(Debug, Default)]
pub(crate) struct Diags {
    pub list: Vec<Diagnostic>,
}

impl Diags {
    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }
    pub fn has_errors(&self) -> bool {
        self.list.iter().any(Diagnostic::is_error)
    }
}

/// A free-form parameter table (`[item.with]`, `[check.defaults]`) with the span of each key.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params {
    pub span: Range<usize>,
    pub table: toml::Table,
    pub key_spans: BTreeMap<String, Range<usize>>,
    /// Key and value spans of every parameter and nested entry, by path (`url`,
    /// `configmaps[1].namespace`, `headers.Authorization`): diagnostics point at the key and mask
    /// the value.
    pub paths: BTreeMap<String, (Range<usize>, Range<usize>)>,
}

/// Records the key and value span of every entry under `prefix`, recursively.
fn collect_paths(prefix: &str, v: &Sp<DeValue<'_>>, out: &mut BTreeMap<String, (Range<usize>, Range<usize>)>) {
    match v.get_ref() {
        DeValue::Table(t) => {
            for (k, x) in t.iter() {
                let path = format!("{prefix}.{}", k.get_ref());
                out.insert(path.clone(), (k.span(), x.span()));
                collect_paths(&path, x, out);
            }
        }
        DeValue::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let path = format!("{prefix}[{i}]");
                out.insert(path.clone(), (x.span(), x.span()));
                collect_paths(&path, x, out);
            }
        }
        _ => {}
    }
}

/// One table of the document, read key by key.
pub(crate) struct TableReader<'a, 'i> {
    pub file: &'a Arc<SourceFile>,
    table: &'a DeTable<'i>,
    /// The table's header (`[[item]]`) or inline-table span, where "missing key" points.
    pub span: Range<usize>,
    /// How the table is named in messages, e.g. "item" or "[launch]".
    what: &'static str,
}

impl<'a, 'i> TableReader<'a, 'i> {
    /// Reports every key of the table not in `known` (with a did-you-mean when one is close).
    pub fn new(
        file: &'a Arc<SourceFile>,
        table: &'a DeTable<'i>,
        span: Range<usize>,
        what: &'static str,
        known: &[&str],
        d: &mut Diags,
    ) -> Self {
        for (k, _) in table.iter() {
            let key: &str = k.get_ref();
            if known.contains(&key) {
                continue;
            }
            let help = match did_you_mean(key, known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known keys: {}", known.join(", ")),
            };
            d.push(
                Diagnostic::error(file, k.span(), format!("unknown key `{key}` in {what}"))
                    .label("unknown key")
                    .help(help),
            );
        }
        TableReader { file, table, span, what }
    }

    pub fn value(&self, key: &str) -> Option<&'a Sp<DeValue<'i>>> {
        self.table.get(key)
    }

    pub fn key_span(&self, key: &str) -> Option<Range<usize>> {
        self.table.get_key_value(key).map(|(k, _)| k.span())
    }

    fn wrong_type(&self, key: &str, expected: &str, v: &Sp<DeValue<'i>>, d: &mut Diags) {
        d.push(
            Diagnostic::error(
                self.file,
                v.span(),
                format!("`{key}` in {} must be {expected}, found {}", self.what, v.get_ref().type_str()),
            )
            .label(format!("expected {expected}")),
        );
    }

    pub fn missing(&self, key: &str, d: &mut Diags) {
        d.push(
            Diagnostic::error(self.file, self.span.clone(), format!("{} is missing `{key}`", self.what))
                .label(format!("this {} has no `{key}`", self.what.trim_start_matches('[').trim_end_matches(']'))),
        );
    }

    pub fn string(&self, key: &str, d: &mut Diags) -> Option<Sp<String>> {
        let v = self.value(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(Sp::new(v.span(), s.to_string())),
            _ => {
                self.wrong_type(key, "a string", v, d);
                None
            }
        }
    }

    /// A required, non-empty string.
    pub fn req_string(&self, key: &str, d: &mut Diags) -> Option<Sp<String>> {
        if self.value(key).is_none() {
            self.missing(key, d);
            return None;
        }
        let s = self.string(key, d)?;
        if s.get_ref().trim().is_empty() {
            d.push(
                Diagnostic::error(self.file, s.span(), format!("`{key}` in {} must not be empty", self.what))
                    .label("empty"),
            );
            return None;
        }
        Some(s)
    }

    /// An optional string that must not be empty when given.
    pub fn req_string_if_present(&self, key: &str, d: &mut Diags) -> Option<Sp<String>> {
        self.value(key)?;
        self.req_string(key, d)
    }

    pub fn string_list(&self, key: &str, d: &mut Diags) -> Option<Vec<Sp<String>>> {
        let v = self.value(key)?;
        let DeValue::Array(items) = v.get_ref() else {
            self.wrong_type(key, "a list of strings", v, d);
            return None;
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push(Sp::new(item.span(), s.to_string())),
                _ => {
                    self.wrong_type(key, "a list of strings", item, d);
                    return None;
                }
            }
        }
        Some(out)
    }

    /// A TOML local date (`2026-06-30`, no quotes).
    pub fn date(&self, key: &str, d: &mut Diags) -> Option<Sp<Date>> {
        let v = self.value(key)?;
        let expected = "a date such as 2026-06-30 (a TOML date, without quotes)";
        let DeValue::Datetime(dt) = v.get_ref() else {
            self.wrong_type(key, expected, v, d);
            return None;
        };
        let date = match (dt.date, dt.time, dt.offset) {
            (Some(date), None, None) => Date::new(date.year as i16, date.month as i8, date.day as i8).ok(),
            _ => None,
        };
        if date.is_none() {
            d.push(
                Diagnostic::error(self.file, v.span(), format!("`{key}` in {} must be {expected}", self.what))
                    .label("not a plain date"),
            );
        }
        date.map(|x| Sp::new(v.span(), x))
    }

    pub fn req_date(&self, key: &str, d: &mut Diags) -> Option<Sp<Date>> {
        if self.value(key).is_none() {
            self.missing(key, d);
            return None;
        }
        self.date(key, d)
    }

    /// A sub-table (a `[a.b]` header or an inline table) with its span.
    pub fn table(&self, key: &str, d: &mut Diags) -> Option<(&'a DeTable<'i>, Range<usize>)> {
        let v = self.value(key)?;
        match v.get_ref() {
            DeValue::Table(t) => Some((t, v.span())),
            _ => {
                self.wrong_type(key, "a table", v, d);
                None
            }
        }
    }

    /// An array of tables (`[[key]]`); anything else under `key` is an error.
    pub fn array_of_tables(&self, key: &str, d: &mut Diags) -> Vec<(&'a DeTable<'i>, Range<usize>)> {
        let Some(v) = self.value(key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match v.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::Table(t) => out.push((t, item.span())),
                        _ => self.wrong_type(key, &format!("a table (write [[{key}]])"), item, d),
                    }
                }
            }
            _ => self.wrong_type(key, &format!("an array of tables (write [[{key}]])"), v, d),
        }
        out
    }

    /// A free-form parameter table; its keys are checked later by the probe's parameter reader.
    pub fn params(&self, key: &str, d: &mut Diags) -> Option<Params> {
        let (t, span) = self.table(key, d)?;
        let mut params = Params { span, ..Params::default() };
        for (k, v) in t.iter() {
            let key = k.get_ref().to_string();
            params.key_spans.insert(key.clone(), k.span());
            params.paths.insert(key.clone(), (k.span(), v.span()));
            collect_paths(&key, v, &mut params.paths);
            params.table.insert(key, to_value(v.get_ref()));
        }
        Some(params)
    }
}

/// Ids are used on the command line (`--only`) and in reports, so they stay plain: lowercase
/// letters, digits, `.`, `-` and `_`, starting with a letter or digit.
pub(crate) fn valid_id(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
}

/// Converts a parsed value into a plain `toml::Value` (for probe parameters).
pub(crate) fn to_value(v: &DeValue<'_>) -> toml::Value {
    match v {
        DeValue::String(s) => toml::Value::String(s.to_string()),
        // The parser has already checked the digits; out-of-range integers were reported as
        // syntax errors, so the fallback is never reached for a document without errors.
        DeValue::Integer(i) => toml::Value::Integer(i64::from_str_radix(i.as_str(), i.radix()).unwrap_or_default()),
        DeValue::Float(f) => toml::Value::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => toml::Value::Boolean(*b),
        DeValue::Datetime(dt) => toml::Value::Datetime(*dt),
        DeValue::Array(a) => toml::Value::Array(a.iter().map(|x| to_value(x.get_ref())).collect()),
        DeValue::Table(t) => {
            toml::Value::Table(t.iter().map(|(k, x)| (k.get_ref().to_string(), to_value(x.get_ref()))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Arc<SourceFile>, Sp<DeTable<'_>>) {
        (SourceFile::new("t.toml", text), DeTable::parse(text).unwrap())
    }

    #[test]
    fn ids_stay_plain() {
        for ok in ["docs", "network.nats-isolated", "load.k6_baseline", "1st"] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in ["", "Docs", "docs runbook", ".docs", "-x", "docs/runbook", "é"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn every_unknown_key_is_reported() {
        let (f, t) = parse("titel = \"x\"\nowner = \"o\"\ncolour = 1\n");
        let mut d = Diags::default();
        let r = TableReader::new(&f, t.get_ref(), 0..0, "item", &["title", "owner"], &mut d);
        assert_eq!(r.string("owner", &mut d).map(Sp::into_inner), Some("o".to_string()));
        let msgs: Vec<_> = d.list.iter().map(|x| (x.message.as_str(), x.help.as_deref())).collect();
        assert_eq!(
            msgs,
            [
                ("unknown key `colour` in item", Some("known keys: title, owner")),
                ("unknown key `titel` in item", Some("did you mean `title`?")),
            ]
        );
    }

    #[test]
    fn dates_must_be_plain_toml_dates() {
        let (f, t) = parse("a = 2026-06-30\nb = \"2026-06-30\"\nc = 2026-06-30T10:00:00Z\n");
        let mut d = Diags::default();
        let r = TableReader::new(&f, t.get_ref(), 0..0, "waiver", &["a", "b", "c"], &mut d);
        assert_eq!(r.date("a", &mut d).map(Sp::into_inner), Some(jiff::civil::date(2026, 6, 30)));
        assert!(r.date("b", &mut d).is_none());
        assert!(r.date("c", &mut d).is_none());
        assert!(r.req_date("e", &mut d).is_none());
        assert_eq!(d.list.len(), 3, "{:?}", d.list);
        assert!(d.list[0].message.contains("found string"));
        assert_eq!(d.list[2].message, "waiver is missing `e`");
    }

    #[test]
    fn params_keep_values_and_key_spans() {
        let text = "[with]\npath = \"x\"\nn = 0x10\nf = 0.5\nl = [1, 2]\n";
        let (f, t) = parse(text);
        let mut d = Diags::default();
        let r = TableReader::new(&f, t.get_ref(), 0..0, "item", &["with"], &mut d);
        let p = r.params("with", &mut d).unwrap();
        assert_eq!(p.table["n"].as_integer(), Some(16));
        assert_eq!(p.table["f"].as_float(), Some(0.5));
        assert_eq!(p.table["l"].as_array().map(Vec::len), Some(2));
        assert_eq!(&text[p.key_spans["path"].clone()], "path");
        assert!(d.list.is_empty());
    }
}
