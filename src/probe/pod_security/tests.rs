//! The probe over manifests read as the audit reads them: every kind's pod template, folding of
//! owned objects, exclusion, namespace labels, per-namespace versions and the gaps.

use crate::cluster::manifests::{ManifestSet, parse_into};
use crate::cluster::{ClusterView, Gap, Kind, KindData};
use crate::outcome::{Finding, Level as FindingLevel, ProbeReport};
use crate::probe::params::{error_keys, read_for_test};
use crate::report::ClusterInfo;

use super::*;

fn view_of(yaml: &str, p: &PodSecurityParams) -> ClusterView {
    let mut set = ManifestSet::default();
    parse_into(yaml, std::path::Path::new("t.yaml"), &mut set);
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    let mut view = ClusterView::new(true);
    for n in needs(p) {
        view.set(n.kind, KindData::Objects(Vec::new()));
    }
    view.overlay(set, "default");
    view
}

fn params(toml: &str) -> PodSecurityParams {
    read_for_test(toml, PodSecurityParams::read).unwrap()
}

fn run(yaml: &str, toml: &str) -> ProbeReport {
    let p = params(toml);
    report_for(&view_of(yaml, &p), &p)
}

fn with<'r>(r: &'r ProbeReport, code: &str) -> Vec<&'r Finding> {
    r.findings().iter().filter(|f| f.code == code).collect()
}

fn fact<'f>(f: &'f Finding, name: &str) -> Option<&'f str> {
    f.evidence.iter().find(|e| e.name == name).map(|e| e.value.as_str())
}

fn evidence<'r>(r: &'r ProbeReport, name: &str) -> Option<&'r str> {
    r.evidence.iter().find(|e| e.name == name).map(|e| e.value.as_str())
}

/// (target, check, field) of every violation.
fn violations(r: &ProbeReport) -> Vec<(String, String, String)> {
    with(r, "pod-security-violation")
        .iter()
        .map(|f| {
            (f.target.clone().unwrap_or_default(), fact(f, "check").unwrap().into(), fact(f, "field").unwrap().into())
        })
        .collect()
}

const RESTRICTED_NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n\
    \x20   pod-security.kubernetes.io/enforce: restricted\n    pod-security.kubernetes.io/enforce-version: v1.30\n";

/// A pod spec that meets restricted at every version.
const GOOD_SPEC: &str = "securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n\
    containers:\n- name: app\n  image: app:1\n  securityContext:\n    allowPrivilegeEscalation: false\n\
    \x20   capabilities: {drop: [ALL]}\n";

/// `spec` indented by `n` spaces.
fn indent(spec: &str, n: usize) -> String {
    spec.lines().map(|l| format!("{}{l}\n", " ".repeat(n))).collect()
}

/// An object of `kind` named `name` in `shop` whose pod spec is `spec` (YAML at column 0).
fn object(kind: &str, name: &str, spec: &str, extra_meta: &str) -> String {
    let api = match kind {
        "Pod" | "ReplicationController" => "v1",
        "Job" | "CronJob" => "batch/v1",
        _ => "apps/v1",
    };
    let head =
        format!("apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}, namespace: shop{extra_meta}}}\nspec:\n");
    let template = |n: usize| {
        let pad = " ".repeat(n);
        format!("{pad}template:\n{pad}  metadata: {{labels: {{app: x}}}}\n{pad}  spec:\n{}", indent(spec, n + 4))
    };
    let body = match kind {
        "Pod" => indent(spec, 2),
        "CronJob" => format!("  schedule: \"@daily\"\n  jobTemplate:\n    spec:\n{}", template(6)),
        "Job" => template(2),
        "ReplicationController" => format!("  selector: {{app: x}}\n{}", template(2)),
        _ => format!("  selector: {{matchLabels: {{app: x}}}}\n{}", template(2)),
    };
    format!("{head}{body}")
}

#[test]
fn parameters_default_to_restricted_latest_and_bad_values_are_explained() {
    let p = params("");
    assert_eq!(
        (p.level, p.version, p.require_namespace_enforcement),
        (Level::Restricted, VersionChoice::Fixed(Version::Latest), true)
    );
    let p = params("level = \"baseline\"\nversion = \"v1.25\"\nrequire_namespace_enforcement = false");
    assert_eq!((p.level, p.version), (Level::Baseline, VersionChoice::Fixed(Version::V1(25))));
    assert!(!p.reads_namespaces());
    assert_eq!(
        params("version = \"namespace\"\nrequire_namespace_enforcement = false").version,
        VersionChoice::Namespace
    );
    let errs = read_for_test(
        "level = \"privileged\"\nversion = \"1.25\"\nexclude = [\"a/b/c\"]\nlevle = 1",
        PodSecurityParams::read,
    )
    .unwrap_err();
    assert_eq!(error_keys(&errs), ["level", "version", "exclude", "levle"]);
    assert!(errs[0].message.contains("imposes no checks"), "{}", errs[0].message);
    assert!(errs[1].message.contains("\"latest\" or \"v1.<minor>\""), "{}", errs[1].message);
    assert!(errs[1].message.contains("\"namespace\""), "{}", errs[1].message);
    assert!(errs[3].message.contains("did you mean `level`"), "{}", errs[3].message);
}

