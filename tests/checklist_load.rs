//! Loading valid checklists: the model built from the file (ids, severities, dates, merged
//! parameters), warnings, the catalog location rule, the digest, the embedded default checklist
//! and catalog, and the JSON schema.

use std::path::Path;
use std::time::Duration;

use jiff::civil::{Date, date};
use kgents_gate::checklist::{
    BUILT_IN_CATALOG, BUILT_IN_CHECKLIST, BUILT_IN_ORIGIN, ChecklistSource, DiagLevel, ItemKind, LoadOptions, Loaded,
    Severity, checklist_json_schema, load, load_from_strs,
};
use kgents_gate::probe::file::FileParams;
use kgents_gate::probe::load_baseline::LoadBaselineParams;
use kgents_gate::probe::{ProbeKind, ProbeSpec};
use sha2::{Digest, Sha256};

const TODAY: Date = date(2026, 11, 23);

const DOCS: &str = r#"
[[check]]
id = "docs.file"
probe = "file"
title = "Document exists"
description = "The document exists."
remediation = "Write it."
[check.defaults]
non_empty = false
headings = ["Overview"]
"#;

const LOAD: &str = r#"
[[check]]
id = "load.k6-baseline"
probe = "load-baseline"
title = "Load baseline"
description = "k6 summary against thresholds."
remediation = "Run it again."
[check.defaults]
path = "load-test-results.json"
min_rps = 50
max_p95_ms = 500
"#;

const CHECKLIST: &str = r#"
[launch]
name = "kgents SaaS production launch"
description = "Agents and billing."
approvers = ["platform-lead", "security-lead"]

[[category]]
id = "docs"
title = "Documentation"

[[category]]
id = "load"
title = "Load testing"

[[item]]
id = "docs.runbook"
category = "docs"
title = "Runbook exists"
check = "docs.file"
severity = "warning"
owner = "ops"
timeout = "1m30s"
[item.with]
path = "docs/saas/runbook.md"
headings = ["On-call", "Rollback"]

[[item]]
id = "load.baseline"
category = "load"
title = "Baseline"
check = "load.k6-baseline"
[item.with]
min_rps = 100
max_error_rate = 0.01

[[item]]
id = "docs.runbook-reviewed"
category = "docs"
title = "Runbook reviewed"
kind = "manual"
severity = "info"
signoff = { by = "ops-lead", on = 2026-11-14, evidence = "docs/saas/runbook.md", expires = 2027-05-14 }

[[item]]
id = "docs.pending"
category = "docs"
title = "Not yet signed"
kind = "manual"

[[waiver]]
item = "docs.pending"
reason = "Loki deferred; kubectl logs is adequate for launch"
owner = "ops-lead"
expires = 2027-03-31
ticket = "OPS-142"
"#;

fn load_ok(checklist: &str, today: Date) -> Loaded {
    match load_from_strs(("checklist.toml", checklist), &[("docs.toml", DOCS), ("load.toml", LOAD)], today) {
        Ok(l) => l,
        Err(d) => panic!("{}", d.iter().map(|x| x.render(false)).collect::<Vec<_>>().join("\n")),
    }
}

#[test]
fn valid_checklist_round_trips_into_the_model() {
    let Loaded { checklist: c, warnings } = load_ok(CHECKLIST, TODAY);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.launch.name, "kgents SaaS production launch");
    assert_eq!(c.launch.approvers, ["platform-lead", "security-lead"]);
    assert_eq!(c.launch.description.as_deref(), Some("Agents and billing."));
    assert_eq!(c.categories.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(), ["docs", "load"]);
    let ids: Vec<_> = c.items.iter().map(|i| (i.id.as_str(), i.category.as_str(), i.severity)).collect();
    assert_eq!(
        ids,
        [
            ("docs.runbook", "docs", Severity::Warning),
            ("load.baseline", "load", Severity::Blocking),
            ("docs.runbook-reviewed", "docs", Severity::Info),
            ("docs.pending", "docs", Severity::Blocking),
        ]
    );

    let runbook = c.item("docs.runbook").unwrap();
    assert_eq!(runbook.owner.as_deref(), Some("ops"));
    assert_eq!(runbook.timeout, Some(Duration::from_secs(90)));
    let ItemKind::Check { def, spec } = &runbook.kind else { panic!("not a check") };
    assert_eq!((def.id.as_str(), def.probe, def.source.as_str()), ("docs.file", ProbeKind::File, "docs.toml"));
    // Item keys win over catalog defaults; defaults fill the rest.
    assert_eq!(
        &**spec,
        &ProbeSpec::File(FileParams {
            path: "docs/saas/runbook.md".into(),
            headings: vec!["On-call".into(), "Rollback".into()],
            non_empty: false,
        })
    );
    let ItemKind::Check { spec, .. } = &c.item("load.baseline").unwrap().kind else { panic!("not a check") };
    assert_eq!(
        &**spec,
        &ProbeSpec::LoadBaseline(LoadBaselineParams {
            path: "load-test-results.json".into(),
            min_rps: Some(100.0),
            max_error_rate: Some(0.01),
            max_p95_ms: Some(500.0),
        })
    );

    let ItemKind::Manual { signoff: Some(s) } = &c.item("docs.runbook-reviewed").unwrap().kind else {
        panic!("no sign-off")
    };
    assert_eq!((s.by.as_str(), s.on, s.expires), ("ops-lead", date(2026, 11, 14), Some(date(2027, 5, 14))));
    assert_eq!(c.item("docs.pending").unwrap().kind, ItemKind::Manual { signoff: None });

    assert_eq!(c.waivers.len(), 1);
    let w = &c.waivers[0];
    assert_eq!((w.item.as_str(), w.owner.as_str(), w.expires), ("docs.pending", "ops-lead", date(2027, 3, 31)));
    assert_eq!(w.ticket.as_deref(), Some("OPS-142"));

    let catalog: Vec<_> = c.catalog.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(catalog, ["docs.file", "load.k6-baseline"]);
    assert_eq!(c.origin, "checklist.toml");
    let expected = hex::encode(Sha256::digest(format!("{CHECKLIST}{DOCS}{LOAD}")));
    assert_eq!(c.sha256, expected);
}

