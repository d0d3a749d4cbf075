//! Every stable code the gate reports, defined once: finding codes, the codes of parts that could
//! not be checked (gaps), and the decision's own codes. docs/finding-codes.md is generated from
//! this table (a test keeps it in step), and in debug builds constructing a finding or a gap with
//! a code missing here panics, so the whole test suite checks that the table is complete.

/// What a code labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// A finding: something a probe established.
    Finding,
    /// A gap: something a probe could not check (the item is unverified unless an error
    /// finding fails it).
    Gap,
    /// The decision's own verdict codes (sign-offs, deselected items).
    Decision,
}

/// One code: its text, who reports it, and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    pub code: &'static str,
    pub kind: CodeKind,
    /// The probe kind that reports it, or `any` for codes every probe may report.
    pub by: &'static str,
    pub meaning: &'static str,
}

const fn f(code: &'static str, by: &'static str, meaning: &'static str) -> CodeInfo {
    CodeInfo { code, kind: CodeKind::Finding, by, meaning }
}
const fn g(code: &'static str, by: &'static str, meaning: &'static str) -> CodeInfo {
    CodeInfo { code, kind: CodeKind::Gap, by, meaning }
}
const fn d(code: &'static str, meaning: &'static str) -> CodeInfo {
    CodeInfo { code, kind: CodeKind::Decision, by: "decision", meaning }
}

