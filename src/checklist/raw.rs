//! The raw form of `checklist.toml` and `checks/*.toml`: what each file says, with spans, after
//! every local rule (keys, types, severities, durations, manual-vs-check) and before any
//! cross-reference between items, categories, waivers and the catalog is checked.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use jiff::civil::Date;
use toml::de::DeTable;

use super::diagnostic::{Diagnostic, SourceFile, did_you_mean};
use super::model::{Severity, Signoff};
use super::spanned::{Diags, Params, Sp, TableReader, valid_id};
use crate::probe::ProbeKind;
use crate::probe::params::parse_duration;

// The keys each table accepts. The JSON schema is checked against these lists in tests.
pub(crate) const TOP_KEYS: &[&str] = &["launch", "category", "item", "waiver"];
pub(crate) const LAUNCH_KEYS: &[&str] = &["name", "description", "approvers"];
pub(crate) const CATEGORY_KEYS: &[&str] = &["id", "title"];
pub(crate) const ITEM_KEYS: &[&str] =
    &["id", "category", "title", "check", "kind", "severity", "owner", "timeout", "with", "signoff"];
pub(crate) const SIGNOFF_KEYS: &[&str] = &["by", "on", "evidence", "expires"];
pub(crate) const WAIVER_KEYS: &[&str] = &["item", "reason", "owner", "expires", "ticket", "match"];
pub(crate) const MATCH_KEYS: &[&str] = &["code", "object", "id"];
pub(crate) const CATALOG_KEYS: &[&str] = &["check"];
pub(crate) const CHECK_KEYS: &[&str] = &["id", "probe", "title", "description", "remediation", "defaults"];

pub(crate) struct RawChecklist {
    pub file: Arc<SourceFile>,
    pub launch: Option<RawLaunch>,
    pub categories: Vec<RawCategory>,
    pub items: Vec<RawItem>,
    pub waivers: Vec<RawWaiver>,
}

pub(crate) struct RawLaunch {
    pub name: Option<Sp<String>>,
    pub description: Option<Sp<String>>,
    pub approvers: Vec<Sp<String>>,
}

pub(crate) struct RawCategory {
    pub span: Range<usize>,
    pub id: Option<Sp<String>>,
    pub title: Option<Sp<String>>,
}

pub(crate) struct RawSignoff {
    /// Complete when by, on and evidence are all present.
    pub signoff: Option<Signoff>,
    pub on_span: Range<usize>,
    pub expires_span: Option<Range<usize>>,
}

pub(crate) enum RawBody {
    Check {
        id: Sp<String>,
        with: Option<Params>,
    },
    Manual {
        signoff: Option<RawSignoff>,
    },
    /// Neither a valid check nor a valid manual item (already reported).
    Invalid,
}

pub(crate) struct RawItem {
    pub span: Range<usize>,
    pub id: Option<Sp<String>>,
    pub category: Option<Sp<String>>,
    pub title: Option<Sp<String>>,
    pub severity: Severity,
    pub owner: Option<Sp<String>>,
    pub timeout: Option<Duration>,
    pub body: RawBody,
}

pub(crate) struct RawWaiver {
    pub item: Option<Sp<String>>,
    pub reason: Option<Sp<String>>,
    pub owner: Option<Sp<String>>,
    pub expires: Option<Sp<Date>>,
    pub ticket: Option<Sp<String>>,
    /// `match = { ... }`: None when absent; Some with nothing set when it named no key (reported).
    pub matches: Option<RawMatch>,
}

/// A waiver's `match` table, each value with its span.
pub(crate) struct RawMatch {
    pub span: Range<usize>,
    pub code: Option<Sp<String>>,
    pub object: Option<Sp<String>>,
    pub id: Option<Sp<String>>,
}

impl RawMatch {
    /// The match as the model holds it; None when no key was given (or none was valid).
    pub fn to_model(&self) -> Option<super::model::FindingMatch> {
        let get = |v: &Option<Sp<String>>| v.as_ref().map(|s| s.get_ref().clone());
        let m = super::model::FindingMatch { code: get(&self.code), object: get(&self.object), id: get(&self.id) };
        (m.code.is_some() || m.object.is_some() || m.id.is_some()).then_some(m)
    }
}

