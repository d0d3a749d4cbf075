//! From raw files to the validated `Checklist`: cross-references (categories, check ids, waivers),
//! duplicate ids, merged and typed probe parameters, and dated warnings (expired waivers and
//! sign-offs). Every problem is collected before giving up.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use jiff::civil::Date;

use super::diagnostic::{Diagnostic, SourceFile, did_you_mean};
use super::model::{Category, CheckDef, FindingMatch, Item, ItemKind, Launch, Waiver};
use super::raw::{RawBody, RawCheck, RawChecklist, RawItem, RawMatch, RawSignoff};
use super::spanned::{Diags, Params, Sp};
use crate::codes::CodeKind;
use crate::probe::{ProbeKind, ProbeSpec};

/// The validated parts of a checklist, before origin and digest are attached.
pub(crate) struct Validated {
    pub launch: Launch,
    pub categories: Vec<Category>,
    pub items: Vec<Item>,
    pub waivers: Vec<Waiver>,
    pub catalog: Vec<Arc<CheckDef>>,
}

/// Where an id was first defined, for "duplicate id" errors that point at both.
struct FirstSeen<'a> {
    seen: BTreeMap<&'a str, (&'a Arc<SourceFile>, Range<usize>)>,
    what: &'static str,
}

impl<'a> FirstSeen<'a> {
    fn new(what: &'static str) -> Self {
        FirstSeen { seen: BTreeMap::new(), what }
    }

    /// Records `id`; false (and an error) when it was seen before.
    fn insert(&mut self, file: &'a Arc<SourceFile>, id: &'a Sp<String>, d: &mut Diags) -> bool {
        match self.seen.get(id.get_ref().as_str()) {
            Some((first_file, first_span)) => {
                d.push(
                    Diagnostic::error(file, id.span(), format!("duplicate {} id `{}`", self.what, id.get_ref()))
                        .label("defined again here")
                        .also(first_file, first_span.clone(), "first defined here"),
                );
                false
            }
            None => {
                self.seen.insert(id.get_ref(), (file, id.span()));
                true
            }
        }
    }
}

fn unknown_ref<'a>(
    file: &Arc<SourceFile>,
    value: &Sp<String>,
    what: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Diagnostic {
    let d = Diagnostic::error(file, value.span(), format!("unknown {what} `{}`", value.get_ref()))
        .label(format!("no such {what}"));
    match did_you_mean(value.get_ref(), known) {
        Some(m) => d.help(format!("did you mean `{m}`?")),
        None => d,
    }
}

/// Catalog checks by id; None for a check whose definition has errors (already reported), so
/// items using it are not reported a second time as using an unknown check.
type CatalogIndex<'a> = BTreeMap<&'a str, (Option<Arc<CheckDef>>, &'a RawCheck)>;

fn validate_catalog<'a>(checks: &'a [RawCheck], d: &mut Diags) -> CatalogIndex<'a> {
    let mut first = FirstSeen::new("check");
    let mut index = CatalogIndex::new();
    for c in checks {
        let Some(id) = &c.id else { continue };
        if !first.insert(&c.file, id, d) {
            continue;
        }
        let def = match (c.probe, &c.title, &c.description, &c.remediation) {
            (Some(probe), Some(title), Some(description), Some(remediation)) => Some(Arc::new(CheckDef {
                id: id.get_ref().clone(),
                probe,
                title: title.get_ref().clone(),
                description: description.get_ref().clone(),
                remediation: remediation.get_ref().clone(),
                defaults: c.defaults.table.clone(),
                source: c.file.name.clone(),
            })),
            _ => None,
        };
        index.insert(id.get_ref(), (def, c));
    }
    index
}

