//! Waivers that name findings (`[[waiver]]` with `match`), as docs/decision.md defines them, on
//! the findings real probes report: scan reports (by vulnerability id and alias), secret hygiene
//! (by object and key), PodDisruptionBudgets (by code and object) and documents (by heading).
//! Only what a waiver matches is waived; waived findings stay in the report; gaps are never
//! waived; expired and unused waivers are reported; bad `match` tables are checklist errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::civil::{Date, date};
use kgents_gate::checklist::{BUILT_IN_CATALOG, Checklist, ItemKind, load_from_strs};
use kgents_gate::cluster::live::LiveOptions;
use kgents_gate::decide::{DecideInput, decide};
use kgents_gate::engine::ItemRun;
use kgents_gate::outcome::{Finding, Level, Outcome, ProbeReport, Unverified};
use kgents_gate::probe::ProbeContext;
use kgents_gate::report::{Decision, ItemReport, Provenance, Report, WaiverStatus};
use kgents_gate::sources::{SourceOptions, load_view};

const TODAY: Date = date(2026, 11, 23);
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpora/scan");

fn catalog() -> Vec<(String, &'static str)> {
    BUILT_IN_CATALOG.iter().map(|(name, text)| (format!("checks/{name}"), *text)).collect()
}

fn load(body: &str) -> Result<Checklist, String> {
    let text =
        format!("[launch]\nname = \"t\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"c\"\ntitle = \"C\"\n{body}");
    let cat = catalog();
    let cat: Vec<(&str, &str)> = cat.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    load_from_strs(("checklist.toml", &text), &cat, TODAY)
        .map(|l| l.checklist)
        .map_err(|d| d.iter().map(|d| d.render(false)).collect::<Vec<_>>().join("\n"))
}

fn checklist(body: &str) -> Checklist {
    load(body).unwrap_or_else(|e| panic!("invalid test checklist:\n{e}"))
}

/// Runs the item's probe with the checklist's folder at `base` and the manifests in `manifests`
/// (offline), as an audit does.
fn run_item(c: &Checklist, id: &str, base: &Path, manifests: &[PathBuf]) -> ProbeReport {
    let ItemKind::Check { spec, .. } = &c.item(id).unwrap().kind else { panic!("{id} is manual") };
    let opts = SourceOptions {
        live: LiveOptions::default(),
        manifests: manifests.to_vec(),
        manifest_namespace: "default".into(),
        offline: true,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let loaded = load_view(&spec.needs(), &opts, Duration::from_secs(5)).await.unwrap();
        let mut ctx = ProbeContext::standalone(base, Duration::from_secs(10));
        ctx.offline = true;
        ctx.today = TODAY;
        ctx.view = Some(loaded.view);
        spec.run(&ctx).await
    })
}

fn decide_with(c: &Checklist, runs: Vec<(&str, ProbeReport)>) -> Report {
    let runs: BTreeMap<String, ItemRun> = runs
        .into_iter()
        .map(|(id, report)| (id.to_string(), ItemRun { report, duration: Duration::from_millis(3) }))
        .collect();
    let selected: Vec<String> = c.items.iter().map(|i| i.id.clone()).collect();
    decide(DecideInput {
        checklist: c,
        selected: &selected,
        runs: &runs,
        today: TODAY,
        strict: false,
        provenance: Provenance::default(),
    })
}

fn item<'a>(r: &'a Report, id: &str) -> &'a ItemReport {
    r.items.iter().find(|i| i.id == id).unwrap()
}

fn fact<'a>(f: &'a Finding, name: &str) -> Option<&'a str> {
    f.evidence.iter().find(|x| x.name == name).map(|x| x.value.as_str())
}

fn ids(findings: impl IntoIterator<Item = impl std::borrow::Borrow<Finding>>) -> Vec<String> {
    findings.into_iter().map(|f| fact(f.borrow(), "id").unwrap_or("-").to_string()).collect()
}