#[test]
fn expired_waivers_and_sign_offs_and_empty_categories_are_warnings() {
    let text = CHECKLIST.replace("expires = 2027-05-14", "expires = 2027-02-01").replace(
        "[[category]]\nid = \"load\"",
        "[[category]]\nid = \"network\"\ntitle = \"Network\"\n\n[[category]]\nid = \"load\"",
    );
    let later = date(2027, 4, 1);
    let loaded = load_ok(&text, later);
    let msgs: Vec<_> = loaded.warnings.iter().map(|w| (w.level, w.line, w.message.as_str())).collect();
    assert_eq!(
        msgs,
        [
            (DiagLevel::Warning, 11, "category `network` has no items"),
            (DiagLevel::Warning, 46, "sign-off of `docs.runbook-reviewed` expired on 2027-02-01"),
            (DiagLevel::Warning, 58, "waiver for `docs.pending` expired on 2027-03-31"),
        ]
    );
    insta::assert_snapshot!(loaded.warnings.iter().map(|w| w.render(false)).collect::<Vec<_>>().join("\n\n"));
    // The day of expiry itself is still valid.
    let on_the_day = load_ok(&CHECKLIST.replace("2027-05-14", "2027-03-31"), date(2027, 3, 31));
    assert!(on_the_day.warnings.is_empty(), "{:?}", on_the_day.warnings);
}

#[test]
fn embedded_default_checklist_and_catalog_validate_cleanly() {
    let opts = LoadOptions { source: ChecklistSource::BuiltIn, catalog_dir: None, today: TODAY, overrides: vec![] };
    let loaded = load(&opts).unwrap_or_else(|d| panic!("{}", d.iter().map(|x| x.render(false)).collect::<String>()));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = &loaded.checklist;
    assert_eq!(c.origin, BUILT_IN_ORIGIN);
    let cats: Vec<_> = c.categories.iter().map(|x| x.title.as_str()).collect();
    assert_eq!(
        cats,
        [
            "Secrets management",
            "Network policies",
            "Resource limits",
            "Observability",
            "Disaster recovery",
            "Load testing",
            "Security review",
            "Documentation"
        ]
    );
    let w = &c.waivers[0];
    assert_eq!(
        (w.item.as_str(), w.owner.as_str(), w.ticket.as_deref()),
        ("observability.log-aggregation", "ops-lead", Some("OPS-142"))
    );
    let ItemKind::Check { spec, .. } = &c.item("load.baseline").unwrap().kind else { panic!("not a check") };
    assert_eq!(
        &**spec,
        &ProbeSpec::LoadBaseline(LoadBaselineParams {
            path: "load-test-results.json".into(),
            min_rps: Some(100.0),
            max_error_rate: Some(0.01),
            max_p95_ms: Some(500.0),
        })
    );
    assert!(c.items.iter().any(|i| matches!(&i.kind, ItemKind::Check { def, .. } if def.probe == ProbeKind::File)));
    assert!(c.items.iter().any(|i| matches!(&i.kind, ItemKind::Manual { signoff: Some(_) })));
    // The repository's files are the embedded ones.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = LoadOptions {
        source: ChecklistSource::File(root.join("checklist.toml")),
        catalog_dir: None,
        today: TODAY,
        overrides: vec![],
    };
    let from_file = load(&file).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(from_file.checklist.sha256, c.sha256);
}

