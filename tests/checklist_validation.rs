//! One test per kind of bad checklist or catalog: the rendered diagnostics (message, file:line:col
//! and the caret under the span) are snapshotted, so a regression in where we point shows up.

use jiff::civil::{Date, date};
use kgents_gate::checklist::{DiagLevel, Diagnostic, load_from_strs};

const TODAY: Date = date(2026, 11, 23);

const CATALOG: &str = r#"
[[check]]
id = "docs.file"
probe = "file"
title = "Document exists"
description = "The document exists and has the headings."
remediation = "Write the document."
[check.defaults]
non_empty = true

[[check]]
id = "load.k6-baseline"
probe = "load-baseline"
title = "Load baseline"
description = "k6 summary against thresholds."
remediation = "Run the load test again."
[check.defaults]
path = "load-test-results.json"
max_p95_ms = 500
"#;

const HEAD: &str = r#"[launch]
name = "test launch"
approvers = ["platform-lead"]

[[category]]
id = "docs"
title = "Documentation"
"#;

fn diagnostics_with(checklist: &str, catalog: &[(&str, &str)]) -> Vec<Diagnostic> {
    match load_from_strs(("checklist.toml", checklist), catalog, TODAY) {
        Ok(l) => panic!("expected the checklist to be rejected; warnings: {:?}", l.warnings),
        Err(d) => d,
    }
}

fn diagnostics(checklist: &str) -> Vec<Diagnostic> {
    diagnostics_with(checklist, &[("checks/test.toml", CATALOG)])
}

fn render(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| d.render(false)).collect::<Vec<_>>().join("\n\n")
}

/// Renders the errors for `HEAD` followed by `rest`.
fn errors(rest: &str) -> String {
    render(&diagnostics(&format!("{HEAD}{rest}")))
}

#[test]
fn unknown_key_in_item() {
    let out = errors(
        r#"
[[item]]
id = "docs.runbook"
category = "docs"
title = "Runbook"
check = "docs.file"
severty = "warning"
[item.with]
path = "docs/runbook.md"
"#,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn every_unknown_key_is_reported_at_once() {
    let text = r#"[launch]
name = "x"
approvers = ["a"]
approver = "b"

[[category]]
id = "docs"
title = "Documentation"
icon = "book"

[[item]]
id = "docs.runbook"
category = "docs"
title = "Runbook"
kind = "manual"
severty = "warning"
onwer = "ops"
signoff = { by = "ops-lead", on = 2026-11-01, evidence = "runbook", expiry = 2027-01-01 }

[[waiver]]
item = "docs.runbook"
reason = "r"
owner = "o"
expires = 2027-01-01
tickets = "OPS-1"

[[items]]
id = "x"
"#;
    let diags = diagnostics(text);
    let keys: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        keys,
        [
            "unknown key `approver` in [launch]",
            "unknown key `icon` in category",
            "unknown key `severty` in item",
            "unknown key `onwer` in item",
            "unknown key `expiry` in sign-off",
            "unknown key `tickets` in waiver",
            "unknown key `items` in checklist",
        ]
    );
    assert!(diags.iter().all(|d| d.level == DiagLevel::Error && d.line > 0));
    insta::assert_snapshot!(render(&diags));
}

#[test]
fn toml_syntax_errors_point_at_the_line() {
    let out = errors("\n[[item]]\nid = \"docs.runbook\"\ntitle = \"unterminated\ncategory = = \"docs\"\n");
    insta::assert_snapshot!(out);
}

#[test]
fn unknown_check_id() {
    let out =
        errors("\n[[item]]\nid = \"docs.runbook\"\ncategory = \"docs\"\ntitle = \"Runbook\"\ncheck = \"docs.files\"\n");
    insta::assert_snapshot!(out);
}

#[test]
fn unknown_category() {
    let out = errors("\n[[item]]\nid = \"docs.runbook\"\ncategory = \"doc\"\ntitle = \"Runbook\"\nkind = \"manual\"\n");
    insta::assert_snapshot!(out);
}