/// The table. Grouped by who reports the code; order is the documentation's order.
pub const CODES: &[CodeInfo] = &[
    // The decision.
    d("ok", "The item passed."),
    d("deselected", "Not selected for this run (`--only`)."),
    d("not-run", "The check did not run (a bug if it ever shows)."),
    d("not-applicable", "The check does not apply (e.g. the CRD it reads is not installed)."),
    d("signoff-missing", "A manual item has no sign-off."),
    d("signoff-expired", "A manual item's sign-off has expired."),
    d("signoff-in-future", "A manual item's sign-off is dated after the day of the audit."),
    d("signoff-pending", "JUnit failure type of a pending manual item."),
    // Any probe.
    g("offline", "any", "The audit ran offline; the endpoint or cluster was not contacted."),
    g("timeout", "any", "The item's or the audit's time ran out before the check finished."),
    g("interrupted", "any", "The audit was interrupted (Ctrl-C) before the check finished."),
    g("probe-crashed", "any", "The probe stopped unexpectedly (a bug in kgents-gate)."),
    g("forbidden", "any", "RBAC refused a read; the missing permission is named."),
    g("api-error", "any", "The API server answered an error, or a kind it should serve is missing."),
    g("no-cluster", "any", "No cluster could be reached or none is configured."),
    g("not-loaded", "any", "A kind the check needs was not loaded (a bug if it ever shows)."),
    g("credential-missing", "any", "A credential's environment variable or file is not set or unreadable."),
    // File and load-test probes.
    f("file-missing", "file", "The document does not exist."),
    f("file-empty", "file", "The document is empty."),
    f("file-heading-missing", "file", "A required heading is missing from the document."),
    g("unreadable", "file, load-baseline", "The file exists but cannot be read."),
    f("load-summary-missing", "load-baseline", "No k6 summary export at the path."),
    g("load-summary-invalid", "load-baseline", "The file is not a k6 summary export."),
    f("load-metric-missing", "load-baseline", "The summary lacks a figure a threshold needs."),
    f("load-rps-below-threshold", "load-baseline", "Requests per second below the required minimum."),
    f("load-error-rate-above-threshold", "load-baseline", "Error rate above the allowed maximum."),
    f("load-p95-above-threshold", "load-baseline", "p95 latency above the allowed maximum."),
    // HTTP.
    f("http-unreachable", "http", "The endpoint refused or could not be resolved."),
    f("http-timeout", "http", "The endpoint did not answer within the timeout."),
    f("http-tls-invalid", "http", "The certificate did not verify or the TLS handshake failed."),
    f("http-tls-expiring", "http", "The certificate expires sooner than required."),
    f("http-status-unexpected", "http", "The status code is not one of the expected ones."),
    f("http-latency-above-threshold", "http", "The response took longer than the bound."),
    g("tls-setup", "http", "The gate could not set up TLS (no CA roots, bad CA file)."),
    g("ca-file-unreadable", "http", "The `ca_file` cannot be read or is not PEM."),
    // PodDisruptionBudgets.
    f(
        "pdb-selector-matches-nothing",
        "pdb",
        "The PDB's selector matches no pod (e.g. the kustomize commonLabels trap).",
    ),
    f("pdb-no-disruption-allowed", "pdb", "disruptionsAllowed is 0: every node drain is blocked."),
    f("pdb-unhealthy", "pdb", "currentHealthy is below desiredHealthy."),
    f("pdb-stale-status", "pdb", "The status is older than the spec (observedGeneration behind generation)."),
    f("pdb-overlapping", "pdb", "A pod is covered by more than one PDB (eviction fails)."),
    f(
        "pdb-never-allows-disruption",
        "pdb",
        "The spec can never allow a disruption (e.g. minAvailable equal to replicas).",
    ),
    f("pdb-expected-pods-mismatch", "pdb", "expectedPods differs from the workload's replicas."),
    f(
        "pdb-invalid-spec",
        "pdb",
        "The PDB's spec is invalid (both or neither of minAvailable/maxUnavailable, bad values).",
    ),
    f("pdb-controller-sync-failed", "pdb", "The disruption controller could not compute the status."),
    f(
        "pdb-unmanaged-pods",
        "pdb",
        "Pods without a controller are selected (the controller cannot compute a budget on old servers).",
    ),
    f("workload-without-pdb", "pdb", "A multi-replica Deployment or StatefulSet has no PDB."),
    f("object-unreadable", "pdb", "An object in scope cannot be read as its kind."),
    g("rollout-in-progress", "pdb", "A workload is mid-rollout; its PDB status is provisional (see --settle)."),
    g(
        "pdb-status-unresolvable",
        "pdb, hpa",
        "The expected status cannot be computed offline (e.g. a custom controller's scale).",
    ),
    g(
        "nothing-in-scope",
        "pdb, workload, hpa, scan-report, pod-security",
        "Nothing the check judges is in the namespaces and selector in scope.",
    ),
    // Network isolation.
    f("isolation-denied-from-allowed-source", "netpol-isolation", "An allowed source cannot reach the destination."),
    f("isolation-allowed-from-denied-source", "netpol-isolation", "A denied source can reach the destination."),
    f("netpol-selects-nothing", "netpol-isolation", "A NetworkPolicy's podSelector matches no pod."),
    f("netpol-no-destination", "netpol-isolation", "No pod matches the destination selector."),
    f("netpol-ipblock-matches-pods", "netpol-isolation", "An ipBlock covers pod IPs (it then matches pods too)."),
    f("isolation-static-live-disagree", "netpol-isolation", "The live probe and the static verdict disagree."),
    f(
        "netpol-not-enforced",
        "netpol-isolation",
        "The network plugin does not enforce NetworkPolicy (the canary was reached).",
    ),
    g("live-unverified", "netpol-isolation", "The live part could not run (probe pods not started, no target IP)."),
    g(
        "live-tool-error",
        "netpol-isolation",
        "The probe tool failed in the probe image (no nc, an unsupported flag, no marker): nothing is known of the network.",
    ),
    g(
        "live-no-control",
        "netpol-isolation",
        "A probe pod was blocked but its positive control (the run's control target) did not connect either.",
    ),
    g("port-unresolved", "netpol-isolation", "A named port cannot be resolved on the destination pods."),
    g("evaluation-failed", "netpol-isolation", "The static evaluation failed on the objects given."),
    g(
        "invalid-object",
        "netpol-isolation, workload, hpa, pod-security",
        "An object in scope cannot be read as its kind.",
    ),
    // NATS.
    f("nats-unreachable", "nats", "The server refused the connection or could not be resolved."),
    f("nats-timeout", "nats", "The NATS handshake did not complete within the timeout."),
    f("nats-auth-failed", "nats", "The server refused the credentials."),
    f("nats-version-too-old", "nats", "The server version is below the minimum."),
    f("nats-jetstream-disabled", "nats", "JetStream is not enabled."),
    f("nats-cluster-size-mismatch", "nats", "Fewer (or more) cluster peers than required."),
    f("nats-roundtrip-failed", "nats", "A publish/subscribe round trip did not come back."),
    f("nats-rtt-slow", "nats", "The round trip took longer than the bound."),
    f("nats-monitor-unhealthy", "nats", "The monitoring endpoint reports the server unhealthy."),
    f("nats-exporter-missing", "nats", "The exporter's metrics endpoint does not answer or lacks NATS metrics."),
    g("partial", "nats", "A part of the NATS check could not be made (monitoring unreachable, ...)."),
    g("http-setup", "nats", "The HTTP client for the monitoring endpoint could not be set up."),
    // Redis.
    f("redis-unreachable", "redis", "Redis is unreachable or did not answer."),
    f("redis-auth-failed", "redis", "Redis rejected the credentials."),
    f("redis-no-auth", "redis", "Redis answers clients without credentials."),
    f("redis-ping-slow", "redis", "PING took longer than the bound."),
    f("redis-eviction-unsafe", "redis", "The eviction policy can drop idempotency keys."),
    f("redis-persistence-off", "redis", "Neither AOF nor RDB snapshots are on."),
    f("redis-replicas-mismatch", "redis", "The replication role or replica count is not the expected one."),
    f("redis-roundtrip-failed", "redis", "The SET NX EX / GET / TTL round trip failed."),
    g("partly-unverified", "redis", "A part of the Redis check could not be made (e.g. CONFIG and INFO refused)."),
    g("unexpected-reply", "redis", "Redis answered something the probe cannot read."),
    // Secrets.
    f("env-plain-credential", "secret-hygiene", "A credential is set as a plain env value instead of a secretKeyRef."),
    f("configmap-credential", "secret-hygiene", "A ConfigMap holds a credential-looking value."),
    f("secret-ref-missing", "secret-hygiene", "A reference to a Secret or key that does not exist."),
    f("secret-last-applied-in-clear", "secret-hygiene", "A Secret's last-applied annotation holds its data in clear."),
    f("secret-rotation-overdue", "secret-hygiene", "A Secret is older than the rotation age."),
    f("secret-unused", "secret-hygiene", "A Secret nothing refers to."),
    f("sa-token-automounted", "secret-hygiene", "A service-account token is automounted where it is not needed."),
    f("rbac-secret-read", "secret-hygiene", "A role lets a non-system subject read Secrets."),
    g("patterns-unavailable", "secret-hygiene", "The credential pattern rules could not be loaded."),
    // Workload readiness.
    f(
        "container-requests-missing",
        "workload",
        "A container has no request for a resource, and no LimitRange gives one.",
    ),
    f("container-limits-missing", "workload", "A container has no limit for a resource, and no LimitRange gives one."),
    f("limitrange-missing", "workload", "A namespace in scope has no LimitRange (new containers get no defaults)."),
    f(
        "readiness-probe-missing",
        "workload",
        "A container has no readiness probe: it gets traffic before it can serve.",
    ),
    f("liveness-probe-missing", "workload", "A container has no liveness probe: a hung process is never restarted."),
    f("replicas-below-minimum", "workload", "Fewer replicas (or HPA minReplicas) than the minimum."),
    f("image-tag-latest", "workload", "A container runs an image tagged `latest`."),
    f("image-untagged", "workload", "A container's image has no tag and no digest (pulled as `latest`)."),
    f("image-not-pinned", "workload", "A container's image is not pinned by digest (`require_digest = true`)."),
    f("image-reference-invalid", "workload", "A container has no image, or one the runtime cannot parse."),
    // Pod Security Standards.
    f(
        "pod-security-violation",
        "pod-security",
        "A Pod or a workload's pod template breaks a check of the Pod Security Standards at the required level and version.",
    ),
    f(
        "namespace-pss-not-enforced",
        "pod-security",
        "A namespace has no pod-security `enforce` label, or one below the required level: violating Pods are admitted.",
    ),
    f(
        "namespace-pss-warn-only",
        "pod-security",
        "A namespace only warns or audits at the required level: violating Pods are admitted.",
    ),
    f(
        "namespace-pss-label-invalid",
        "pod-security",
        "A namespace's pod-security label has a value the controller rejects.",
    ),
    f(
        "pod-security-admission-absent",
        "pod-security",
        "The cluster is older than v1.23: no built-in PodSecurity admission, the labels enforce nothing without a webhook.",
    ),
    g(
        "namespace-unseen",
        "pod-security",
        "A namespace in scope is not in the view: its pod-security labels cannot be read.",
    ),
    // HorizontalPodAutoscalers.
    f("hpa-target-missing", "hpa", "The HPA's scaleTargetRef names no object."),
    f("hpa-min-replicas-low", "hpa", "minReplicas below the minimum (default 2)."),
    f("hpa-max-not-above-min", "hpa", "maxReplicas is not above minReplicas: the HPA can never scale out."),
    f("hpa-no-metrics", "hpa", "The HPA names no metric (the API server defaults to 80% CPU)."),
    f(
        "hpa-target-without-requests",
        "hpa",
        "A utilisation metric on a target whose containers lack that request: the HPA cannot compute it.",
    ),
    f("hpa-pdb-conflict", "hpa", "At minReplicas the target's PDB allows no disruption: node drains block."),
    f("hpa-replicas-set", "hpa", "The target's applied configuration sets spec.replicas: each apply resets the scale."),
    f("hpa-unable-to-scale", "hpa", "AbleToScale or ScalingActive is False (e.g. metrics unavailable)."),
    f("hpa-at-max", "hpa", "currentReplicas equals maxReplicas: no headroom."),
    f("hpa-capacity-short", "hpa", "maxReplicas at the load test's rate per replica is below the peak with headroom."),
    g("hpa-target-unresolved", "hpa", "The HPA's target is a kind the gate does not read (a custom resource)."),
    g("hpa-status-unknown", "hpa", "The HPA controller has not reported the HPA's conditions yet."),
    g("hpa-capacity-unverified", "hpa", "The load-test summary is missing or unreadable: capacity not judged."),
    // Alert rules.
    f("rule-file-unparsable", "alert-rules", "A rule file does not parse or has the wrong shape."),
    f("rule-unknown-field", "alert-rules", "A field Prometheus does not know."),
    f("rule-group-name-missing", "alert-rules", "A rule group has no name."),
    f("rule-group-duplicate", "alert-rules", "Two groups of a file share a name."),
    f("rule-group-field-invalid", "alert-rules", "A group's interval, query_offset or limit is invalid."),
    f("rule-kind-conflict", "alert-rules", "A rule sets both `record` and `alert`."),
    f("rule-kind-missing", "alert-rules", "A rule sets neither `record` nor `alert`."),
    f("rule-expr-missing", "alert-rules", "A rule has no `expr`."),
    f("rule-expr-invalid", "alert-rules", "A rule's `expr` is not valid PromQL."),
    f("rule-recording-field", "alert-rules", "A recording rule has alert-only fields."),
    f("rule-record-name-invalid", "alert-rules", "A recording rule's name is not a valid metric name."),
    f("rule-label-name-invalid", "alert-rules", "A label name is invalid."),
    f("rule-annotation-name-invalid", "alert-rules", "An annotation name is invalid."),
    f("rule-duration-invalid", "alert-rules", "`for` or `keep_firing_for` is not a Prometheus duration."),
    f("rule-template-invalid", "alert-rules", "A label or annotation template does not parse."),
    f("rule-duplicate", "alert-rules", "The same rule twice in a file (promtool's lint)."),
    f("alert-severity-missing", "alert-rules", "An alert has no severity label."),
    f("alert-severity-none", "alert-rules", "An alert's severity is `none`."),
    f("alert-severity-unknown", "alert-rules", "An alert's severity is not a known one."),
    f("alert-summary-missing", "alert-rules", "An alert has no summary annotation."),
    f("alert-runbook-missing", "alert-rules", "An alert has no runbook_url annotation."),
    f("alert-for-zero", "alert-rules", "An alert has no `for` or `for: 0`: it fires on one bad evaluation."),
    f("alert-severity-conflict", "alert-rules", "The same alert name with different severities."),
    f("rules-none-found", "alert-rules", "A rule source holds no rules."),
    f("alert-expected-missing", "alert-rules", "An expected alert is in no rule source."),
    f("alert-expected-wrong-severity", "alert-rules", "An expected alert has another severity in the sources."),
    f("alert-not-loaded", "alert-rules", "An alert in the sources is not loaded by Prometheus."),
    f("alert-expected-not-loaded", "alert-rules", "An expected alert is in no source and not loaded."),
    f("alert-loaded-wrong-severity", "alert-rules", "A loaded alert has another severity than expected."),
    f("rule-unhealthy", "alert-rules", "A loaded rule's evaluation fails."),
    f("rule-evaluation-stale", "alert-rules", "A loaded rule has not been evaluated recently."),
    f("alert-firing-critical", "alert-rules", "A critical alert is firing now: the launch is blocked."),
    f("alert-firing-warning", "alert-rules", "A warning alert is firing now."),
    f(
        "alert-series-missing",
        "alert-rules",
        "An alert reads series that do not exist: none within the lookback (an error: it can never fire), or none now (a warning, with when they were last seen).",
    ),
    f(
        "rule-metric-not-exported",
        "alert-rules",
        "An alert reads a metric none of the named exporters exposes (the closest exported name is given).",
    ),
    f(
        "rule-rate-window-short",
        "alert-rules",
        "A rate/irate/increase window is shorter than twice the scrape interval: it often holds one sample and returns nothing.",
    ),
    f(
        "rule-range-beyond-retention",
        "alert-rules",
        "A range (with its offset) reaches further back than Prometheus keeps data.",
    ),
    f(
        "alert-for-shorter-than-scrape",
        "alert-rules",
        "An alert's `for` is shorter than the scrape interval of what it reads: one sample fires it.",
    ),
    g(
        "exporter-unreadable",
        "alert-rules",
        "An exporter named in `exporters` could not be read (unreachable, an HTTP error, a missing file).",
    ),
    g(
        "scrape-config-unreadable",
        "alert-rules",
        "The scrape configuration named in `scrape_config` is missing or does not parse.",
    ),
    g("unreachable", "alert-rules, prometheus-slo", "Prometheus is unreachable."),
    g("misconfigured", "alert-rules, prometheus-slo", "The Prometheus URL, credentials or CA cannot be used."),
    g("prometheus-error", "alert-rules", "Prometheus answered an error or something unreadable."),
    // Vulnerability scan reports.
    f(
        "scan-vulnerability",
        "scan-report",
        "A vulnerability in a scan report: an error at or above `fail_on`, a warning below it.",
    ),
    f(
        "scan-severity-unknown",
        "scan-report",
        "A vulnerability the report gives no severity (every pip-audit finding): failing unless waived.",
    ),
    f("scan-report-stale", "scan-report", "The scan is older than `max_age` (report timestamp, else file time)."),
    f("scan-not-audited", "scan-report", "Dependencies the scanner says it did not audit (pip-audit's skip reasons)."),
    f("scan-report-empty", "scan-report", "The report shows nothing was scanned: zero findings prove nothing."),
    f(
        "scan-digest-mismatch",
        "scan-report",
        "The deployed image's digest is not the one the report scanned (same repository, other content).",
    ),
    g(
        "scan-report-unreadable",
        "scan-report",
        "A report file is missing, unreadable or not a known report (file:line).",
    ),
    g("scan-report-missing", "scan-report", "No report scanned a deployed image, or a pattern matches no file."),
    // SLOs.
    f("slo-met", "prometheus-slo", "An objective holds (info: its query, value, threshold, time and series)."),
    f("slo-warning", "prometheus-slo", "An objective's value is past its warning threshold, still within its bound."),
    f(
        "slo-violated",
        "prometheus-slo",
        "An objective's value is outside its bound: an error for a key objective, a warning otherwise.",
    ),
    f(
        "slo-regressed",
        "prometheus-slo",
        "An objective's value is worse than the baseline report's by more than `max_regression`.",
    ),
    f(
        "slo-score-failed",
        "prometheus-slo",
        "The total score (met counts the weight, warning half) is below `total_score.warn`.",
    ),
    f(
        "slo-score-warning",
        "prometheus-slo",
        "The total score is below `total_score.pass`, at or above `total_score.warn`.",
    ),
    g(
        "slo-no-data",
        "prometheus-slo",
        "The query returned no series, NaN or an infinite value (no traffic, a metric that does not exist).",
    ),
    g(
        "slo-query-error",
        "prometheus-slo",
        "Prometheus could not run the query (invalid PromQL, an execution error), or its answer is not a number.",
    ),
    g(
        "slo-ambiguous-result",
        "prometheus-slo",
        "The query returned several series and no `aggregate` says how to combine them.",
    ),
    g(
        "slo-baseline-missing",
        "prometheus-slo",
        "An objective with `max_regression` has no baseline value to compare with (none given, or not recorded).",
    ),
];

