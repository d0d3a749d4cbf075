//! A realistic report shared by the report tests: every outcome, applied/unused/expired waivers,
//! valid and missing sign-offs, evidence, and user text with Markdown/XML metacharacters.
#![allow(dead_code)]

use kgents_gate::checklist::Severity;
use kgents_gate::outcome::{Fact, Finding, Measurement, MeasurementStatus, Outcome};
use kgents_gate::report::*;

pub struct Item {
    pub id: &'static str,
    pub title: &'static str,
    pub category: &'static str,
    pub severity: Severity,
    pub outcome: Outcome,
    pub code: &'static str,
    pub message: &'static str,
}

fn item(i: Item) -> ItemReport {
    ItemReport {
        id: i.id.into(),
        title: i.title.into(),
        category: i.category.into(),
        severity: i.severity,
        owner: Some("platform".into()),
        check: Some(format!("check.{}", i.id.split('.').nth(1).unwrap_or(i.id))),
        probe: "file".into(),
        outcome: i.outcome,
        code: i.code.into(),
        message: i.message.into(),
        findings: Vec::new(),
        waived_findings: Vec::new(),
        evidence: Vec::new(),
        remediation: None,
        unverified: None,
        gaps: Vec::new(),
        measurements: Vec::new(),
        waiver: None,
        signoff: None,
        blocks: false,
        duration_ms: 120,
    }
}

fn summarize<'a>(items: impl Iterator<Item = &'a ItemReport>) -> Summary {
    let mut s = Summary::default();
    for i in items {
        s.total += 1;
        match i.outcome {
            Outcome::Pass => s.pass += 1,
            Outcome::Fail => s.fail += 1,
            Outcome::Warn => s.warn += 1,
            Outcome::Waived => s.waived += 1,
            Outcome::Unverified => s.unverified += 1,
            Outcome::Pending => s.pending += 1,
            Outcome::Skipped => s.skipped += 1,
        }
    }
    s
}

/// Recomputes the summary, category progress and blocking list from the items, the way
/// `decide` does, so mutated copies of the sample stay consistent.
pub fn recompute(r: &mut Report) {
    r.summary = summarize(r.items.iter());
    for c in &mut r.categories {
        let items: Vec<&ItemReport> = r.items.iter().filter(|i| i.category == c.id).collect();
        c.summary = summarize(items.iter().copied());
        c.done = c.summary.pass;
        c.total = c.summary.total - c.summary.skipped;
    }
    r.blocking = r
        .items
        .iter()
        .filter(|i| i.blocks)
        .map(|i| BlockingItem {
            id: i.id.clone(),
            title: i.title.clone(),
            owner: i.owner.clone(),
            outcome: i.outcome,
            code: i.code.clone(),
            message: i.message.clone(),
        })
        .collect();
}

fn cve_match() -> kgents_gate::checklist::FindingMatch {
    kgents_gate::checklist::FindingMatch {
        code: Some("scan-vulnerability".into()),
        object: None,
        id: Some("CVE-2024-0001".into()),
    }
}