#[test]
fn duplicate_item_and_category_ids_point_at_both() {
    let out = errors(
        r#"
[[category]]
id = "docs"
title = "Docs again"

[[item]]
id = "docs.runbook"
category = "docs"
title = "Runbook"
kind = "manual"

[[item]]
id = "docs.runbook"
category = "docs"
title = "Runbook, twice"
kind = "manual"
"#,
    );
    assert_eq!(out.matches("first defined here").count(), 2, "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn duplicate_check_ids_across_catalog_files() {
    let checklist = format!("{HEAD}\n[[item]]\nid = \"d\"\ncategory = \"docs\"\ntitle = \"D\"\nkind = \"manual\"\n");
    let again =
        "[[check]]\nid = \"docs.file\"\nprobe = \"file\"\ntitle = \"t\"\ndescription = \"d\"\nremediation = \"r\"\n";
    let diags = diagnostics_with(&checklist, &[("checks/a.toml", CATALOG), ("checks/b.toml", again)]);
    insta::assert_snapshot!(render(&diags));
}

#[test]
fn waiver_for_unknown_item() {
    let out = errors(
        r#"
[[item]]
id = "docs.runbook"
category = "docs"
title = "Runbook"
kind = "manual"

[[waiver]]
item = "docs.runbok"
reason = "later"
owner = "ops-lead"
expires = 2027-03-31
"#,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn finding_waiver_match_errors_point_at_the_key() {
    let out = errors(
        r#"
[[item]]
id = "docs.runbook"
category = "docs"
title = "Runbook"
check = "docs.file"
[item.with]
path = "runbook.md"

[[item]]
id = "docs.reviewed"
category = "docs"
title = "Reviewed"
kind = "manual"

[[waiver]]
item = "docs.runbook"
match = { cod = "file-heading-missing", id = "" }
reason = "later"
owner = "ops-lead"
expires = 2027-03-31

[[waiver]]
item = "docs.runbook"
match = { code = "file-mising" }
reason = "later"
owner = "ops-lead"
expires = 2027-03-31

[[waiver]]
item = "docs.runbook"
match = { code = "unreadable" }
reason = "later"
owner = "ops-lead"
expires = 2027-03-31

[[waiver]]
item = "docs.runbook"
match = {}
reason = "later"
owner = "ops-lead"
expires = 2027-03-31

[[waiver]]
item = "docs.reviewed"
match = { code = "file-missing" }
reason = "later"
owner = "ops-lead"
expires = 2027-03-31
"#,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn waiver_without_reason_owner_or_expiry() {
    let out = errors(
        r#"
[[item]]
id = "docs.runbook"
category = "docs"
title = "Runbook"
kind = "manual"

[[waiver]]
item = "docs.runbook"
reason = ""
"#,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn manual_item_naming_a_check() {
    let out = errors(
        "\n[[item]]\nid = \"docs.review\"\ncategory = \"docs\"\ntitle = \"Review\"\nkind = \"manual\"\ncheck = \"docs.file\"\n",
    );
    insta::assert_snapshot!(out);
}

#[test]
fn sign_off_without_manual_kind() {
    let out = errors(
        r#"
[[item]]
id = "docs.review"
category = "docs"
title = "Review"
signoff = { by = "ops-lead", on = 2026-11-01, evidence = "notes" }

[[item]]
id = "docs.nothing"
category = "docs"
title = "Neither check nor manual"

[[item]]
id = "docs.other"
category = "docs"
title = "Other kind"
kind = "automatic"
"#,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn sign_off_missing_fields_and_bad_dates() {
    let out = errors(
        r#"
[[item]]
id = "docs.review"
category = "docs"
title = "Review"
kind = "manual"
signoff = { on = "2026-11-01" }

[[item]]
id = "docs.review2"
category = "docs"
title = "Review 2"
kind = "manual"
[item.signoff]
by = "ops-lead"
on = 2026-11-01
evidence = "notes"
expires = 2026-10-01
"#,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn bad_severity_and_bad_durations() {
    let out = errors(
        r#"
[[item]]
id = "docs.runbook"
category = "docs"
title = "Runbook"
check = "docs.file"
severity = "blockin"
timeout = "30 seconds"
[item.with]
path = "docs/runbook.md"

[[item]]
id = "docs.runbook2"
category = "docs"
title = "Runbook"
check = "docs.file"
severity = "critical"
timeout = "0s"
[item.with]
path = "docs/runbook.md"
"#,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn parameter_errors_point_at_the_key_or_the_item() {
    let out = errors(
        r#"
[[item]]
id = "docs.runbook"
category = "docs"
title = "Runbook"
check = "docs.file"
[item.with]
path = 3
headigns = ["On-call"]

[[item]]
id = "docs.nopath"
category = "docs"
title = "No path"
check = "docs.file"
"#,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn bad_catalog_default_points_into_the_catalog() {
    let catalog = CATALOG.replace("max_p95_ms = 500", "max_p95_ms = \"fast\"");
    let checklist = format!(
        "{HEAD}\n[[item]]\nid = \"load.baseline\"\ncategory = \"docs\"\ntitle = \"Baseline\"\ncheck = \"load.k6-baseline\"\n"
    );
    let diags = diagnostics_with(&checklist, &[("checks/load.toml", &catalog)]);
    insta::assert_snapshot!(render(&diags));
}

#[test]
fn bad_catalog_entries() {
    let catalog = r#"
[[check]]
id = "net.reach"
probe = "netpol"
title = "Reachability"
description = "d"
remediation = "r"
defualts = { port = 1 }

[[check]]
id = "Docs File"
probe = "file"
"#;
    let checklist =
        format!("{HEAD}\n[[item]]\nid = \"d\"\ncategory = \"docs\"\ntitle = \"D\"\ncheck = \"net.reach\"\n");
    let diags = diagnostics_with(&checklist, &[("checks/bad.toml", catalog)]);
    // The item naming the broken check is not reported again as naming an unknown check.
    assert!(!diags.iter().any(|d| d.message.contains("unknown check")));
    insta::assert_snapshot!(render(&diags));
}

#[test]
fn launch_table_missing_or_incomplete() {
    let out = render(&diagnostics("[[category]]\nid = \"docs\"\ntitle = \"Docs\"\n"));
    insta::assert_snapshot!("launch_missing", out);
    let out = render(&diagnostics("[launch]\napprovers = []\n"));
    insta::assert_snapshot!("launch_incomplete", out);
}

#[test]
fn wrong_shapes_are_reported() {
    let out = render(&diagnostics(
        "[launch]\nname = 3\napprovers = \"ops\"\n\n[category]\nid = \"docs\"\n\n[[item]]\nid = \"Docs Runbook\"\ncategory = \"docs\"\ntitle = \"T\"\nkind = \"manual\"\nwith = 1\n\n[[item]]\nid = \"x\"\ncategory = \"docs\"\ntitle = \"X\"\ncheck = 3\n",
    ));
    insta::assert_snapshot!(out);
}