pub(crate) struct RawCheck {
    pub file: Arc<SourceFile>,
    pub id: Option<Sp<String>>,
    pub probe: Option<ProbeKind>,
    pub title: Option<Sp<String>>,
    pub description: Option<Sp<String>>,
    pub remediation: Option<Sp<String>>,
    pub defaults: Params,
}

/// Parses the document, reporting every syntax error; None when there was any.
fn parse_document<'i>(file: &Arc<SourceFile>, text: &'i str, d: &mut Diags) -> Option<DeTable<'i>> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if errors.is_empty() {
        return Some(doc.into_inner());
    }
    for e in errors {
        let span = e.span().unwrap_or(0..0);
        d.push(Diagnostic::error(file, span, format!("invalid TOML: {}", e.message())).label("here"));
    }
    None
}

/// Ids are used on the command line (`--only`) and in reports, so they stay plain.
fn check_id(file: &Arc<SourceFile>, id: &Sp<String>, what: &str, d: &mut Diags) {
    let s = id.get_ref();
    if !valid_id(s) {
        d.push(
            Diagnostic::error(file, id.span(), format!("invalid {what} id `{s}`"))
                .label("not a valid id")
                .help("ids use lowercase letters, digits, `.`, `-` and `_`, e.g. `network.nats-isolated`"),
        );
    }
}

fn req_id(r: &TableReader, what: &str, d: &mut Diags) -> Option<Sp<String>> {
    let id = r.req_string("id", d)?;
    check_id(r.file, &id, what, d);
    Some(id)
}

/// Parses `checklist.toml`. None only on TOML syntax errors; other problems are in `d`.
pub(crate) fn parse_checklist(file: &Arc<SourceFile>, d: &mut Diags) -> Option<RawChecklist> {
    let text = file.text.clone();
    let doc = parse_document(file, &text, d)?;
    let top = TableReader::new(file, &doc, 0..0, "checklist", TOP_KEYS, d);
    let launch = match top.table("launch", d) {
        Some((t, span)) => Some(parse_launch(&TableReader::new(file, t, span, "[launch]", LAUNCH_KEYS, d), d)),
        None => {
            if top.value("launch").is_none() {
                d.push(
                    Diagnostic::error(file, 0..0, "the checklist has no [launch] table")
                        .help("add [launch] with `name` and `approvers`"),
                );
            }
            None
        }
    };
    let categories = top
        .array_of_tables("category", d)
        .into_iter()
        .map(|(t, span)| {
            let r = TableReader::new(file, t, span.clone(), "category", CATEGORY_KEYS, d);
            RawCategory { span, id: req_id(&r, "category", d), title: r.req_string("title", d) }
        })
        .collect();
    let items = top
        .array_of_tables("item", d)
        .into_iter()
        .map(|(t, span)| parse_item(&TableReader::new(file, t, span, "item", ITEM_KEYS, d), d))
        .collect();
    let waivers = top
        .array_of_tables("waiver", d)
        .into_iter()
        .map(|(t, span)| {
            let r = TableReader::new(file, t, span, "waiver", WAIVER_KEYS, d);
            RawWaiver {
                item: r.req_string("item", d),
                reason: r.req_string("reason", d),
                owner: r.req_string("owner", d),
                expires: r.req_date("expires", d),
                ticket: r.string("ticket", d),
                matches: parse_match(&r, d),
            }
        })
        .collect();
    Some(RawChecklist { file: file.clone(), launch, categories, items, waivers })
}

/// A waiver's `match`: unknown keys are errors (with did-you-mean), and so is a match naming no key.
fn parse_match(r: &TableReader, d: &mut Diags) -> Option<RawMatch> {
    let (t, span) = r.table("match", d)?;
    let m = TableReader::new(r.file, t, span.clone(), "waiver `match`", MATCH_KEYS, d);
    let raw = RawMatch {
        span: span.clone(),
        code: m.req_string_if_present("code", d),
        object: m.req_string_if_present("object", d),
        id: m.req_string_if_present("id", d),
    };
    if t.is_empty() {
        d.push(
            Diagnostic::error(r.file, span, "`match` names no finding")
                .label("empty match")
                .help("give at least one of `code`, `object`, `id`, or remove `match` to waive the whole item"),
        );
    }
    Some(raw)
}