#[test]
fn needs_every_kind_with_a_pod_spec_and_namespaces_only_when_their_labels_count() {
    let kinds = |toml: &str| needs(&params(toml)).iter().map(|n| n.kind).collect::<Vec<_>>();
    let all = kinds("namespaces = [\"shop\"]");
    for k in [
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::ReplicaSet,
        Kind::ReplicationController,
        Kind::Job,
        Kind::CronJob,
        Kind::Namespace,
    ] {
        assert!(all.contains(&k), "{k}");
    }
    assert!(!kinds("require_namespace_enforcement = false").contains(&Kind::Namespace));
    assert!(kinds("require_namespace_enforcement = false\nversion = \"namespace\"").contains(&Kind::Namespace));
}

#[test]
fn every_kind_is_judged_with_the_field_path_inside_the_object() {
    let bad = "containers:\n- name: app\n  image: app:1\n  securityContext: {privileged: true}\n";
    for (kind, prefix) in [
        ("Pod", ""),
        ("Deployment", "spec.template."),
        ("StatefulSet", "spec.template."),
        ("DaemonSet", "spec.template."),
        ("ReplicaSet", "spec.template."),
        ("ReplicationController", "spec.template."),
        ("Job", "spec.template."),
        ("CronJob", "spec.jobTemplate.spec.template."),
    ] {
        let yaml = [RESTRICTED_NS, &object(kind, "x", bad, "")].join("---\n");
        let r = run(&yaml, "level = \"baseline\"");
        let target = format!("{kind} shop/x");
        assert_eq!(
            violations(&r),
            [(
                target.clone(),
                "privileged".to_string(),
                format!("{prefix}spec.containers[0].securityContext.privileged")
            )],
            "{kind}: {:#?}",
            r.findings()
        );
        let f = with(&r, "pod-security-violation")[0];
        assert_eq!(f.level, FindingLevel::Error);
        assert_eq!(fact(f, "container"), Some("app"));
        assert_eq!(fact(f, "value"), Some("true"));
        assert_eq!((fact(f, "level"), fact(f, "version")), (Some("baseline"), Some("latest")));
        assert!(fact(f, "fix").unwrap().contains("privileged"), "{f:?}");
        assert!(f.message.contains("baseline at latest: check privileged"), "{}", f.message);
        assert_eq!(evidence(&r, "pod specs judged"), Some(format!("1 {kind}").as_str()));
        // The same pod spec written as restricted requires it is admitted.
        let good = [RESTRICTED_NS, &object(kind, "x", GOOD_SPEC, "")].join("---\n");
        let r = run(&good, "");
        assert!(r.findings().is_empty() && r.gaps().is_empty(), "{kind}: {:#?} {:#?}", r.findings(), r.gaps());
    }
}

#[test]
fn restricted_names_each_missing_setting_with_its_fix() {
    let spec = "containers:\n- {name: app, image: app:1}\n";
    let r = run(&[RESTRICTED_NS, &object("Deployment", "api", spec, "")].join("---\n"), "");
    let mut checks: Vec<String> = violations(&r).into_iter().map(|(_, c, _)| c).collect();
    checks.sort();
    assert_eq!(
        checks,
        ["allowPrivilegeEscalation", "capabilities_restricted", "runAsNonRoot", "seccompProfile_restricted"]
    );
    let f = with(&r, "pod-security-violation").into_iter().find(|f| fact(f, "check") == Some("runAsNonRoot")).unwrap();
    assert_eq!(fact(f, "value"), Some("(not set)"));
    assert_eq!(fact(f, "field"), Some("spec.template.spec.containers[0].securityContext.runAsNonRoot"));
    assert_eq!(evidence(&r, "violations"), Some("4"));
}