/// Merges catalog defaults with `[item.with]` (item keys win) and types them for the probe,
/// pointing each parameter error at the key in `[item.with]`, else at the catalog default,
/// else at the item.
fn item_spec(
    file: &Arc<SourceFile>,
    item: &RawItem,
    check_ref: &Sp<String>,
    def: &CheckDef,
    raw_check: &RawCheck,
    (with, set): (Option<&Params>, &[&super::load::ParamOverride]),
    d: &mut Diags,
) -> Option<ProbeSpec> {
    let mut merged = def.defaults.clone();
    if let Some(w) = with {
        merged.extend(w.table.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    for o in set {
        merged.insert(o.key.clone(), o.value.clone());
    }
    let errors = match ProbeSpec::parse(def.probe, &merged) {
        Ok(spec) => return Some(spec),
        Err(errors) => errors,
    };
    for e in errors {
        // A parameter set on the command line: the error names the flag, never the value.
        if let Some(o) = set.iter().find(|o| e.key.as_deref() == Some(o.key.as_str())) {
            d.push(Diagnostic::file_error(format!("--set {}.{}", o.item, o.key), &e.message));
            continue;
        }
        // The nested entry if the error names one, else the parameter; its key and value spans.
        let in_with = with.and_then(|w| spans_of(w, &e));
        let in_defaults = spans_of(&raw_check.defaults, &e);
        // A rejected value may be a credential pasted in the wrong place: never show it.
        let diag = match (in_with, in_defaults) {
            (Some((key, value)), _) => {
                Diagnostic::error(file, key.clone(), &e.message).label("in [item.with]").mask(value.clone())
            }
            (None, Some((key, value))) => Diagnostic::error(&raw_check.file, key.clone(), &e.message)
                .label(format!("default of check `{}`", def.id))
                .mask(value.clone())
                .also(file, check_ref.span(), "used by this item")
                .help("override it in the item's [item.with]"),
            (None, None) => {
                let name = item.id.as_ref().map_or("?", |i| i.get_ref().as_str());
                let mut diag = Diagnostic::error(file, item.span.clone(), &e.message)
                    .label(format!("item `{name}` (check `{}`)", def.id));
                if e.key.is_some() {
                    diag = diag.help("set it in the item's [item.with]");
                }
                diag
            }
        };
        d.push(diag);
    }
    None
}

/// The key and value spans of the entry a parameter error is about: the nested entry it names
/// if the parameters hold it, else its top-level parameter.
fn spans_of<'p>(p: &'p Params, e: &crate::probe::ParamError) -> Option<&'p (Range<usize>, Range<usize>)> {
    e.path.as_ref().and_then(|path| p.paths.get(path)).or_else(|| e.key.as_ref().and_then(|k| p.paths.get(k)))
}

/// A finding waiver's `match` against what the item's probe reports (`probe` None: a manual
/// item): the code must be a finding code of that probe (a gap is never waived), and `id` needs
/// a probe whose findings carry an id.
fn check_match(file: &Arc<SourceFile>, m: &RawMatch, probe: Option<ProbeKind>, d: &mut Diags) {
    let Some(probe) = probe else {
        d.push(
            Diagnostic::error(file, m.span.clone(), "a manual item has no findings to match")
                .label("manual item")
                .help("remove `match` to waive the pending item as a whole"),
        );
        return;
    };
    if let Some(code) = &m.code {
        let reported_by = |c: &crate::codes::CodeInfo| c.by.split(", ").any(|b| b == probe.as_str());
        let own: Vec<&str> = crate::codes::CODES
            .iter()
            .filter(|c| c.kind == CodeKind::Finding && reported_by(c))
            .map(|c| c.code)
            .collect();
        let problem = match crate::codes::info(code.get_ref()) {
            Some(c) if c.kind == CodeKind::Finding && reported_by(c) => None,
            Some(c) if c.kind == CodeKind::Gap => Some((
                format!("`{}` names something that could not be checked: gaps are never waived", code.get_ref()),
                "a gap, not a finding".to_string(),
            )),
            Some(c) if c.kind == CodeKind::Finding => Some((
                format!("the `{}` probe never reports `{}`", probe.as_str(), code.get_ref()),
                format!("reported by {}", c.by),
            )),
            _ => Some((format!("unknown finding code `{}`", code.get_ref()), "no such finding code".to_string())),
        };
        if let Some((message, label)) = problem {
            let help = match did_you_mean(code.get_ref(), own.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("the `{}` probe reports: {}", probe.as_str(), own.join(", ")),
            };
            d.push(Diagnostic::error(file, code.span(), message).label(label).help(help));
        }
    }
    if let Some(id) = &m.id
        && probe.finding_id_facts().is_empty()
    {
        d.push(
            Diagnostic::error(file, id.span(), format!("findings of the `{}` probe carry no id", probe.as_str()))
                .label("nothing to match")
                .help("match them by `code` and `object` (the finding's target) instead"),
        );
    }
    if let (Some(id), Some(known)) = (&m.id, probe.known_finding_ids())
        && !known.contains(&id.get_ref().as_str())
    {
        let help = match did_you_mean(id.get_ref(), known.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("the `{}` probe's ids: {}", probe.as_str(), known.join(", ")),
        };
        d.push(
            Diagnostic::error(
                file,
                id.span(),
                format!("no finding of the `{}` probe has the id `{}`", probe.as_str(), id.get_ref()),
            )
            .label("matches nothing")
            .help(help),
        );
    }
}