fn parse_launch(r: &TableReader, d: &mut Diags) -> RawLaunch {
    let name = r.req_string("name", d);
    let description = r.string("description", d);
    let approvers = match r.value("approvers") {
        None => {
            r.missing("approvers", d);
            Vec::new()
        }
        Some(v) => {
            let list = r.string_list("approvers", d);
            if list.as_ref().is_some_and(Vec::is_empty) {
                d.push(Diagnostic::error(r.file, v.span(), "[launch] needs at least one approver").label("empty list"));
            }
            list.unwrap_or_default()
        }
    };
    RawLaunch { name, description, approvers }
}

fn parse_severity(r: &TableReader, d: &mut Diags) -> Severity {
    const ALL: [Severity; 3] = [Severity::Blocking, Severity::Warning, Severity::Info];
    let Some(s) = r.string("severity", d) else {
        return Severity::Blocking;
    };
    if let Some(sev) = ALL.iter().copied().find(|x| x.as_str() == s.get_ref()) {
        return sev;
    }
    let mut diag = Diagnostic::error(r.file, s.span(), format!("unknown severity `{}`", s.get_ref()))
        .label("expected blocking, warning or info");
    if let Some(m) = did_you_mean(s.get_ref(), ALL.iter().map(|x| x.as_str())) {
        diag = diag.help(format!("did you mean `{m}`?"));
    }
    d.push(diag);
    Severity::Blocking
}

fn parse_timeout(r: &TableReader, d: &mut Diags) -> Option<Duration> {
    let s = r.string("timeout", d)?;
    match parse_duration(s.get_ref()) {
        Ok(t) if t.is_zero() => {
            d.push(Diagnostic::error(r.file, s.span(), "`timeout` must be longer than zero").label("zero"));
            None
        }
        Ok(t) => Some(t),
        Err(e) => {
            d.push(Diagnostic::error(r.file, s.span(), format!("bad `timeout`: {e}")).label("not a duration"));
            None
        }
    }
}

fn parse_signoff(r: &TableReader, d: &mut Diags) -> Option<RawSignoff> {
    let (t, span) = r.table("signoff", d)?;
    let s = TableReader::new(r.file, t, span.clone(), "sign-off", SIGNOFF_KEYS, d);
    let by = s.req_string("by", d);
    let on = s.req_date("on", d);
    let evidence = s.req_string("evidence", d);
    let expires = s.date("expires", d);
    let on_span = on.as_ref().map_or(span, Sp::span);
    let expires_span = expires.as_ref().map(Sp::span);
    if let (Some(on), Some(exp)) = (&on, &expires)
        && exp.get_ref() < on.get_ref()
    {
        d.push(
            Diagnostic::error(r.file, exp.span(), "the sign-off expires before it was given")
                .label(format!("before {}", on.get_ref()))
                .also(r.file, on.span(), "signed off on this date"),
        );
    }
    let signoff = match (by, on, evidence) {
        (Some(by), Some(on), Some(evidence)) => Some(Signoff {
            by: by.into_inner(),
            on: on.into_inner(),
            evidence: evidence.into_inner(),
            expires: expires.map(Sp::into_inner),
        }),
        _ => None,
    };
    Some(RawSignoff { signoff, on_span, expires_span })
}