#[test]
fn owned_objects_report_only_what_their_controller_does_not() {
    let owner = |kind: &str, name: &str, api: &str| {
        format!(", ownerReferences: [{{apiVersion: {api}, kind: {kind}, name: {name}, uid: u, controller: true}}]")
    };
    let rs = object(
        "ReplicaSet",
        "api-5d8",
        "containers:\n- {name: app, image: app:1}\n",
        &owner("Deployment", "api", "apps/v1"),
    );
    let old = object(
        "ReplicaSet",
        "api-4c1",
        "containers:\n- name: app\n  image: app:0\n  securityContext: {privileged: true}\n",
        &owner("Deployment", "api", "apps/v1"),
    )
    .replacen("spec:\n", "spec:\n  replicas: 0\n", 1);
    // The Pod got a sidecar the template does not have (injected at admission).
    let pod_spec = "containers:\n- {name: proxy, image: proxy:1, securityContext: {capabilities: {add: [NET_ADMIN]}}}\n- {name: app, image: app:1}\n";
    let pod = object("Pod", "api-5d8-x", pod_spec, &owner("ReplicaSet", "api-5d8", "apps/v1"));
    let deploy = object("Deployment", "api", "containers:\n- {name: app, image: app:1}\n", "");
    let yaml = [RESTRICTED_NS, &pod, &rs, &old, &deploy].join("---\n");
    let r = run(&yaml, "level = \"baseline\"");
    assert_eq!(
        violations(&r),
        [(
            "Pod shop/api-5d8-x".to_string(),
            "capabilities_baseline".to_string(),
            "spec.containers[0].securityContext.capabilities.add[0]".to_string()
        )],
        "{:#?}",
        r.findings()
    );
    assert_eq!(evidence(&r, "pod specs judged"), Some("1 Deployment"));
    assert_eq!(
        evidence(&r, "judged through their controller"),
        Some("1 ReplicaSet, 1 Pod (only what differs from the controller's template is reported)")
    );
    assert_eq!(evidence(&r, "old revisions"), Some("1 ReplicaSet at 0 replicas (they run no pods; not reported)"));
    // At restricted the app container's own gaps are the Deployment's, reported once, not three times.
    let r = run(&yaml, "");
    let targets: std::collections::BTreeSet<String> = violations(&r).into_iter().map(|(t, _, _)| t).collect();
    assert_eq!(targets.into_iter().collect::<Vec<_>>(), ["Deployment shop/api", "Pod shop/api-5d8-x"]);
    let on_pod: Vec<String> = with(&r, "pod-security-violation")
        .iter()
        .filter(|f| f.target.as_deref() == Some("Pod shop/api-5d8-x"))
        .map(|f| fact(f, "container").unwrap().to_string())
        .collect();
    assert!(on_pod.iter().all(|c| c == "proxy"), "{on_pod:?}");
}

#[test]
fn exclusion_follows_ownership_and_is_named() {
    let owned = ", ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: u, controller: true}]";
    let bad = "hostNetwork: true\ncontainers:\n- {name: a, image: a:1}\n";
    let yaml = [
        RESTRICTED_NS,
        &object("DaemonSet", "agent", bad, ""),
        &object("Pod", "agent-x", bad, owned),
        &object("Pod", "debug", bad, ""),
    ]
    .join("---\n");
    let r = run(&yaml, "level = \"baseline\"\nexclude = [\"shop/agent\"]");
    assert_eq!(violations(&r).iter().map(|v| v.0.as_str()).collect::<Vec<_>>(), ["Pod shop/debug"]);
    assert_eq!(evidence(&r, "excluded"), Some("DaemonSet shop/agent; Pod shop/agent-x (its controller is excluded)"));
    // A selector on the pods' labels.
    let r = run(&yaml, "level = \"baseline\"\nselector = { app = \"x\" }");
    let mut t: Vec<String> = violations(&r).into_iter().map(|v| v.0).collect();
    t.sort();
    assert_eq!(t, ["DaemonSet shop/agent"], "the bare Pods carry no app=x label");
}

fn namespace(name: &str, labels: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\n")
}

