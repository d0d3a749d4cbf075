//! Levels, versions, the check registry and the namespace labels.

use serde_json::{Value, json};

use super::*;

#[test]
fn versions_parse_as_the_labels_write_them() {
    assert_eq!("latest".parse::<Version>(), Ok(Version::Latest));
    assert_eq!("v1.0".parse::<Version>(), Ok(Version::V1(0)));
    assert_eq!("v1.9".parse::<Version>(), Ok(Version::V1(9)));
    assert_eq!("v1.33".parse::<Version>(), Ok(Version::V1(33)));
    for bad in
        ["", "v1", "v1.", "1.25", "v2.0", "v1.025", "v1.01", "v1.-1", "v1.2x", "Latest", " v1.2", "v1.99999999999"]
    {
        let err = bad.parse::<Version>().expect_err(bad);
        assert!(err.to_string().contains("expected \"latest\" or \"v1.<minor>\""), "{bad}: {err}");
    }
    assert_eq!(Version::V1(25).to_string(), "v1.25");
    assert_eq!(Version::Latest.to_string(), "latest");
}

#[test]
fn levels_parse_and_privileged_is_explained() {
    assert_eq!("baseline".parse::<Level>(), Ok(Level::Baseline));
    assert_eq!("restricted".parse::<Level>(), Ok(Level::Restricted));
    assert!(Level::Baseline < Level::Restricted);
    assert!("privileged".parse::<Level>().unwrap_err().to_string().contains("imposes no checks"));
    assert!("Restricted".parse::<Level>().unwrap_err().to_string().contains("\"baseline\" or \"restricted\""));
}

#[test]
fn latest_and_future_versions_mean_the_newest_rules() {
    let newest = CHECKS.iter().flat_map(|c| c.revisions.iter().copied()).max();
    assert_eq!(newest, Some(NEWEST_POLICY_MINOR), "NEWEST_POLICY_MINOR must follow the registry");
    assert_eq!(Version::Latest.policy_minor(), NEWEST_POLICY_MINOR);
    assert_eq!(Version::V1(99).policy_minor(), NEWEST_POLICY_MINOR);
    assert_eq!(Version::V1(12).policy_minor(), 12);
}

#[test]
fn registry_ids_are_unique_and_overrides_name_baseline_checks() {
    for (i, c) in CHECKS.iter().enumerate() {
        assert!(CHECKS[..i].iter().all(|o| o.id != c.id), "duplicate {}", c.id);
        assert!(c.revisions.windows(2).all(|w| w[0] < w[1]), "{}: revisions out of order", c.id);
        if let Some(o) = c.overrides {
            assert_eq!(c.level, Level::Restricted, "{}", c.id);
            assert!(CHECKS.iter().any(|b| b.id == o && b.level == Level::Baseline), "{} overrides {o}", c.id);
        }
    }
}

fn ids(level: Level, version: Version) -> Vec<&'static str> {
    checks_in_force(level, version).iter().map(|c| c.id).collect()
}

#[test]
fn restricted_includes_baseline_minus_what_it_replaces() {
    let baseline = ids(Level::Baseline, Version::Latest);
    let restricted = ids(Level::Restricted, Version::Latest);
    assert_eq!(baseline.len(), 12);
    for id in &baseline {
        let replaced = ["hostPathVolumes", "capabilities_baseline", "seccompProfile_baseline", "procMount"];
        assert_eq!(restricted.contains(id), !replaced.contains(id), "{id}");
    }
    for id in ["restrictedVolumes", "capabilities_restricted", "seccompProfile_restricted", "procMount_restricted"] {
        assert!(restricted.contains(&id), "{id}");
    }
}

#[test]
fn checks_join_and_replace_at_their_versions() {
    let r = |minor| ids(Level::Restricted, Version::V1(minor));
    assert!(!r(7).contains(&"allowPrivilegeEscalation") && r(8).contains(&"allowPrivilegeEscalation"));
    assert!(r(18).contains(&"seccompProfile_baseline") && !r(18).contains(&"seccompProfile_restricted"));
    assert!(!r(19).contains(&"seccompProfile_baseline") && r(19).contains(&"seccompProfile_restricted"));
    assert!(r(21).contains(&"capabilities_baseline") && !r(22).contains(&"capabilities_baseline"));
    assert!(!r(22).contains(&"runAsUser") && r(23).contains(&"runAsUser"));
    assert!(!r(33).contains(&"hostProbesAndHostLifecycle") && r(34).contains(&"hostProbesAndHostLifecycle"));
    assert!(r(34).contains(&"procMount") && !r(35).contains(&"procMount") && r(35).contains(&"procMount_restricted"));
    assert!(ids(Level::Baseline, Version::V1(35)).contains(&"procMount"));
    assert!(!r(0).contains(&"hostPathVolumes"), "restrictedVolumes replaces hostPathVolumes from v1.0");
}