fn parse_item(r: &TableReader, d: &mut Diags) -> RawItem {
    let id = req_id(r, "item", d);
    let category = r.req_string("category", d);
    let title = r.req_string("title", d);
    let severity = parse_severity(r, d);
    let owner = r.string("owner", d);
    let timeout = parse_timeout(r, d);
    let check = r.string("check", d);
    let kind = r.string("kind", d);
    let with = r.params("with", d);
    let signoff = parse_signoff(r, d);
    let manual = match &kind {
        None => false,
        Some(k) if k.get_ref() == "manual" => true,
        Some(k) => {
            d.push(
                Diagnostic::error(r.file, k.span(), format!("unknown item kind `{}`", k.get_ref()))
                    .label("the only kind is \"manual\"")
                    .help("items verified by a probe name a catalog check with `check = \"...\"` instead"),
            );
            let body = RawBody::Invalid;
            return RawItem { span: r.span.clone(), id, category, title, severity, owner, timeout, body };
        }
    };
    let err = |span: Range<usize>, msg: &str, label: &str| Diagnostic::error(r.file, span, msg).label(label);
    let body = if manual {
        if let Some(c) = &check {
            let span = r.key_span("check").unwrap_or(c.span());
            d.push(err(span, "a manual item cannot name a check", "remove `check` or `kind = \"manual\"`"));
        }
        if let Some(w) = &with {
            let span = r.key_span("with").unwrap_or(w.span.clone());
            d.push(err(span, "a manual item takes no parameters", "`with` is for checks"));
        }
        if timeout.is_some()
            && let Some(span) = r.key_span("timeout")
        {
            d.push(err(span, "a manual item has no timeout", "`timeout` is for checks"));
        }
        if check.is_some() || with.is_some() { RawBody::Invalid } else { RawBody::Manual { signoff } }
    } else if let Some(check) = check {
        if signoff.is_some() {
            let span = r.key_span("signoff").unwrap_or(r.span.clone());
            d.push(
                err(span, "a sign-off belongs to a manual item", "this item names a check")
                    .help("for a manual item, write `kind = \"manual\"` and remove `check`"),
            );
            RawBody::Invalid
        } else {
            RawBody::Check { id: check, with }
        }
    } else if signoff.is_some() {
        d.push(
            err(r.span.clone(), "item has a sign-off but no `kind = \"manual\"`", "add `kind = \"manual\"`")
                .help("manual items are marked with `kind = \"manual\"`"),
        );
        RawBody::Invalid
    } else if r.value("check").is_some() || r.value("kind").is_some() {
        // `check` or `kind` is there but mistyped: already reported.
        RawBody::Invalid
    } else {
        d.push(
            err(r.span.clone(), "item has neither `check` nor `kind = \"manual\"`", "what verifies this item?")
                .help("name a catalog check (`check = \"docs.file\"`) or mark it `kind = \"manual\"`"),
        );
        RawBody::Invalid
    };
    RawItem { span: r.span.clone(), id, category, title, severity, owner, timeout, body }
}

/// Parses one catalog file (`checks/*.toml`). None on TOML syntax errors (reported in `d`).
pub(crate) fn parse_catalog_file(file: &Arc<SourceFile>, d: &mut Diags) -> Option<Vec<RawCheck>> {
    let text = file.text.clone();
    let doc = parse_document(file, &text, d)?;
    let top = TableReader::new(file, &doc, 0..0, "catalog file", CATALOG_KEYS, d);
    let mut out = Vec::new();
    for (t, span) in top.array_of_tables("check", d) {
        let r = TableReader::new(file, t, span.clone(), "check", CHECK_KEYS, d);
        let id = req_id(&r, "check", d);
        let probe = match r.value("probe") {
            None => {
                r.missing("probe", d);
                None
            }
            Some(_) => r.string("probe", d).and_then(|p| {
                let kind = ProbeKind::parse(p.get_ref());
                if kind.is_none() {
                    let known: Vec<&str> = ProbeKind::ALL.iter().map(|k| k.as_str()).collect();
                    let mut diag = Diagnostic::error(file, p.span(), format!("unknown probe kind `{}`", p.get_ref()))
                        .label("no such probe")
                        .help(format!("probe kinds: {}", known.join(", ")));
                    if let Some(m) = did_you_mean(p.get_ref(), known.iter().copied()) {
                        diag = diag.help(format!("did you mean `{m}`? probe kinds: {}", known.join(", ")));
                    }
                    d.push(diag);
                }
                kind
            }),
        };
        out.push(RawCheck {
            file: file.clone(),
            id,
            probe,
            title: r.req_string("title", d),
            description: r.req_string("description", d),
            remediation: r.req_string("remediation", d),
            defaults: r.params("defaults", d).unwrap_or_else(|| Params { span, ..Params::default() }),
        });
    }
    if top.value("check").is_none() {
        d.push(Diagnostic::warning(file, 0..0, "catalog file defines no checks").help("add [[check]] tables"));
    }
    Some(out)
}