#[test]
fn namespaces_must_enforce_the_level_and_their_pins_are_evidence() {
    let p = "pod-security.kubernetes.io";
    let yaml = [
        namespace("a", &format!("{p}/enforce: restricted, {p}/enforce-version: v1.30, {p}/warn: restricted")),
        namespace("b", ""),
        namespace("c", &format!("{p}/enforce: baseline")),
        namespace("d", &format!("{p}/warn: restricted, {p}/audit: restricted")),
        namespace("e", &format!("{p}/enforce: strict")),
        namespace("f", &format!("{p}/enforce: privileged")),
        namespace("kube-system", ""),
        object("Pod", "p", GOOD_SPEC, "").replace("namespace: shop", "namespace: a"),
    ]
    .join("---\n");
    let r = run(&yaml, "");
    let by = |code: &str| with(&r, code).iter().map(|f| f.target.clone().unwrap()).collect::<Vec<_>>();
    assert_eq!(by("namespace-pss-not-enforced"), ["Namespace b", "Namespace c", "Namespace f"]);
    assert_eq!(by("namespace-pss-warn-only"), ["Namespace d"]);
    assert_eq!(by("namespace-pss-label-invalid"), ["Namespace e"]);
    let msg = |code: &str, i: usize| with(&r, code)[i].message.clone();
    assert!(msg("namespace-pss-not-enforced", 0).contains("has no pod-security.kubernetes.io/enforce label"));
    assert!(msg("namespace-pss-not-enforced", 1).contains("enforces baseline, below the required restricted"));
    assert!(
        msg("namespace-pss-warn-only", 0).contains("only warns and audits at restricted"),
        "{}",
        msg("namespace-pss-warn-only", 0)
    );
    assert!(msg("namespace-pss-label-invalid", 0).contains("pod-security.kubernetes.io/enforce=strict"));
    assert_eq!(
        evidence(&r, "namespace a"),
        Some("enforce restricted at v1.30 (pinned); warn restricted at latest (no version label); audit not set")
    );
    assert_eq!(evidence(&r, "namespace b"), Some("enforce not set; warn not set; audit not set"));
    assert!(evidence(&r, "namespace kube-system").is_none(), "Kubernetes' own namespaces are out of scope by default");
    assert!(with(&r, "namespace-pss-not-enforced").iter().all(|f| f.level == FindingLevel::Error));
    // Not required: the same readings, as info.
    let r = run(&yaml, "require_namespace_enforcement = false\nversion = \"namespace\"");
    assert_eq!(r.worst_level(), Some(FindingLevel::Info));
    // Baseline is enforced by a restricted label and by a baseline one.
    let r = run(&yaml, "level = \"baseline\"\nnamespaces = [\"a\", \"c\"]");
    assert!(r.findings().is_empty(), "{:#?}", r.findings());
}

#[test]
fn version_namespace_judges_each_namespace_at_its_pin() {
    let p = "pod-security.kubernetes.io";
    // runAsUser=0 is forbidden from policy v1.23 on.
    let root = "securityContext: {runAsNonRoot: true, runAsUser: 0, seccompProfile: {type: RuntimeDefault}}\n\
        containers:\n- name: app\n  image: app:1\n  securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n";
    let yaml = [
        namespace("old", &format!("{p}/enforce: restricted, {p}/enforce-version: v1.22")),
        namespace("new", &format!("{p}/enforce: restricted")),
        object("Pod", "p", root, "").replace("namespace: shop", "namespace: old"),
        object("Pod", "p", root, "").replace("namespace: shop", "namespace: new"),
    ]
    .join("---\n");
    let r = run(&yaml, "version = \"namespace\"");
    assert_eq!(
        violations(&r),
        [("Pod new/p".to_string(), "runAsUser".to_string(), "spec.securityContext.runAsUser".to_string())]
    );
    assert_eq!(fact(with(&r, "pod-security-violation")[0], "version"), Some("latest"));
    assert!(evidence(&r, "version").unwrap().contains("enforce-version"));
    let r = run(&yaml, "version = \"v1.22\"");
    assert!(violations(&r).is_empty(), "{:#?}", r.findings());
    let r = run(&yaml, "");
    assert_eq!(violations(&r).len(), 2);
}

#[test]
fn a_namespace_the_view_does_not_hold_is_a_gap_and_findings_stay() {
    let yaml = object("Pod", "p", "hostPID: true\ncontainers:\n- {name: a, image: a:1}\n", "");
    let r = run(&yaml, "level = \"baseline\"");
    assert_eq!(r.gaps().iter().map(|g| g.code.as_str()).collect::<Vec<_>>(), ["namespace-unseen"]);
    assert!(r.gaps()[0].reason.contains("the manifests hold no Namespace shop"));
    assert_eq!(violations(&r).len(), 1);
    let r = run(&yaml, "level = \"baseline\"\nrequire_namespace_enforcement = false");
    assert!(r.gaps().is_empty());
}