#[test]
fn every_catalog_file_of_the_repository_is_embedded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("checks");
    let mut on_disk: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    on_disk.sort();
    let embedded: Vec<(String, String)> =
        BUILT_IN_CATALOG.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    assert_eq!(embedded, on_disk, "add new checks/*.toml files to BUILT_IN_CATALOG");
    assert_eq!(BUILT_IN_CHECKLIST, std::fs::read_to_string(dir.with_file_name("checklist.toml")).unwrap());
}

#[test]
fn catalog_location_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("checklist.toml");
    let item = "\n[[item]]\nid = \"docs.x\"\ncategory = \"docs\"\ntitle = \"X\"\ncheck = \"custom.readme\"\n[item.with]\npath = \"README.md\"\n";
    let text =
        format!("[launch]\nname = \"n\"\napprovers = [\"a\"]\n\n[[category]]\nid = \"docs\"\ntitle = \"Docs\"\n{item}");
    std::fs::write(&list, &text).unwrap();
    let opts = |catalog_dir| LoadOptions {
        source: ChecklistSource::File(list.clone()),
        catalog_dir,
        today: TODAY,
        overrides: vec![],
    };

    // No checks/ beside the checklist: the built-in catalog, which has no `custom.readme`.
    let errs = load(&opts(None)).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].message, "unknown check `custom.readme`");
    assert_eq!(errs[0].file, list.display().to_string());

    // checks/ beside the checklist replaces the built-in catalog.
    let custom = DOCS.replace("docs.file", "custom.readme");
    std::fs::create_dir(tmp.path().join("checks")).unwrap();
    std::fs::write(tmp.path().join("checks/custom.toml"), &custom).unwrap();
    std::fs::write(tmp.path().join("checks/notes.txt"), "not a catalog file").unwrap();
    let loaded = load(&opts(None)).unwrap_or_else(|d| panic!("{d:?}"));
    let c = &loaded.checklist;
    assert_eq!(c.catalog.len(), 1);
    assert_eq!(c.catalog[0].source, tmp.path().join("checks/custom.toml").display().to_string());
    assert_eq!(c.origin, list.display().to_string());
    assert_eq!(c.sha256, hex::encode(Sha256::digest(format!("{text}{custom}"))));

    // An explicit catalog directory wins over checks/ beside the checklist.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("a.toml"), DOCS).unwrap();
    let errs = load(&opts(Some(other.clone()))).unwrap_err();
    assert_eq!(errs[0].message, "unknown check `custom.readme`");
    assert!(errs[0].help.as_deref().unwrap_or("").contains("known: docs.file"), "{:?}", errs[0].help);

    // Missing files are diagnostics, not panics.
    let errs = load(&opts(Some(tmp.path().join("missing")))).unwrap_err();
    assert!(errs[0].message.starts_with("cannot read the catalog directory"), "{errs:?}");
    let missing = LoadOptions {
        source: ChecklistSource::File(tmp.path().join("nope.toml")),
        catalog_dir: None,
        today: TODAY,
        overrides: vec![],
    };
    let errs = load(&missing).unwrap_err();
    assert!(errs[0].message.starts_with("cannot read the checklist"), "{errs:?}");
    assert_eq!((errs[0].line, errs[0].column), (0, 0));
}

#[test]
fn digest_covers_the_catalog() {
    let a = load_ok(CHECKLIST, TODAY).checklist.sha256;
    let changed = load_from_strs(
        ("checklist.toml", CHECKLIST),
        &[("docs.toml", DOCS), ("load.toml", &LOAD.replace("50", "60"))],
        TODAY,
    )
    .unwrap_or_else(|d| panic!("{d:?}"));
    assert_ne!(a, changed.checklist.sha256);
    // Catalog files are hashed in name order, whatever order they are given in.
    let swapped = load_from_strs(("checklist.toml", CHECKLIST), &[("load.toml", LOAD), ("docs.toml", DOCS)], TODAY)
        .unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(a, swapped.checklist.sha256);
}

#[test]
fn json_schema_is_generated() {
    let schema = checklist_json_schema();
    assert_eq!(schema["title"], "kgents-gate checklist");
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], serde_json::json!(["launch"]));
    // The schema is part of the interface: a change must be deliberate (review the snapshot).
    insta::assert_json_snapshot!(schema);
}

#[test]
fn no_panic_on_odd_input() {
    for text in [
        "",
        "\u{feff}",
        "[[item]]\n",
        "item = 1\n",
        "[launch]\nname = \"é\"\napprovers = [1]\n",
        "a = \"\\u{0}\"\n",
        "[[waiver]]\nexpires = 1979-05-27T07:32:00Z\n",
    ] {
        let r = load_from_strs(("c.toml", text), &[("d.toml", DOCS)], TODAY);
        let errs = r.expect_err(text);
        assert!(errs.iter().any(|d| d.level == DiagLevel::Error), "{text:?}");
        for d in errs {
            let _ = d.render(true);
        }
    }
}