#[test]
fn effective_check_follows_replacement() {
    let at = |id, level, minor| effective_check(id, level, Version::V1(minor));
    assert_eq!(at("hostPathVolumes", Level::Restricted, 0), Some("restrictedVolumes"));
    assert_eq!(at("hostPathVolumes", Level::Baseline, 0), Some("hostPathVolumes"));
    assert_eq!(at("capabilities_baseline", Level::Restricted, 21), Some("capabilities_baseline"));
    assert_eq!(at("capabilities_baseline", Level::Restricted, 22), Some("capabilities_restricted"));
    assert_eq!(at("runAsUser", Level::Restricted, 22), None);
    assert_eq!(at("runAsUser", Level::Baseline, 30), None);
    assert_eq!(at("hostProbesAndHostLifecycle", Level::Baseline, 33), None);
}

// ---------------------------------------------------------------- namespace labels

fn ns(labels: Value) -> NamespaceEnforcement {
    namespace_enforcement(&labels, Level::Restricted)
}

#[test]
fn enforce_at_or_above_the_required_level_is_enforced_with_its_version() {
    let e = ns(json!({ENFORCE_LABEL: "restricted", ENFORCE_VERSION_LABEL: "v1.29", "team": "a"}));
    assert_eq!(e, NamespaceEnforcement::Enforced { level: Level::Restricted, version: Version::V1(29) });
    let e = ns(json!({ENFORCE_LABEL: "restricted"}));
    assert_eq!(e, NamespaceEnforcement::Enforced { level: Level::Restricted, version: Version::Latest });
    let e = namespace_enforcement(&json!({ENFORCE_LABEL: "restricted"}), Level::Baseline);
    assert_eq!(e, NamespaceEnforcement::Enforced { level: Level::Restricted, version: Version::Latest });
}

#[test]
fn warn_or_audit_alone_is_not_enforcement() {
    let e = ns(json!({ENFORCE_LABEL: "baseline", WARN_LABEL: "restricted", AUDIT_LABEL: "baseline"}));
    let baseline = ModePolicy { level: PolicyLevel::Baseline, version: Version::Latest };
    let warn = ModePolicy { level: PolicyLevel::Restricted, version: Version::Latest };
    assert_eq!(e, NamespaceEnforcement::WarnOrAuditOnly { enforce: baseline, warn: Some(warn), audit: None });
    let e = ns(json!({AUDIT_LABEL: "restricted", AUDIT_VERSION_LABEL: "v1.30"}));
    let privileged = ModePolicy { level: PolicyLevel::Privileged, version: Version::Latest };
    let audit = ModePolicy { level: PolicyLevel::Restricted, version: Version::V1(30) };
    assert_eq!(e, NamespaceEnforcement::WarnOrAuditOnly { enforce: privileged, warn: None, audit: Some(audit) });
}

#[test]
fn absent_privileged_or_weaker_labels_are_not_enforced() {
    let privileged = ModePolicy { level: PolicyLevel::Privileged, version: Version::Latest };
    assert_eq!(ns(Value::Null), NamespaceEnforcement::NotEnforced { enforce: privileged });
    assert_eq!(ns(json!({})), NamespaceEnforcement::NotEnforced { enforce: privileged });
    assert_eq!(ns(json!({ENFORCE_LABEL: "privileged"})), NamespaceEnforcement::NotEnforced { enforce: privileged });
    let e = ns(json!({ENFORCE_LABEL: "baseline", ENFORCE_VERSION_LABEL: "v1.25", WARN_LABEL: "baseline"}));
    let baseline = ModePolicy { level: PolicyLevel::Baseline, version: Version::V1(25) };
    assert_eq!(e, NamespaceEnforcement::NotEnforced { enforce: baseline });
    // A version label without a level changes nothing: the level stays privileged.
    let e = ns(json!({ENFORCE_VERSION_LABEL: "v1.30"}));
    let pinned = ModePolicy { level: PolicyLevel::Privileged, version: Version::V1(30) };
    assert_eq!(e, NamespaceEnforcement::NotEnforced { enforce: pinned });
}

#[test]
fn invalid_label_values_are_reported_each() {
    let e = ns(json!({ENFORCE_LABEL: "Restricted", WARN_VERSION_LABEL: "1.30", AUDIT_LABEL: 3}));
    let NamespaceEnforcement::Invalid { labels } = e else { panic!("{e:?}") };
    let got: Vec<(&str, &str)> = labels.iter().map(|l| (l.label.as_str(), l.value.as_str())).collect();
    assert_eq!(got, [(ENFORCE_LABEL, "Restricted"), (WARN_VERSION_LABEL, "1.30"), (AUDIT_LABEL, "3")]);
    assert!(labels[0].reason.contains("privileged, baseline, restricted"));
    assert!(labels[1].reason.contains("v1.<minor>"));
    let e = ns(json!(["not", "a", "map"]));
    assert!(matches!(e, NamespaceEnforcement::Invalid { ref labels } if labels[0].label == "metadata.labels"), "{e:?}");
}

#[test]
fn namespace_enforcement_serializes_with_a_status_tag() {
    let e = ns(json!({ENFORCE_LABEL: "restricted", ENFORCE_VERSION_LABEL: "v1.30"}));
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v, json!({"status": "enforced", "level": "restricted", "version": "v1.30"}));
}