#[test]
fn unreadable_kinds_are_gaps_and_nothing_in_scope_is_unverified() {
    let p = params("");
    let mut view = view_of(&[RESTRICTED_NS, &object("Pod", "p", GOOD_SPEC, "")].join("---\n"), &p);
    view.set(
        Kind::CronJob,
        KindData::Gap(Gap::Forbidden { verb: "list".into(), resource: "cronjobs.batch".into(), namespace: None }),
    );
    let r = report_for(&view, &p);
    assert_eq!(r.gaps().iter().map(|g| g.code.as_str()).collect::<Vec<_>>(), ["forbidden"]);
    assert_eq!(evidence(&r, "pod specs judged"), Some("1 Pod"));
    let r = run(RESTRICTED_NS, "");
    assert_eq!(r.gaps().iter().map(|g| g.code.as_str()).collect::<Vec<_>>(), ["nothing-in-scope"]);
    let r = run(
        &[
            RESTRICTED_NS,
            "apiVersion: v1\nkind: Pod\nmetadata: {name: empty, namespace: shop}\nspec: {containers: []}\n",
        ]
        .join("---\n"),
        "",
    );
    assert_eq!(r.gaps()[0].code, "invalid-object");
    assert!(r.gaps()[0].reason.contains("spec.containers is empty"), "{}", r.gaps()[0].reason);
}

#[test]
fn a_cluster_older_than_1_23_has_no_admission_controller_to_enforce_the_labels() {
    let p = params("");
    let mut view = view_of(&[RESTRICTED_NS, &object("Pod", "p", GOOD_SPEC, "")].join("---\n"), &p);
    let info = |version: &str| ClusterInfo {
        server: "https://k".into(),
        version: version.into(),
        context: None,
        identity: None,
    };
    view.cluster = Some(info("v1.20.2"));
    let r = report_for(&view, &p);
    let f = with(&r, "pod-security-admission-absent");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].level, FindingLevel::Warning);
    assert!(f[0].message.contains("v1.20.2"));
    view.cluster = Some(info("v1.23.0"));
    assert!(report_for(&view, &p).findings().is_empty());
    let p = params("require_namespace_enforcement = false");
    view.cluster = Some(info("v1.20.2"));
    assert!(report_for(&view, &p).findings().is_empty());
}

#[test]
fn live_objects_of_a_controller_the_manifests_replace_are_not_reported() {
    // The live ReplicaSet (it has a UID) still runs the old template; the manifest of its
    // Deployment (no UID: a file of the next deploy) fixes it, so the rollout replaces it.
    let owner = ", uid: rs-1, ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: api, uid: d-1, controller: true}]";
    let old = "containers:\n- name: app\n  image: app:1\n  securityContext: {privileged: true}\n";
    let fixed = "containers:\n- {name: app, image: app:2}\n";
    // Its live Pod goes with it.
    let pod_owner = ", uid: p-1, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: api-5d8, uid: rs-1, controller: true}]";
    let yaml = [
        RESTRICTED_NS,
        &object("Deployment", "api", fixed, ""),
        &object("ReplicaSet", "api-5d8", old, owner),
        &object("Pod", "api-5d8-x", old, pod_owner),
    ]
    .join("---\n");
    let r = run(&yaml, "level = \"baseline\"");
    assert!(violations(&r).is_empty(), "{:#?}", r.findings());
    assert!(evidence(&r, "replaced by the deploy").unwrap().starts_with("1 ReplicaSet, 1 Pod of the live cluster"));
    // Both live: the running ReplicaSet's own violation is reported.
    let yaml = yaml.replace("namespace: shop}\nspec:\n  selector", "namespace: shop, uid: d-1}\nspec:\n  selector");
    let r = run(&yaml, "level = \"baseline\"");
    assert_eq!(violations(&r).iter().map(|v| v.0.as_str()).collect::<Vec<_>>(), ["ReplicaSet shop/api-5d8"]);
    assert!(evidence(&r, "replaced by the deploy").is_none());
}

#[test]
fn a_credential_pasted_into_a_judged_field_is_never_shown() {
    let token = "ghp_R8kT2mQ9vX4pL7nW1sZ6bY3cJ5dF0hA9eG2k";
    let pod = object("Pod", "p", GOOD_SPEC, "").replace(
        "namespace: shop}",
        &format!("namespace: shop, annotations: {{container.apparmor.security.beta.kubernetes.io/app: \"{token}\"}}}}"),
    );
    let yaml = [namespace("shop", &format!("pod-security.kubernetes.io/enforce: \"{token}\"")), pod].join("---\n");
    let r = run(&yaml, "");
    let apparmor = with(&r, "pod-security-violation");
    assert_eq!(apparmor.len(), 1, "{:#?}", r.findings());
    assert_eq!(with(&r, "namespace-pss-label-invalid").len(), 1);
    let shown = format!("{:?} {:?}", r.findings(), r.evidence);
    assert!(!shown.contains("R8kT2mQ9"), "{shown}");
}
