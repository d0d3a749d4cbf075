//! The Markdown renderer: snapshot, the sections a merge-request reader needs, escaping.

mod common;

use kgents_gate::report::render_markdown;

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(render_markdown(&common::sample()));
}

#[test]
fn has_decision_progress_blockers_waivers_signoffs_and_provenance() {
    let md = render_markdown(&common::sample());
    assert!(md.starts_with("## ⛔ Launch decision: BLOCKED\n"));
    assert!(md.contains("| Secrets management | 2/3 | 1 warn |"));
    assert!(md.contains(
        "| `docs.runbook-reviewed` | Runbook reviewed by on-call | … pending | ops-lead | `signoff-missing` |"
    ));
    assert!(
        md.contains("| `observability.log-aggregation` | the item | applied | ops-lead | 2026-03-31 | 45 | OPS-142 |")
    );
    assert!(
        md.contains("| `availability.redis-persistence` | the item | **expired** | data-lead | 2026-02-01 | -13 |")
    );
    // A finding waiver says what it covers, and the waived finding is shown beside the others.
    assert!(md.contains(
        "| `security.image-scan` | findings `code = \"scan-vulnerability\", id = \"CVE-2024-0001\"` (1 waived) | applied |"
    ));
    assert!(md.contains("Waived findings (not counted):"));
    assert!(md.contains("| error | `scan-vulnerability` | ghcr.io/kgents/billing:2.0.1 (debian 12.5) | CVE-2024-0001"));
    assert!(md.contains("| `docs.dr-drill` | valid | sre-lead | 2025-11-02 | 2026-05-02 |"));
    assert!(md.contains("Missing permission: `list prometheusrules.monitoring.coreos.com in kgents-observability`"));
    assert!(md.contains("<details><summary>Evidence for network.nats-isolated</summary>"));
    assert!(md.contains("| Checklist sha256 | `3f2a9c1b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8` |"));
    assert!(md.contains("| Context | prod-eu |"));
    // Every <details> is closed.
    assert_eq!(md.matches("<details>").count(), md.matches("</details>").count());
}

#[test]
fn user_text_cannot_break_tables_or_inject_html() {
    let mut report = common::sample();
    report.items[1].message = "a | b <script>alert(1)</script> *bold* [link](http://x)\nsecond line".into();
    report.blocking[0].message = report.items[1].message.clone();
    let md = render_markdown(&report);
    assert!(!md.contains("<script>"));
    assert!(
        md.contains("a \\| b &lt;script&gt;alert(1)&lt;/script&gt; \\*bold\\* \\[link\\](http://x)<br>second line")
    );
    // Every table row keeps its column count: rows of the blocking table have 7 unescaped pipes.
    let header = "| Item | Title | Outcome | Owner | Code | Message |";
    let start = md.find(header).unwrap();
    for row in md[start..].lines().take_while(|l| l.starts_with('|')) {
        let pipes = row.match_indices('|').filter(|(i, _)| *i == 0 || &row[i - 1..*i] != "\\").count();
        assert_eq!(pipes, 7, "row: {row}");
    }
}