pub fn sample() -> Report {
    use Outcome::*;
    use Severity::*;
    let mut items = Vec::new();

    let mut i = item(Item {
        id: "network.default-deny",
        title: "Default deny ingress in kgents-agents",
        category: "network",
        severity: Blocking,
        outcome: Pass,
        code: "ok",
        message: "default-deny selects every pod in kgents-agents",
    });
    i.probe = "netpol".into();
    i.evidence = vec![Fact::new("policy", "kgents-agents/default-deny"), Fact::new("pods selected", 7)];
    items.push(i);

    let mut i = item(Item {
        id: "network.nats-isolated",
        title: "NATS reachable only from kgents-agents",
        category: "network",
        severity: Blocking,
        outcome: Fail,
        code: "isolation-allowed-from-denied-source",
        message: "Traffic from namespace default to kgents-agents/nats-0 on TCP 4222 is allowed by kgents-agents/allow-monitoring, which selects every namespace",
    });
    i.probe = "netpol".into();
    i.findings = vec![
        Finding::error("isolation-allowed-from-denied-source", "default -> nats:4222 allowed")
            .target("kgents-agents/nats-0")
            .fact("deciding policies", "kgents-agents/allow-monitoring, kgents-agents/allow-nats-clients, kgents-agents/allow-dns-egress-to-kube-system")
            .fact("source", "default/netshoot"),
        Finding::warning("netpol-selects-nothing", "kgents-agents/legacy-nats selects no pods").target("kgents-agents/legacy-nats"),
    ];
    i.evidence = vec![Fact::new("policies in namespace", 4), Fact::new("port", "TCP 4222")];
    i.remediation = Some("Restrict the namespaceSelector of allow-monitoring to kgents-observability, or add an explicit deny for the default namespace.".into());
    i.blocks = true;
    i.duration_ms = 340;
    items.push(i);

    let mut i = item(Item {
        id: "secrets.no-plain-env",
        title: "No credentials in plain env values",
        category: "secrets",
        severity: Blocking,
        outcome: Pass,
        code: "ok",
        message: "12 containers checked; every credential comes from a secretKeyRef",
    });
    i.owner = Some("security".into());
    items.push(i);

    let mut i = item(Item {
        id: "secrets.rotation-age",
        title: "Secrets rotated within 90 days",
        category: "secrets",
        severity: Warning,
        outcome: Warn,
        code: "secret-rotation-overdue",
        message: "kgents-agents/redis-auth is 143 days old (limit 90 days)",
    });
    i.owner = Some("security".into());
    i.findings = vec![
        Finding::warning("secret-rotation-overdue", "kgents-agents/redis-auth is 143 days old")
            .target("kgents-agents/redis-auth")
            .fact("created", "2025-09-24T08:12:00Z"),
    ];
    i.remediation = Some("Rotate the secret and restart the workloads that mount it.".into());
    items.push(i);

    let mut i = item(Item {
        id: "secrets.unused",
        title: "No unused Secrets",
        category: "secrets",
        severity: Warning,
        outcome: Pass,
        code: "ok",
        message: "every Secret is referenced",
    });
    i.owner = Some("security".into());
    items.push(i);

    let mut i = item(Item {
        id: "observability.log-aggregation",
        title: "Logs shipped to a central store",
        category: "observability",
        severity: Blocking,
        outcome: Waived,
        code: "http-unreachable",
        message: "loki.kgents-observability:3100 refused the connection",
    });
    i.owner = Some("ops".into());
    i.probe = "http".into();
    i.waiver = Some(WaiverRef {
        reason: "Loki deferred; *kubectl logs* is adequate for launch | revisit after GA".into(),
        owner: "ops-lead".into(),
        expires: "2026-03-31".into(),
        days_left: 45,
        ticket: Some("OPS-142".into()),
        matches: None,
    });
    i.remediation = Some("Deploy Loki and point promtail at it.".into());
    items.push(i);

    let mut i = item(Item {
        id: "observability.alert-rules",
        title: "Expected alerts present and loaded",
        category: "observability",
        severity: Blocking,
        outcome: Unverified,
        code: "forbidden",
        message: "cannot list PrometheusRules: forbidden",
    });
    i.owner = Some("ops".into());
    i.probe = "alert-rules".into();
    i.unverified = Some(kgents_gate::outcome::Unverified {
        code: "forbidden".into(),
        reason: "cannot list PrometheusRules: forbidden".into(),
        missing_permission: Some("list prometheusrules.monitoring.coreos.com in kgents-observability".into()),
    });
    i.gaps = i.unverified.clone().into_iter().collect();
    i.remediation = Some("Grant the audit's service account the Role printed by `kgents-gate rbac`.".into());
    i.blocks = true;
    items.push(i);

    let mut i = item(Item {
        id: "observability.api-slo",
        title: "API objectives hold: p95 < 500 ms, errors < 1%",
        category: "observability",
        severity: Warning,
        outcome: Warn,
        code: "slo-warning",
        message: "`p95` is 0.4375, above its warning threshold 0.4 (maximum 0.5)",
    });
    i.owner = Some("performance".into());
    i.probe = "prometheus-slo".into();
    i.findings = vec![
        Finding::warning("slo-warning", "`p95` is 0.4375, above its warning threshold 0.4 (maximum 0.5)")
            .target("objective p95")
            .fact("query", "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service=\"kgents-api\"}[5m])))")
            .fact("value", "0.4375"),
    ];
    i.measurements = vec![
        Measurement {
            name: "p95".into(),
            value: 0.4375,
            threshold: "<= 0.5; warn above 0.4".into(),
            status: MeasurementStatus::Warning,
            query: Some("histogram_quantile(0.95, ...)".into()),
            at: Some("2026-02-14T09:30:01Z".into()),
            samples: vec![0.41, 0.4375, 0.42],
            baseline: Some(0.375),
        },
        Measurement {
            name: "error_rate".into(),
            value: 0.0042,
            threshold: "<= 0.01".into(),
            status: MeasurementStatus::Met,
            query: None,
            at: Some("2026-02-14T09:30:01Z".into()),
            samples: Vec::new(),
            baseline: None,
        },
    ];
    i.remediation = Some("Find what made the objective worse and fix it.".into());
    items.push(i);

    let mut i = item(Item {
        id: "availability.redis-persistence",
        title: "Redis persistence on",
        category: "availability",
        severity: Blocking,
        outcome: Fail,
        code: "redis-persistence-off",
        message: "appendonly is no and no RDB save points are set",
    });
    i.probe = "redis".into();
    i.evidence = vec![Fact::new("appendonly", "no"), Fact::new("save", "\"\""), Fact::new("role", "master")];
    i.waiver = Some(WaiverRef {
        reason: "AOF enabled in the next Helm release".into(),
        owner: "data-lead".into(),
        expires: "2026-02-01".into(),
        days_left: -13,
        ticket: None,
        matches: None,
    });
    i.remediation = Some("Set `appendonly yes` (and `appendfsync everysec`) in the Redis config.".into());
    i.blocks = true;
    items.push(i);

    let mut i = item(Item {
        id: "availability.nats-pdb",
        title: "NATS PodDisruptionBudget allows a drain",
        category: "availability",
        severity: Blocking,
        outcome: Skipped,
        code: "skipped",
        message: "deselected by --only network,secrets,observability,docs",
    });
    i.probe = "pdb".into();
    i.duration_ms = 0;
    items.push(i);

    let mut i = item(Item {
        id: "docs.runbook",
        title: "Runbook exists with the incident sections",
        category: "docs",
        severity: Warning,
        outcome: Pass,
        code: "ok",
        message: "docs/saas/runbook.md has every required heading: Paging & escalation, Rollback, Restore Redis from backup, NATS cluster recovery, Certificate renewal",
    });
    i.owner = Some("ops".into());
    i.evidence = vec![
        Fact::new("path", "docs/saas/runbook.md"),
        Fact::new("sha256", "9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab"),
    ];
    items.push(i);

    let mut i = item(Item {
        id: "docs.runbook-reviewed",
        title: "Runbook reviewed by on-call",
        category: "docs",
        severity: Blocking,
        outcome: Pending,
        code: "signoff-missing",
        message: "no sign-off recorded",
    });
    i.owner = Some("ops-lead".into());
    i.check = None;
    i.probe = "manual".into();
    i.signoff = Some(SignoffReport {
        item: "docs.runbook-reviewed".into(),
        by: None,
        on: None,
        evidence: None,
        expires: None,
        status: SignoffStatus::Missing,
    });
    i.remediation = Some("Add signoff = { by, on, evidence } to the item in checklist.toml after the review.".into());
    i.blocks = true;
    i.duration_ms = 0;
    items.push(i);

    let mut i = item(Item {
        id: "docs.dr-drill",
        title: "Disaster-recovery drill done",
        category: "docs",
        severity: Blocking,
        outcome: Pass,
        code: "ok",
        message: "signed off by sre-lead on 2025-11-02",
    });
    i.owner = Some("sre".into());
    i.check = None;
    i.probe = "manual".into();
    let dr = SignoffReport {
        item: "docs.dr-drill".into(),
        by: Some("sre-lead".into()),
        on: Some("2025-11-02".into()),
        evidence: Some("https://wiki.example.com/kgents/dr-drill-2025-11 <restore & failover>".into()),
        expires: Some("2026-05-02".into()),
        status: SignoffStatus::Valid,
    };
    i.signoff = Some(dr.clone());
    i.duration_ms = 0;
    items.push(i);

    let mut i = item(Item {
        id: "security.image-scan",
        title: "Deployed images scanned, no high or critical CVE",
        category: "security",
        severity: Blocking,
        outcome: Warn,
        code: "scan-vulnerability",
        message: "CVE-2024-0002 (medium) in zlib 1.2.13, fixed in 1.3; 1 finding waived",
    });
    i.owner = Some("security".into());
    i.check = Some("security.image-scan".into());
    i.probe = "scan-report".into();
    i.findings = vec![
        Finding::warning("scan-vulnerability", "CVE-2024-0002 (medium) in zlib 1.2.13, fixed in 1.3")
            .target("ghcr.io/kgents/billing:2.0.1 (debian 12.5)")
            .fact("id", "CVE-2024-0002"),
    ];
    i.waived_findings = vec![WaivedFinding {
        finding: Finding::error("scan-vulnerability", "CVE-2024-0001 (critical) in libssl3 3.0.11, fixed in 3.0.13")
            .target("ghcr.io/kgents/billing:2.0.1 (debian 12.5)")
            .fact("id", "CVE-2024-0001"),
        waiver: WaiverRef {
            reason: "openssl fix ships with the next base image | no TLS in this path".into(),
            owner: "security-lead".into(),
            expires: "2026-03-01".into(),
            days_left: 15,
            ticket: Some("SEC-91".into()),
            matches: Some(cve_match()),
        },
    }];
    i.evidence = vec![
        Fact::new("scans/billing.json sha256", "4e1c0f7a2b9d8e3c6a5f4b1d0e9c8a7b6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c"),
        Fact::new("scans/billing.json scanner", "Trivy 0.50.1 (Trivy JSON)"),
    ];
    i.remediation = Some("Rebuild the image on a patched base and scan it again.".into());
    items.push(i);

    let signoffs = items.iter().filter_map(|i| i.signoff.clone()).collect();
    let waivers = vec![
        WaiverReport {
            item: "observability.log-aggregation".into(),
            reason: "Loki deferred; *kubectl logs* is adequate for launch | revisit after GA".into(),
            owner: "ops-lead".into(),
            expires: "2026-03-31".into(),
            days_left: 45,
            ticket: Some("OPS-142".into()),
            status: WaiverStatus::Applied,
            matches: None,
            waived_findings: 0,
        },
        WaiverReport {
            item: "secrets.unused".into(),
            reason: "Legacy secrets kept until the migration is verified".into(),
            owner: "security-lead".into(),
            expires: "2026-02-15".into(),
            days_left: 1,
            ticket: Some("SEC-77".into()),
            status: WaiverStatus::Unused,
            matches: None,
            waived_findings: 0,
        },
        WaiverReport {
            item: "availability.redis-persistence".into(),
            reason: "AOF enabled in the next Helm release".into(),
            owner: "data-lead".into(),
            expires: "2026-02-01".into(),
            days_left: -13,
            ticket: None,
            status: WaiverStatus::Expired,
            matches: None,
            waived_findings: 0,
        },
        WaiverReport {
            item: "security.image-scan".into(),
            reason: "openssl fix ships with the next base image | no TLS in this path".into(),
            owner: "security-lead".into(),
            expires: "2026-03-01".into(),
            days_left: 15,
            ticket: Some("SEC-91".into()),
            status: WaiverStatus::Applied,
            matches: Some(cve_match()),
            waived_findings: 1,
        },
    ];
    let cat = |id: &str, title: &str| CategoryProgress {
        id: id.into(),
        title: title.into(),
        done: 0,
        total: 0,
        summary: Summary::default(),
    };
    let mut report = Report {
        schema_version: REPORT_SCHEMA_VERSION,
        tool: Tool { name: "kgents-gate".into(), version: "0.1.0".into() },
        launch: LaunchInfo {
            name: "kgents SaaS production launch".into(),
            approvers: vec!["platform-lead".into(), "security-lead".into()],
        },
        decision: Decision::Blocked,
        decision_reason: "3 blocking items failed or are pending; 1 blocking item could not be verified".into(),
        exit_code: 1,
        strict: false,
        summary: Summary::default(),
        categories: vec![
            cat("network", "Network policies"),
            cat("secrets", "Secrets management"),
            cat("observability", "Observability"),
            cat("availability", "Availability"),
            cat("docs", "Documentation & sign-offs"),
            cat("security", "Security review"),
        ],
        items,
        blocking: Vec::new(),
        waivers,
        signoffs,
        notes: vec!["waiver for secrets.unused covers an item that passed; remove it".into()],
        provenance: Provenance {
            checklist: "checklist.toml".into(),
            checklist_sha256: "3f2a9c1b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8".into(),
            started_at: "2026-02-14T09:30:00Z".into(),
            duration_ms: 12_400,
            today: "2026-02-14".into(),
            today_overridden: false,
            cluster: Some(ClusterInfo {
                server: "https://prod-eu.k8s.example.com:6443".into(),
                version: "v1.33.1".into(),
                context: Some("prod-eu".into()),
                identity: Some("6b1f2c8e-1d0a-4c1e-9d5b-2f7a8e3c4b1d".into()),
            }),
            manifests: Vec::new(),
            interrupted: false,
            images: Vec::new(),
        },
    };
    recompute(&mut report);
    report
}