fn signoff_warnings(file: &Arc<SourceFile>, item_id: &str, s: &RawSignoff, today: Date, d: &mut Diags) {
    let Some(signoff) = &s.signoff else { return };
    if signoff.on > today {
        d.push(
            Diagnostic::warning(file, s.on_span.clone(), format!("sign-off of `{item_id}` is dated in the future"))
                .label(format!("after today ({today})")),
        );
    }
    if let (Some(exp), Some(span)) = (signoff.expires, &s.expires_span)
        && exp < today
    {
        d.push(
            Diagnostic::warning(file, span.clone(), format!("sign-off of `{item_id}` expired on {exp}"))
                .label("expired")
                .help("renew the sign-off; until then the item is pending"),
        );
    }
}

pub(crate) fn validate(
    raw: &RawChecklist,
    checks: &[RawCheck],
    today: Date,
    overrides: &[super::load::ParamOverride],
    d: &mut Diags,
) -> Option<Validated> {
    let file = &raw.file;
    let index = validate_catalog(checks, d);

    let mut first_cat = FirstSeen::new("category");
    for c in &raw.categories {
        if let Some(id) = &c.id {
            first_cat.insert(file, id, d);
        }
    }
    let category_ids: Vec<&str> =
        raw.categories.iter().filter_map(|c| c.id.as_ref()).map(|i| i.get_ref().as_str()).collect();

    let mut first_item = FirstSeen::new("item");
    let mut items = Vec::new();
    for item in &raw.items {
        if let Some(id) = &item.id {
            first_item.insert(file, id, d);
        }
        if let Some(cat) = &item.category
            && !category_ids.contains(&cat.get_ref().as_str())
        {
            d.push(unknown_ref(file, cat, "category", category_ids.iter().copied()));
        }
        let kind = match &item.body {
            RawBody::Invalid => None,
            RawBody::Manual { signoff } => {
                if let (Some(s), Some(id)) = (signoff, &item.id) {
                    signoff_warnings(file, id.get_ref(), s, today, d);
                }
                Some(ItemKind::Manual { signoff: signoff.as_ref().and_then(|s| s.signoff.clone()) })
            }
            RawBody::Check { id: check_ref, with } => match index.get(check_ref.get_ref().as_str()) {
                None => {
                    let help = match did_you_mean(check_ref.get_ref(), index.keys().copied()) {
                        Some(m) => format!("did you mean `{m}`? Checks are defined in the catalog (checks/*.toml)"),
                        None => format!(
                            "checks are defined in the catalog (checks/*.toml); known: {}",
                            index.keys().copied().collect::<Vec<_>>().join(", ")
                        ),
                    };
                    d.push(unknown_ref(file, check_ref, "check", []).help(help));
                    None
                }
                Some((None, _)) => None,
                Some((Some(def), raw_check)) => {
                    let set: Vec<_> =
                        overrides.iter().filter(|o| item.id.as_ref().is_some_and(|i| *i.get_ref() == o.item)).collect();
                    item_spec(file, item, check_ref, def, raw_check, (with.as_ref(), &set), d)
                        .map(|spec| ItemKind::Check { def: def.clone(), spec: Box::new(spec) })
                }
            },
        };
        if let (Some(id), Some(category), Some(title), Some(kind)) = (&item.id, &item.category, &item.title, kind) {
            items.push(Item {
                id: id.get_ref().clone(),
                category: category.get_ref().clone(),
                title: title.get_ref().clone(),
                severity: item.severity,
                owner: item.owner.as_ref().map(|o| o.get_ref().clone()),
                timeout: item.timeout,
                kind,
            });
        }
    }
    let item_ids: Vec<&str> = raw.items.iter().filter_map(|i| i.id.as_ref()).map(|i| i.get_ref().as_str()).collect();
    for o in overrides {
        let is_check = raw.items.iter().any(|i| {
            i.id.as_ref().is_some_and(|id| *id.get_ref() == o.item) && matches!(i.body, RawBody::Check { .. })
        });
        if !is_check {
            let known = match did_you_mean(&o.item, item_ids.iter().copied()) {
                Some(m) => format!(" (did you mean `{m}`?)"),
                None => String::new(),
            };
            d.push(Diagnostic::file_error(
                format!("--set {}.{}", o.item, o.key),
                format!("no check item `{}` in the checklist{known}", o.item),
            ));
        }
    }

    // The probe kind of each valid item (None: a manual item), for checking finding waivers.
    let probe_of: BTreeMap<&str, Option<ProbeKind>> = raw
        .items
        .iter()
        .filter_map(|i| {
            let id = i.id.as_ref()?.get_ref().as_str();
            match &i.body {
                RawBody::Manual { .. } => Some((id, None)),
                RawBody::Check { id: check, .. } => {
                    index.get(check.get_ref().as_str()).and_then(|(def, _)| def.as_ref()).map(|d| (id, Some(d.probe)))
                }
                RawBody::Invalid => None,
            }
        })
        .collect();
    let mut first_waiver = FirstSeen::new("waiver for item");
    let mut finding_waivers: Vec<(&str, FindingMatch, Range<usize>)> = Vec::new();
    let mut waivers = Vec::new();
    for w in &raw.waivers {
        let matches = w.matches.as_ref().and_then(RawMatch::to_model);
        if let Some(item) = &w.item {
            if !item_ids.contains(&item.get_ref().as_str()) {
                d.push(unknown_ref(file, item, "item", item_ids.iter().copied()).label("the waiver names no item"));
            } else if let (Some(raw_match), Some(m)) = (&w.matches, &matches) {
                if let Some(probe) = probe_of.get(item.get_ref().as_str()) {
                    check_match(file, raw_match, *probe, d);
                }
                let same = finding_waivers.iter().find(|(i, other, _)| *i == item.get_ref().as_str() && other == m);
                match same {
                    Some((_, _, first)) => d.push(
                        Diagnostic::error(
                            file,
                            raw_match.span.clone(),
                            format!("a second waiver for the same findings of `{}`", item.get_ref()),
                        )
                        .label("the same match again")
                        .also(file, first.clone(), "first here"),
                    ),
                    None => finding_waivers.push((item.get_ref().as_str(), m.clone(), raw_match.span.clone())),
                }
            } else if w.matches.is_none() {
                first_waiver.insert(file, item, d);
            }
        }
        if let (Some(exp), Some(item)) = (&w.expires, &w.item)
            && *exp.get_ref() < today
        {
            let what = match &matches {
                Some(m) => format!("waiver for `{}` ({m})", item.get_ref()),
                None => format!("waiver for `{}`", item.get_ref()),
            };
            d.push(
                Diagnostic::warning(file, exp.span(), format!("{what} expired on {}", exp.get_ref()))
                    .label("expired")
                    .help("an expired waiver no longer covers the item; renew it or fix the item"),
            );
        }
        if let (Some(item), Some(reason), Some(owner), Some(expires)) = (&w.item, &w.reason, &w.owner, &w.expires) {
            waivers.push(Waiver {
                item: item.get_ref().clone(),
                reason: reason.get_ref().clone(),
                owner: owner.get_ref().clone(),
                expires: *expires.get_ref(),
                ticket: w.ticket.as_ref().map(|t| t.get_ref().clone()),
                matches,
            });
        }
    }

    for c in &raw.categories {
        if let Some(id) = &c.id
            && !raw.items.iter().any(|i| i.category.as_ref().is_some_and(|x| x.get_ref() == id.get_ref()))
        {
            d.push(
                Diagnostic::warning(file, c.span.clone(), format!("category `{}` has no items", id.get_ref()))
                    .label("empty category"),
            );
        }
    }

    if d.has_errors() {
        return None;
    }
    let launch = raw.launch.as_ref()?;
    let categories = raw
        .categories
        .iter()
        .filter_map(|c| {
            Some(Category { id: c.id.as_ref()?.get_ref().clone(), title: c.title.as_ref()?.get_ref().clone() })
        })
        .collect();
    let catalog = index.into_values().filter_map(|(def, _)| def).collect();
    Some(Validated {
        launch: Launch {
            name: launch.name.as_ref()?.get_ref().clone(),
            approvers: launch.approvers.iter().map(|a| a.get_ref().clone()).collect(),
            description: launch.description.as_ref().map(|s| s.get_ref().clone()),
        },
        categories,
        items,
        waivers,
        catalog,
    })
}
