//! The stable finding codes of rule checks, in one place so that reports, tests and
//! documentation agree on them.

// What `promtool check rules` rejects (all errors).
/// The YAML does not parse, or a file, group or rule has the wrong shape.
pub const FILE_UNPARSABLE: &str = "rule-file-unparsable";
/// A field Prometheus does not know (e.g. `annotation` for `annotations`).
pub const UNKNOWN_FIELD: &str = "rule-unknown-field";
pub const GROUP_NAME_MISSING: &str = "rule-group-name-missing";
pub const GROUP_DUPLICATE: &str = "rule-group-duplicate";
/// `interval`, `query_offset` or `limit` of a group is invalid.
pub const GROUP_FIELD_INVALID: &str = "rule-group-field-invalid";
/// Both `record` and `alert` are set.
pub const KIND_CONFLICT: &str = "rule-kind-conflict";
/// Neither `record` nor `alert` is set.
pub const KIND_MISSING: &str = "rule-kind-missing";
pub const EXPR_MISSING: &str = "rule-expr-missing";
/// `expr` is not valid PromQL; the message carries the parser's.
pub const EXPR_INVALID: &str = "rule-expr-invalid";
/// `annotations`, `for` or `keep_firing_for` on a recording rule.
pub const RECORDING_FIELD: &str = "rule-recording-field";
pub const RECORD_NAME_INVALID: &str = "rule-record-name-invalid";
pub const LABEL_NAME_INVALID: &str = "rule-label-name-invalid";
pub const ANNOTATION_NAME_INVALID: &str = "rule-annotation-name-invalid";
/// `for` or `keep_firing_for` is not a Prometheus duration.
pub const DURATION_INVALID: &str = "rule-duration-invalid";
/// A label or annotation template does not parse.
pub const TEMPLATE_INVALID: &str = "rule-template-invalid";

/// Every code above: the findings for which `promtool check rules` fails.
pub const PROMTOOL_ERRORS: &[&str] = &[
    FILE_UNPARSABLE,
    UNKNOWN_FIELD,
    GROUP_NAME_MISSING,
    GROUP_DUPLICATE,
    GROUP_FIELD_INVALID,
    KIND_CONFLICT,
    KIND_MISSING,
    EXPR_MISSING,
    EXPR_INVALID,
    RECORDING_FIELD,
    RECORD_NAME_INVALID,
    LABEL_NAME_INVALID,
    ANNOTATION_NAME_INVALID,
    DURATION_INVALID,
    TEMPLATE_INVALID,
];

// promtool's lint (a warning: promtool still exits 0).
/// Same name and labels as an earlier rule of the same file.
pub const DUPLICATE: &str = "rule-duplicate";

// kgents' own findings on alerting rules.
pub const SEVERITY_MISSING: &str = "alert-severity-missing";
pub const SEVERITY_NONE: &str = "alert-severity-none";
pub const SEVERITY_UNKNOWN: &str = "alert-severity-unknown";
pub const SUMMARY_MISSING: &str = "alert-summary-missing";
pub const RUNBOOK_MISSING: &str = "alert-runbook-missing";
/// `for` absent or zero: the alert fires on the first bad evaluation.
pub const FOR_ZERO: &str = "alert-for-zero";
/// The same alert name with different severities.
pub const SEVERITY_CONFLICT: &str = "alert-severity-conflict";
/// A source holds no rules at all.
pub const NO_RULES: &str = "rules-none-found";

// Expected alerts and the running Prometheus.
pub const EXPECTED_MISSING: &str = "alert-expected-missing";
pub const EXPECTED_WRONG_SEVERITY: &str = "alert-expected-wrong-severity";
/// In the rule sources, but Prometheus has not loaded it.
pub const NOT_LOADED: &str = "alert-not-loaded";
/// Expected, in no source, and not loaded either.
pub const EXPECTED_NOT_LOADED: &str = "alert-expected-not-loaded";
/// Loaded with a severity other than the expected one.
pub const LOADED_WRONG_SEVERITY: &str = "alert-loaded-wrong-severity";
/// Health `err` or a `lastError`.
pub const RULE_UNHEALTHY: &str = "rule-unhealthy";
/// Never evaluated, or last evaluated longer ago than the allowed age.
pub const RULE_STALE: &str = "rule-evaluation-stale";
pub const FIRING_CRITICAL: &str = "alert-firing-critical";
pub const FIRING_WARNING: &str = "alert-firing-warning";