/// The entry of `code`, if it is one.
pub fn info(code: &str) -> Option<&'static CodeInfo> {
    CODES.iter().find(|c| c.code == code)
}

/// The codes a probe kind reports itself (not those every probe may report).
pub fn for_probe(kind: &str) -> Vec<&'static CodeInfo> {
    CODES.iter().filter(|c| c.by.split(", ").any(|b| b == kind)).collect()
}

/// In debug builds: a code that is not in the table is a bug (the whole test suite checks it).
#[inline]
pub fn debug_check(code: &str) {
    debug_assert!(info(code).is_some(), "code `{code}` is not in src/codes.rs: add it with its meaning");
}

/// Lowercase words of letters and digits joined by single hyphens.
pub fn is_kebab_case(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
}

/// docs/finding-codes.md, generated from the table.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Codes\n\nGenerated from `src/codes.rs` (a test keeps this file in step). Every finding, every part \
         that could not be checked (a gap) and every verdict of the decision carries one of these stable \
         codes. How they turn into outcomes: docs/decision.md.\n",
    );
    for (kind, title) in
        [(CodeKind::Finding, "Findings"), (CodeKind::Gap, "Gaps (could not check)"), (CodeKind::Decision, "Decision")]
    {
        out.push_str(&format!("\n## {title}\n\n| code | reported by | meaning |\n|---|---|---|\n"));
        for c in CODES.iter().filter(|c| c.kind == kind) {
            out.push_str(&format!("| `{}` | {} | {} |\n", c.code, c.by, c.meaning.replace('|', "\\|")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case_and_explained() {
        let mut seen = std::collections::BTreeSet::new();
        for c in CODES {
            assert!(seen.insert(c.code), "`{}` is defined twice", c.code);
            assert!(is_kebab_case(c.code), "`{}` is not kebab-case", c.code);
            assert!(c.meaning.ends_with('.') && c.meaning.len() > 10, "`{}` needs a meaning", c.code);
        }
        assert!(!is_kebab_case("Bad-Code") && !is_kebab_case("a--b") && !is_kebab_case(""));
    }

    #[test]
    fn the_rule_and_secret_code_constants_are_in_the_table() {
        for c in crate::rules::codes::PROMTOOL_ERRORS.iter().chain(crate::secrets::CODES.iter().map(|c| &c.code)) {
            assert!(info(c).is_some(), "{c}");
        }
    }

    #[test]
    fn the_documentation_is_in_step() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/finding-codes.md");
        let generated = markdown();
        if std::fs::read_to_string(path).ok().as_deref() != Some(generated.as_str()) {
            // Regenerate so the diff can be reviewed and committed, then still fail.
            let _ = std::fs::write(path, &generated);
            panic!("docs/finding-codes.md was out of step with src/codes.rs; it has been regenerated");
        }
    }
}