const SCAN_ITEM: &str = r#"
[[item]]
id = "scan"
category = "c"
title = "scan"
check = "security.dependency-scan"
[item.with]
reports = ["trivy/debian-buster.json"]
max_age = "100000d"
"#;

fn waiver(item: &str, m: &str, expires: &str) -> String {
    format!(
        "\n[[waiver]]\nitem = \"{item}\"\nmatch = {m}\nreason = \"accepted for launch\"\nowner = \"security-lead\"\nexpires = {expires}\nticket = \"SEC-1\"\n"
    )
}

#[test]
fn a_finding_waiver_waives_only_the_findings_it_matches_and_keeps_them_in_the_report() {
    let c = checklist(&format!(
        "{SCAN_ITEM}{}",
        waiver("scan", r#"{ code = "scan-vulnerability", id = "CVE-2019-18224" }"#, "2027-01-31")
    ));
    let report = run_item(&c, "scan", Path::new(CORPUS), &[]);
    let before: Vec<(String, Level)> =
        report.findings().iter().map(|f| (fact(f, "id").unwrap().to_string(), f.level)).collect();
    assert_eq!(
        before,
        [("CVE-2019-18224".to_string(), Level::Error), ("CVE-2019-18276".to_string(), Level::Warning)],
        "the critical idn2 finding fails, the low unfixed bash one warns"
    );
    let r = decide_with(&c, vec![("scan", report)]);
    let i = item(&r, "scan");
    // The critical finding is waived; the low one still counts: the item warns.
    assert_eq!((i.outcome, i.code.as_str()), (Outcome::Warn, "scan-vulnerability"));
    assert_eq!(ids(&i.findings), ["CVE-2019-18276"]);
    assert_eq!(i.waived_findings.len(), 1);
    let w = &i.waived_findings[0];
    assert_eq!((fact(&w.finding, "id"), w.finding.level), (Some("CVE-2019-18224"), Level::Error));
    assert_eq!(
        (w.waiver.owner.as_str(), w.waiver.expires.as_str(), w.waiver.days_left),
        ("security-lead", "2027-01-31", 69)
    );
    assert_eq!(w.waiver.ticket.as_deref(), Some("SEC-1"));
    assert_eq!(w.waiver.matches.as_ref().and_then(|m| m.id.as_deref()), Some("CVE-2019-18224"));
    assert!(i.message.ends_with("; 1 finding waived"), "{}", i.message);
    assert!(i.waiver.is_none(), "no waiver covers the item as a whole");
    assert_eq!((r.waivers[0].status, r.waivers[0].waived_findings), (WaiverStatus::Applied, 1));
    // The launch relies on the waiver: approved with waivers, and it says so.
    assert_eq!(r.decision, Decision::ApprovedWithWaivers);
    assert_eq!(r.decision_reason, "1 item relies on waivers (1 finding waived); everything else passed");
    // The JSON shows the waived finding with the waiver's reference.
    let json: serde_json::Value = serde_json::from_str(&kgents_gate::report::render_json(&r)).unwrap();
    let waived = &json["items"][0]["waived_findings"][0];
    assert_eq!(waived["finding"]["code"], "scan-vulnerability");
    assert_eq!(waived["waiver"]["match"]["id"], "CVE-2019-18224");
    assert_eq!(json["waivers"][0]["waived_findings"], 1);
    assert_eq!(kgents_gate::report::parse_json(&kgents_gate::report::render_json(&r)).unwrap(), r);
}

#[test]
fn every_error_and_warning_waived_makes_the_item_waived_but_a_gap_is_never_waived() {
    let all = format!(
        "{SCAN_ITEM}{}",
        waiver("scan", r#"{ code = "scan-vulnerability", object = "*(debian 10.1)" }"#, "2027-01-31")
    );
    let c = checklist(&all);
    let r = decide_with(&c, vec![("scan", run_item(&c, "scan", Path::new(CORPUS), &[]))]);
    let i = item(&r, "scan");
    assert_eq!((i.outcome, i.code.as_str()), (Outcome::Waived, "scan-vulnerability"));
    assert!(i.findings.is_empty() && i.waived_findings.len() == 2);
    assert!(
        i.message.starts_with(
            "every finding waived until 2027-01-31 by security-lead (accepted for launch): CVE-2019-18224"
        ),
        "{}",
        i.message
    );
    assert!(!i.blocks);
    assert_eq!(r.decision, Decision::ApprovedWithWaivers);
    assert_eq!(r.decision_reason, "1 item is waived; everything else passed");

    // The same findings beside a part that could not be seen: the gap decides, unverified.
    let c = checklist(&all.replace(
        "reports = [\"trivy/debian-buster.json\"]",
        "reports = [\"trivy/debian-buster.json\", \"edge/trivy-truncated.json\"]",
    ));
    let report = run_item(&c, "scan", Path::new(CORPUS), &[]);
    assert_eq!(report.gaps()[0].code, "scan-report-unreadable");
    let r = decide_with(&c, vec![("scan", report)]);
    let i = item(&r, "scan");
    assert_eq!((i.outcome, i.code.as_str()), (Outcome::Unverified, "scan-report-unreadable"));
    assert!(i.message.starts_with("edge/trivy-truncated.json:"), "the position of the error: {}", i.message);
    assert_eq!(i.waived_findings.len(), 2, "waived findings are still shown");
    assert!(i.blocks);
    assert_eq!(r.decision, Decision::Incomplete);
}

#[test]
fn an_expired_finding_waiver_covers_nothing_and_is_reported() {
    let c = checklist(&format!(
        "{SCAN_ITEM}{}",
        waiver("scan", r#"{ code = "scan-vulnerability", id = "CVE-2019-18224" }"#, "2026-11-01")
    ));
    let r = decide_with(&c, vec![("scan", run_item(&c, "scan", Path::new(CORPUS), &[]))]);
    let i = item(&r, "scan");
    assert_eq!(i.outcome, Outcome::Fail);
    assert!(i.waived_findings.is_empty());
    assert!(
        i.message.contains(
            "(waiver by security-lead for code = \"scan-vulnerability\", id = \"CVE-2019-18224\" expired on 2026-11-01)"
        ),
        "{}",
        i.message
    );
    assert_eq!(r.waivers[0].status, WaiverStatus::Expired);
    assert!(
        r.notes.iter().any(|n| n.contains("expired on 2026-11-01; it no longer covers 1 finding")),
        "{:?}",
        r.notes
    );
    assert_eq!(r.decision, Decision::Blocked);
}

#[test]
fn an_unused_finding_waiver_is_reported_and_info_findings_are_never_waived() {
    // ignore_unfixed makes the unfixed bash finding info (evidence only): a waiver naming it
    // covers nothing.
    let body = format!(
        "{}{}{}",
        SCAN_ITEM.replace("max_age = \"100000d\"", "max_age = \"100000d\"\nignore_unfixed = true"),
        waiver("scan", r#"{ id = "CVE-2019-18276" }"#, "2027-01-31"),
        waiver("scan", r#"{ id = "CVE-1999-0001" }"#, "2027-01-31"),
    );
    let c = checklist(&body);
    let report = run_item(&c, "scan", Path::new(CORPUS), &[]);
    let bash = report.findings().iter().find(|f| fact(f, "id") == Some("CVE-2019-18276")).unwrap();
    assert_eq!(bash.level, Level::Info);
    let r = decide_with(&c, vec![("scan", report)]);
    let i = item(&r, "scan");
    assert_eq!(i.outcome, Outcome::Fail, "the critical finding is not named by either waiver");
    assert!(i.waived_findings.is_empty());
    assert_eq!(ids(&i.findings), ["CVE-2019-18224", "CVE-2019-18276"], "the info finding stays, not waived");
    assert_eq!((r.waivers[0].status, r.waivers[1].status), (WaiverStatus::Unused, WaiverStatus::Unused));
    let unused: Vec<&String> = r.notes.iter().filter(|n| n.contains("matches no finding: the item is fail")).collect();
    assert_eq!(unused.len(), 2, "{:?}", r.notes);
}

#[test]
fn an_alias_is_an_id_and_unknown_severity_fails_unless_waived() {
    // pip-audit gives no severity: every finding counts as failing unless a waiver names it,
    // by its own id or by one of its aliases.
    let body = format!(
        "{}{}{}",
        SCAN_ITEM.replace("trivy/debian-buster.json", "pip-audit/test_json.json"),
        waiver("scan", r#"{ code = "scan-severity-unknown", id = "CVE-0000-00000" }"#, "2027-01-31"),
        waiver("scan", r#"{ id = "VULN-1" }"#, "2027-01-31"),
    );
    let c = checklist(&body);
    let report = run_item(&c, "scan", Path::new(CORPUS), &[]);
    assert!(report.findings().iter().all(|f| f.code == "scan-severity-unknown" && f.level == Level::Error));
    let r = decide_with(&c, vec![("scan", report)]);
    let i = item(&r, "scan");
    assert_eq!(i.outcome, Outcome::Fail);
    assert_eq!(ids(&i.findings), ["VULN-2"]);
    assert_eq!(ids(i.waived_findings.iter().map(|w| &w.finding)), ["VULN-0", "VULN-1"]);
}

#[test]
fn an_item_waiver_covers_what_finding_waivers_leave() {
    let body = format!(
        "{SCAN_ITEM}{}\n[[waiver]]\nitem = \"scan\"\nreason = \"base image rebuilt after launch\"\nowner = \"platform-lead\"\nexpires = 2026-12-15\n",
        waiver("scan", r#"{ id = "CVE-2019-18276" }"#, "2027-01-31"),
    );
    let c = checklist(&body);
    let r = decide_with(&c, vec![("scan", run_item(&c, "scan", Path::new(CORPUS), &[]))]);
    let i = item(&r, "scan");
    assert_eq!(i.outcome, Outcome::Waived);
    assert_eq!(ids(&i.findings), ["CVE-2019-18224"], "the item waiver covers the rest; the finding stays listed");
    assert_eq!(ids(i.waived_findings.iter().map(|w| &w.finding)), ["CVE-2019-18276"]);
    assert_eq!(i.waiver.as_ref().map(|w| w.owner.as_str()), Some("platform-lead"));
    assert!(r.waivers.iter().all(|w| w.status == WaiverStatus::Applied));
}

/// A manifest folder with the given files.
fn manifests(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

const LEAKY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: NAME, namespace: shop}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: NAME}}\n  template:\n    metadata: {labels: {app: NAME}}\n    spec:\n      automountServiceAccountToken: false\n      containers:\n      - name: app\n        image: app:1\n        env:\n        - {name: DB_PASSWORD, value: hunter2-plain-value}\n        - {name: API_TOKEN, value: tok-9f8e7d6c5b4a}\n";

#[test]
fn secret_hygiene_findings_are_waived_by_object_and_key() {
    let dir =
        manifests(&[("a.yaml", &LEAKY.replace("NAME", "legacy")), ("b.yaml", &LEAKY.replace("NAME", "shop-api"))]);
    let body = format!(
        "\n[[item]]\nid = \"sec\"\ncategory = \"c\"\ntitle = \"secrets\"\ncheck = \"secrets.hygiene\"\n[item.with]\nnamespaces = [\"shop\"]\n{}",
        waiver(
            "sec",
            r#"{ code = "env-plain-credential", object = "Deployment shop/legacy", id = "containers[app].env.DB_PASSWORD" }"#,
            "2027-01-31"
        )
    );
    let c = checklist(&body);
    let report = run_item(&c, "sec", dir.path(), &[dir.path().to_path_buf()]);
    let plain: Vec<(&str, &str)> = report
        .findings()
        .iter()
        .filter(|f| f.code == "env-plain-credential")
        .map(|f| (f.target.as_deref().unwrap(), fact(f, "key").unwrap()))
        .collect();
    assert_eq!(plain.len(), 4, "two credentials in each Deployment: {plain:?}");
    let r = decide_with(&c, vec![("sec", report)]);
    let i = item(&r, "sec");
    assert_eq!(i.outcome, Outcome::Fail, "three credentials are still in the clear");
    let waived: Vec<(&str, Option<&str>)> =
        i.waived_findings.iter().map(|w| (w.finding.target.as_deref().unwrap(), fact(&w.finding, "key"))).collect();
    assert_eq!(waived, [("Deployment shop/legacy", Some("containers[app].env.DB_PASSWORD"))]);
    assert_eq!(i.findings.iter().filter(|f| f.code == "env-plain-credential").count(), 3);
    // The waived finding never carries the value (the probe reports none; the report shows it as is).
    assert!(!kgents_gate::report::render_json(&r).contains("hunter2-plain-value"));
}

const PDB: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: shop}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec: {containers: [{name: app, image: app:1}]}\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: api, namespace: shop}\nspec:\n  minAvailable: 2\n  selector: {matchLabels: {app: api}}\n";

#[test]
fn pdb_findings_are_waived_by_code_and_object_and_carry_no_id() {
    let dir = manifests(&[("pdb.yaml", PDB)]);
    let item_toml = "\n[[item]]\nid = \"pdb\"\ncategory = \"c\"\ntitle = \"pdb\"\ncheck = \"pdb.health\"\n[item.with]\nnamespaces = [\"shop\"]\n";
    let c = checklist(item_toml);
    let report = run_item(&c, "pdb", dir.path(), &[dir.path().to_path_buf()]);
    let found: Vec<(&str, Level, Option<&str>)> =
        report.findings().iter().map(|f| (f.code.as_str(), f.level, f.target.as_deref())).collect();
    assert!(
        found.iter().any(|(c, l, t)| *c == "pdb-no-disruption-allowed" && *l == Level::Error && *t == Some("shop/api")),
        "{found:?}"
    );
    let failing: Vec<String> =
        report.findings().iter().filter(|f| f.level >= Level::Warning).map(|f| f.code.clone()).collect();

    // One waiver per failing code, by object: every finding waived, so the item is waived.
    let waivers: String = failing
        .iter()
        .map(|code| waiver("pdb", &format!("{{ code = \"{code}\", object = \"shop/*\" }}"), "2027-01-31"))
        .collect();
    let c = checklist(&format!("{item_toml}{waivers}"));
    let r = decide_with(&c, vec![("pdb", report.clone())]);
    let i = item(&r, "pdb");
    assert_eq!(i.outcome, Outcome::Waived, "{i:#?}");
    assert_eq!(i.waived_findings.len(), failing.len());
    assert!(i.findings.iter().all(|f| f.level == Level::Info));

    // Only the drain finding waived: whatever else fails still fails.
    let c = checklist(&format!(
        "{item_toml}{}",
        waiver("pdb", r#"{ code = "pdb-no-disruption-allowed", object = "shop/api" }"#, "2027-01-31")
    ));
    let r = decide_with(&c, vec![("pdb", report)]);
    let i = item(&r, "pdb");
    assert_eq!(
        i.waived_findings.iter().map(|w| w.finding.code.as_str()).collect::<Vec<_>>(),
        ["pdb-no-disruption-allowed"]
    );
    assert_eq!(i.outcome == Outcome::Waived, failing.len() == 1);

    // PDB findings carry no id: a waiver asking for one is a checklist error.
    let err = load(&format!("{item_toml}{}", waiver("pdb", r#"{ id = "shop/api" }"#, "2027-01-31"))).unwrap_err();
    assert!(err.contains("findings of the `pdb` probe carry no id"), "{err}");
    assert!(err.contains("match them by `code` and `object`"), "{err}");
}

#[test]
fn pod_security_findings_are_waived_by_check_id_never_skipped() {
    // The kgents example with its broken variant laid over it (examples/kgents/README.md).
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kgents");
    let sets = [example.join("manifests"), example.join("broken/pod-security")];
    let item_toml = "\n[[item]]\nid = \"pss\"\ncategory = \"c\"\ntitle = \"pss\"\ncheck = \"security.pod-security\"\n[item.with]\nnamespaces = [\"kgents-triad\"]\n";
    let c = checklist(item_toml);
    let report = run_item(&c, "pss", &example, &sets);
    let billing = "Deployment kgents-triad/billing";
    let checks: Vec<&str> = report.findings().iter().filter_map(|f| fact(f, "check")).collect();
    assert_eq!(checks.iter().filter(|c| **c == "capabilities_restricted").count(), 2, "{checks:?}");

    // The debugging capability accepted until a date, by check id: the other violations still fail.
    let caps = waiver(
        "pss",
        &format!("{{ code = \"pod-security-violation\", object = \"{billing}\", id = \"capabilities_restricted\" }}"),
        "2027-01-31",
    );
    let c = checklist(&format!("{item_toml}{caps}"));
    let r = decide_with(&c, vec![("pss", report.clone())]);
    let i = item(&r, "pss");
    assert_eq!(i.outcome, Outcome::Fail);
    let waived: Vec<Option<&str>> = i.waived_findings.iter().map(|w| fact(&w.finding, "check")).collect();
    assert_eq!(waived, [Some("capabilities_restricted"), Some("capabilities_restricted")]);
    assert!(i.findings.iter().all(|f| fact(f, "check") != Some("capabilities_restricted")));
    assert!(i.findings.iter().any(|f| f.code == "namespace-pss-warn-only"), "the namespace is not waived");

    // Every violation of billing and the namespace waived: the item is waived, the findings kept.
    let all = [
        waiver("pss", &format!("{{ code = \"pod-security-violation\", object = \"{billing}\" }}"), "2027-01-31"),
        waiver("pss", r#"{ code = "namespace-pss-warn-only", object = "Namespace kgents-triad" }"#, "2027-01-31"),
    ]
    .concat();
    let c = checklist(&format!("{item_toml}{all}"));
    let r = decide_with(&c, vec![("pss", report)]);
    let i = item(&r, "pss");
    assert_eq!(i.outcome, Outcome::Waived, "{i:#?}");
    assert_eq!(i.waived_findings.len(), 7);

    // An id that is no check of the standard would match nothing: a checklist error.
    let typo = waiver("pss", r#"{ code = "pod-security-violation", id = "runAsNonroot" }"#, "2027-01-31");
    let err = load(&format!("{item_toml}{typo}")).unwrap_err();
    assert!(err.contains("no finding of the `pod-security` probe has the id `runAsNonroot`"), "{err}");
    assert!(err.contains("did you mean `runAsNonRoot`?"), "{err}");
}

#[test]
fn document_findings_are_waived_by_heading() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("runbook.md"), "# Runbook\n## Rollback\n").unwrap();
    let body = format!(
        "\n[[item]]\nid = \"doc\"\ncategory = \"c\"\ntitle = \"doc\"\ncheck = \"docs.file\"\n[item.with]\npath = \"runbook.md\"\nheadings = [\"Rollback\", \"On-call\", \"Restore\"]\n{}",
        waiver("doc", r#"{ code = "file-heading-missing", id = "On-call" }"#, "2027-01-31")
    );
    let c = checklist(&body);
    let r = decide_with(&c, vec![("doc", run_item(&c, "doc", dir.path(), &[]))]);
    let i = item(&r, "doc");
    assert_eq!(i.outcome, Outcome::Fail);
    let missing: Vec<Option<&str>> = i.findings.iter().map(|f| fact(f, "heading")).collect();
    assert_eq!(missing, [Some("Restore")]);
    assert_eq!(fact(&i.waived_findings[0].finding, "heading"), Some("On-call"));
}

#[test]
fn a_waived_finding_is_redacted_like_every_other() {
    let c = checklist(&format!("{SCAN_ITEM}{}", waiver("scan", r#"{ code = "scan-vulnerability" }"#, "2027-01-31")));
    let mut report = ProbeReport::default();
    report.push(
        Finding::error("scan-vulnerability", "fetched from https://ci:hunter2secret@registry.example.com/v2/")
            .target("https://ci:hunter2secret@registry.example.com/app")
            .fact("url", "https://ci:hunter2secret@registry.example.com"),
    );
    let r = decide_with(&c, vec![("scan", report)]);
    assert_eq!(item(&r, "scan").waived_findings.len(), 1);
    let json = kgents_gate::report::render_json(&r);
    assert!(!json.contains("hunter2secret"), "{json}");
}

#[test]
fn gaps_alone_are_never_waived() {
    let c = checklist(&format!("{SCAN_ITEM}{}", waiver("scan", r#"{ code = "scan-vulnerability" }"#, "2027-01-31")));
    let mut report = ProbeReport::default();
    report.gap(Unverified::new("scan-report-missing", "no report scanned redis:7"));
    let r = decide_with(&c, vec![("scan", report)]);
    let i = item(&r, "scan");
    assert_eq!((i.outcome, i.code.as_str()), (Outcome::Unverified, "scan-report-missing"));
    assert_eq!(r.waivers[0].status, WaiverStatus::Unused);
}

#[test]
fn bad_match_tables_are_checklist_errors_with_the_reason() {
    let manual = "\n[[item]]\nid = \"m\"\ncategory = \"c\"\ntitle = \"m\"\nkind = \"manual\"\n";
    let cases: &[(&str, &str)] = &[
        (r#"{ cod = "scan-vulnerability" }"#, "unknown key `cod` in waiver `match`"),
        (r#"{ cod = "scan-vulnerability" }"#, "did you mean `code`?"),
        ("{}", "`match` names no finding"),
        (r#"{ code = "" }"#, "`code` in waiver `match` must not be empty"),
        (r#"{ code = "scan-report-missing" }"#, "gaps are never waived"),
        (r#"{ code = "scan-vulnerabilty" }"#, "did you mean `scan-vulnerability`?"),
        (r#"{ code = "file-missing" }"#, "the `scan-report` probe never reports `file-missing`"),
        (r#"{ code = "ok" }"#, "unknown finding code `ok`"),
        (r#"{ id = 7 }"#, "`id` in waiver `match` must be a string"),
    ];
    for (m, want) in cases {
        let err = load(&format!("{SCAN_ITEM}{}", waiver("scan", m, "2027-01-31"))).unwrap_err();
        assert!(err.contains(want), "match = {m}: expected {want:?} in\n{err}");
        assert!(err.contains("checklist.toml:"), "errors point at the line: {err}");
    }
    let err = load(&format!("{manual}{}", waiver("m", r#"{ code = "x" }"#, "2027-01-31"))).unwrap_err();
    assert!(err.contains("a manual item has no findings to match"), "{err}");
    let twice = waiver("scan", r#"{ id = "CVE-1" }"#, "2027-01-31");
    let err = load(&format!("{SCAN_ITEM}{twice}{twice}")).unwrap_err();
    assert!(err.contains("a second waiver for the same findings of `scan`"), "{err}");
    // Several finding waivers, and one item waiver beside them, are fine.
    let ok = format!(
        "{SCAN_ITEM}{}{}\n[[waiver]]\nitem = \"scan\"\nreason = \"r\"\nowner = \"o\"\nexpires = 2027-01-01\n",
        waiver("scan", r#"{ id = "CVE-1" }"#, "2027-01-31"),
        waiver("scan", r#"{ id = "CVE-2" }"#, "2027-01-31")
    );
    assert_eq!(load(&ok).unwrap().waivers.len(), 3);
}
