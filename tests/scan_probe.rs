//! The `security.image-scan` check end to end (`kgents-gate audit --offline --manifests`): the
//! corpus reports (tests/corpora/scan/README.md) and the hand-made edge cases judged by severity,
//! age and emptiness, tied to the images the manifests deploy, with the evidence; and the kgents
//! example, whose manual scan items the check replaced.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpora/scan");

/// A checklist folder: one `scan` item with `with` as its parameters, the given corpus reports
/// copied into `scans/` (by file name), and `manifests` (YAML) in `m/` when not empty.
struct Workspace {
    dir: tempfile::TempDir,
    manifests: bool,
}

fn workspace(check: &str, with: &str, reports: &[&str], manifests: &str) -> Workspace {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("scans")).unwrap();
    for r in reports {
        let name = Path::new(r).file_name().unwrap();
        std::fs::copy(Path::new(CORPUS).join(r), dir.path().join("scans").join(name)).unwrap();
    }
    if !manifests.is_empty() {
        std::fs::create_dir(dir.path().join("m")).unwrap();
        std::fs::write(dir.path().join("m/deploy.yaml"), manifests).unwrap();
    }
    let checklist = format!(
        "[launch]\nname = \"scan test\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"security\"\ntitle = \"Security\"\n\n\
         [[item]]\nid = \"scan\"\ncategory = \"security\"\ntitle = \"images scanned\"\ncheck = \"{check}\"\nowner = \"security\"\n\
         [item.with]\n{with}\n"
    );
    std::fs::write(dir.path().join("checklist.toml"), checklist).unwrap();
    Workspace { dir, manifests: !manifests.is_empty() }
}

/// `audit --offline` judged as of `today`: the exit code and the JSON report.
fn audit(ws: &Workspace, today: &str) -> (i32, Value) {
    let mut cmd = Command::new(BIN);
    cmd.args(["audit", "--offline", "--format", "json", "--out-dir", "out", "--today", today]);
    if ws.manifests {
        cmd.args(["--manifests", "m"]);
    }
    let out = cmd.current_dir(ws.dir.path()).env("NO_COLOR", "1").env_remove("KUBECONFIG").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let text = std::fs::read_to_string(ws.dir.path().join("out/kgents-gate-report.json"))
        .unwrap_or_else(|e| panic!("no report ({e}): {stderr}"));
    (out.status.code().unwrap_or(-1), serde_json::from_str(&text).unwrap())
}

fn item(r: &Value) -> &Value {
    &r["items"][0]
}

fn fact<'a>(facts: &'a Value, name: &str) -> Option<&'a str> {
    facts.as_array()?.iter().find(|f| f["name"] == name).and_then(|f| f["value"].as_str())
}

fn findings_with<'a>(item: &'a Value, code: &str) -> Vec<&'a Value> {
    item["findings"].as_array().unwrap().iter().filter(|f| f["code"] == code).collect()
}

fn deployment(name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n      - {{name: app, image: \"{image}\"}}\n---\n"
    )
}

const ALPINE: &str = "trivy/alpine-310-registry.json";
const ALPINE_DIGEST: &str = "sha256:b1c5a500182b21d0bfa5a584a8526b56d8be316f89e87d951be04abed2446e60";
const OTHER_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

#[test]
fn each_deployed_image_needs_the_report_of_its_digest() {
    let manifests = [
        deployment("by-digest", &format!("localhost:53869/alpine@{ALPINE_DIGEST}")),
        deployment("by-tag", "localhost:53869/alpine:3.10"),
        deployment("other-digest", &format!("localhost:53869/alpine:3.10@{OTHER_DIGEST}")),
        deployment("unscanned", "redis:7.0.15"),
    ]
    .concat();
    let ws = workspace(
        "security.image-scan",
        "reports = [\"scans/*.json\"]\nnamespaces = [\"shop\"]",
        &[ALPINE],
        &manifests,
    );
    let (code, r) = audit(&ws, "2021-08-26");
    let i = item(&r);
    // Another digest of the scanned repository is an error; an image without a report a gap.
    assert_eq!((code, i["outcome"].as_str()), (1, Some("fail")), "{i:#}");
    let mismatch = findings_with(i, "scan-digest-mismatch");
    assert_eq!(mismatch.len(), 1, "{i:#}");
    assert_eq!(mismatch[0]["target"], format!("localhost:53869/alpine:3.10@{OTHER_DIGEST}"));
    assert_eq!(fact(&mismatch[0]["evidence"], "report"), Some("scans/alpine-310-registry.json"));
    assert_eq!(fact(&mismatch[0]["evidence"], "report_digests"), Some(ALPINE_DIGEST));
    assert_eq!(fact(&mismatch[0]["evidence"], "used_by"), Some("Deployment shop/other-digest container app"));
    let gaps = i["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:#?}");
    assert_eq!(gaps[0]["code"], "scan-report-missing");
    assert_eq!(gaps[0]["reason"], "no report scanned redis:7.0.15 (used by Deployment shop/unscanned container app)");
    let by_digest = format!("image localhost:53869/alpine@{ALPINE_DIGEST}");
    assert_eq!(fact(&i["evidence"], &by_digest), Some("scans/alpine-310-registry.json (same digest)"));
    assert_eq!(
        fact(&i["evidence"], "image localhost:53869/alpine:3.10"),
        Some("scans/alpine-310-registry.json (same tag; no digest to compare)")
    );
    // Medium findings are warnings under the default `fail_on = high`.
    assert!(findings_with(i, "scan-vulnerability").iter().all(|f| f["level"] == "warning"));

    // Without the mismatching and the unscanned image, everything ties and only warnings remain.
    let manifests = [
        deployment("by-digest", &format!("localhost:53869/alpine@{ALPINE_DIGEST}")),
        deployment("by-tag", "localhost:53869/alpine:3.10"),
    ]
    .concat();
    let ws = workspace("security.image-scan", "reports = [\"scans/*.json\"]", &[ALPINE], &manifests);
    let (code, r) = audit(&ws, "2021-08-26");
    assert_eq!((code, item(&r)["outcome"].as_str()), (0, Some("warn")), "{:#}", item(&r));
    assert!(item(&r)["gaps"].as_array().unwrap().is_empty());
}

#[test]
fn evidence_names_each_report_with_its_digest_scanner_and_counts() {
    let ws = workspace(
        "security.image-scan",
        "reports = [\"scans/grype-fix-states.json\", \"scans/debian-buster.json\"]\nmatch_images = false\nmax_age = \"100000d\"",
        &["edge/grype-fix-states.json", "trivy/debian-buster.json"],
        "",
    );
    let (_, r) = audit(&ws, "2026-11-30");
    let ev = &item(&r)["evidence"];
    let bytes = std::fs::read(Path::new(CORPUS).join("edge/grype-fix-states.json")).unwrap();
    let sha = hex::encode(Sha256::digest(&bytes));
    assert_eq!(fact(ev, "scans/grype-fix-states.json sha256"), Some(sha.as_str()));
    assert_eq!(fact(ev, "scans/grype-fix-states.json scanner"), Some("grype 0.79.3 (Grype JSON)"));
    assert_eq!(fact(ev, "scans/debian-buster.json scanner"), Some("Trivy (no version in the report; Trivy JSON)"));
    assert_eq!(
        fact(ev, "scans/debian-buster.json severity"),
        Some("critical 1 · high 0 · medium 0 · low 1 · negligible 0 · unknown 0")
    );
    assert_eq!(
        fact(ev, "scans/debian-buster.json target testdata/fixtures/images/debian-buster.tar.gz (debian 10.1)"),
        Some("os packages: critical 1 · low 1")
    );
    assert!(
        fact(ev, "scans/grype-fix-states.json scanned")
            .is_some_and(|s| s.starts_with("2026-11-30T13:15:42.123456789Z (report timestamp)")),
        "{ev:#}"
    );
    assert_eq!(fact(ev, "scans/grype-fix-states.json ignored by the scanner"), Some("1"));
    assert_eq!(fact(ev, "images"), Some("not matched (match_images = false)"));
    assert_eq!(fact(ev, "reports"), Some("2"));
    // Each finding names the report, package, versions and id.
    let idn = findings_with(item(&r), "scan-vulnerability")
        .into_iter()
        .find(|f| fact(&f["evidence"], "id") == Some("CVE-2019-18224"))
        .unwrap();
    assert_eq!(idn["level"], "error");
    assert_eq!(idn["target"], "testdata/fixtures/images/debian-buster.tar.gz (debian 10.1)");
    for (name, value) in [
        ("package", "libidn2-0"),
        ("installed", "2.0.5-1"),
        ("fixed", "2.0.5-1+deb10u1"),
        ("severity", "critical"),
        ("aliases", "DSA-4613-1"),
        ("report", "scans/debian-buster.json"),
    ] {
        assert_eq!(fact(&idn["evidence"], name), Some(value), "{name}: {idn:#}");
    }
}

#[test]
fn the_threshold_unknown_severity_and_unfixed_findings() {
    // trivy-stale: high (fixed), Medium with `will_not_fix` and no fix, and a severity word no
    // scanner uses (unknown).
    let ws = |with: &str| {
        workspace(
            "security.dependency-scan",
            &format!("reports = [\"scans/trivy-stale.json\"]\nmax_age = \"100000d\"\n{with}"),
            &["edge/trivy-stale.json"],
            "",
        )
    };
    let levels = |r: &Value| -> Vec<(String, String, String)> {
        item(r)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let id = fact(&f["evidence"], "id").unwrap_or("-").to_string();
                (f["code"].as_str().unwrap().to_string(), f["level"].as_str().unwrap().to_string(), id)
            })
            .collect()
    };
    let t = |c: &str, l: &str, id: &str| (c.to_string(), l.to_string(), id.to_string());
    let (_, r) = audit(&ws(""), "2026-11-30");
    assert_eq!(
        levels(&r),
        [
            t("scan-vulnerability", "error", "CVE-2023-44487"),
            t("scan-severity-unknown", "error", "CVE-2011-3374"),
            t("scan-vulnerability", "warning", "CVE-2023-5678"),
        ]
    );
    let (_, r) = audit(&ws("fail_on = \"medium\"\nignore_unfixed = true"), "2026-11-30");
    // Unfixed findings stop counting (info), except an unrated one: not shown to be harmless.
    assert_eq!(
        levels(&r),
        [
            t("scan-vulnerability", "error", "CVE-2023-44487"),
            t("scan-severity-unknown", "error", "CVE-2011-3374"),
            t("scan-vulnerability", "info", "CVE-2023-5678"),
        ]
    );
    let (_, r) = audit(&ws("fail_on = \"critical\""), "2026-11-30");
    assert_eq!(levels(&r)[0], t("scan-severity-unknown", "error", "CVE-2011-3374"), "unknown fails at any threshold");
    assert_eq!(item(&r)["outcome"], "fail");
}

#[test]
fn a_stale_report_fails_by_its_own_timestamp_or_by_the_file_time() {
    let ws =
        workspace("security.dependency-scan", "reports = [\"scans/trivy-stale.json\"]", &["edge/trivy-stale.json"], "");
    let (code, r) = audit(&ws, "2026-11-30");
    let stale = findings_with(item(&r), "scan-report-stale");
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0]["level"], "error");
    assert_eq!(code, 1);
    assert!(stale[0]["message"].as_str().unwrap().contains("older than max_age 7d"), "{stale:#?}");
    assert_eq!(fact(&stale[0]["evidence"], "scanned_at"), Some("2019-06-01T12:00:00Z"));
    // Judged as of the day after the scan, it is fresh.
    let (_, r) = audit(&ws, "2019-06-02");
    assert!(findings_with(item(&r), "scan-report-stale").is_empty());

    // pip-audit writes no timestamp: the file's modification time is the age.
    let ws = workspace(
        "security.dependency-scan",
        "reports = [\"scans/test_json.json\"]\nmax_age = \"30d\"",
        &["pip-audit/test_json.json"],
        "",
    );
    let file = std::fs::File::options().write(true).open(ws.dir.path().join("scans/test_json.json")).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(40 * 86_400);
    file.set_modified(old).unwrap();
    drop(file);
    let today = jiff::ZonedDateTime::now().date().to_string();
    let (_, r) = audit(&ws, &today);
    let stale = findings_with(item(&r), "scan-report-stale");
    assert_eq!(stale.len(), 1, "{:#}", item(&r));
    assert!(
        fact(&item(&r)["evidence"], "scans/test_json.json scanned")
            .is_some_and(|s| s.contains("(file modified; the report has no timestamp), 40 days before the audit")),
        "{:#}",
        item(&r)["evidence"]
    );
}

#[test]
fn omitted_vulnerability_lists_are_zero_findings_of_a_real_scan() {
    let manifests = deployment(
        "api",
        "registry.example.com/kgents/api@sha256:2222222222222222222222222222222222222222222222222222222222222222",
    );
    let ws = workspace(
        "security.image-scan",
        "reports = [\"scans/*.json\"]",
        &["edge/trivy-omitted-arrays.json"],
        &manifests,
    );
    let (code, r) = audit(&ws, "2026-11-30");
    let i = item(&r);
    assert_eq!((code, i["outcome"].as_str(), i["code"].as_str()), (0, Some("pass"), Some("ok")), "{i:#}");
    assert!(i["findings"].as_array().unwrap().is_empty());
    assert_eq!(
        fact(&i["evidence"], "scans/trivy-omitted-arrays.json target app/requirements.txt"),
        Some("language packages: no vulnerabilities")
    );
}

#[test]
fn a_report_that_scanned_nothing_is_never_a_pass() {
    // The recorded pip-audit run audited nothing (PyPI's per-version API answered 404), and said
    // "No known vulnerabilities found": the gate says nothing was scanned.
    for (rel, why) in [
        ("recorded/pip-audit-2.10.1.json", "pip-audit skipped every dependency it lists (3 not audited)"),
        ("edge/pip-audit-empty.json", "the report lists no scanned target"),
        ("edge/trivy-empty.json", "the report lists no scanned target"),
        ("grype/TestEmptyJsonPresenter.golden.json", "the report lists no scanned target"),
    ] {
        let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
        let ws = workspace(
            "security.dependency-scan",
            &format!("reports = [\"scans/{name}\"]\nmax_age = \"100000d\""),
            &[rel],
            "",
        );
        let (code, r) = audit(&ws, "2026-11-30");
        let i = item(&r);
        assert_eq!(
            (code, i["outcome"].as_str(), i["code"].as_str()),
            (1, Some("fail"), Some("scan-report-empty")),
            "{rel}: {i:#}"
        );
        let msg = i["findings"][0]["message"].as_str().unwrap();
        assert_eq!(msg, format!("scans/{name}: nothing was scanned: {why}; zero findings prove nothing"), "{rel}");
    }
    // Some dependencies skipped beside audited ones: each skipped one is a warning.
    let ws = workspace(
        "security.dependency-scan",
        "reports = [\"scans/test_json_skipped_dep.json\"]\nmax_age = \"100000d\"",
        &["pip-audit/test_json_skipped_dep.json"],
        "",
    );
    let (_, r) = audit(&ws, "2026-11-30");
    let skipped = findings_with(item(&r), "scan-not-audited");
    assert_eq!(skipped.len(), 1, "{:#}", item(&r));
    assert_eq!(skipped[0]["level"], "warning");
}

#[test]
fn unreadable_missing_and_unmatched_files_are_unverified_never_zero_findings() {
    let ws = workspace(
        "security.dependency-scan",
        "reports = [\"scans/trivy-truncated.json\", \"scans/cyclonedx-unknown-shape.json\", \"scans/absent.json\", \"none/*.json\"]",
        &["edge/trivy-truncated.json", "edge/cyclonedx-unknown-shape.json"],
        "",
    );
    let (code, r) = audit(&ws, "2026-11-30");
    let i = item(&r);
    assert_eq!((code, i["outcome"].as_str()), (3, Some("unverified")), "{i:#}");
    let reasons: Vec<(&str, &str)> = i["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["code"].as_str().unwrap(), g["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:#?}");
    assert_eq!(reasons[0], ("scan-report-missing", "`none/*.json` matches no file: no scan report to judge"));
    assert_eq!(reasons[1].0, "scan-report-unreadable");
    assert!(
        reasons[1].1.starts_with("scans/trivy-truncated.json:")
            && reasons[1].1.contains("the file ends inside a JSON value: truncated scan report"),
        "file:line:column of the parse error: {}",
        reasons[1].1
    );
    let position = reasons[1].1.split(':').nth(1).unwrap();
    assert!(position.parse::<usize>().is_ok_and(|l| l > 1), "a line number: {}", reasons[1].1);
    assert!(
        reasons[2]
            .1
            .starts_with("scans/cyclonedx-unknown-shape.json: a JSON object is not a scan report of a known shape")
    );
    assert_eq!(reasons[3], ("scan-report-unreadable", "scans/absent.json: cannot read the scan report: no such file"));
    assert!(i["findings"].as_array().unwrap().is_empty());
}

#[test]
fn safety_reports_without_severity_count_as_failing() {
    let ws = workspace(
        "security.dependency-scan",
        "reports = [\"scans/safety-2.1.1.json\"]\nmax_age = \"100000d\"",
        &["recorded/safety-2.1.1.json"],
        "",
    );
    let (code, r) = audit(&ws, "2026-11-30");
    let unknown = findings_with(item(&r), "scan-severity-unknown");
    let ids: Vec<&str> = unknown.iter().map(|f| fact(&f["evidence"], "id").unwrap()).collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert!(unknown.iter().all(|f| f["level"] == "error"));
    assert_eq!(code, 1);
    assert_eq!(
        fact(&item(&r)["evidence"], "scans/safety-2.1.1.json scanner"),
        Some("Safety 2.1.1 (Safety check JSON)")
    );
}

#[test]
fn without_manifests_offline_the_images_cannot_be_tied_but_the_reports_are_judged() {
    let ws = workspace(
        "security.image-scan",
        "reports = [\"scans/*.json\"]\nmax_age = \"100000d\"",
        &["trivy/debian-buster.json"],
        "",
    );
    let (code, r) = audit(&ws, "2026-11-30");
    let i = item(&r);
    // What is deployed could not be seen: the report's critical finding cannot be tied to the
    // launch, so it is noted, not judged, and the item is unverified (never a pass).
    assert_eq!((code, i["outcome"].as_str()), (3, Some("unverified")), "{i:#}");
    assert!(i["findings"].as_array().unwrap().is_empty(), "{i:#}");
    let noted = fact(&i["evidence"], "scans/debian-buster.json not judged").unwrap_or_default();
    assert!(noted.contains("no container in scope is seen to run"), "{i:#}");
    let gaps = i["gaps"].as_array().unwrap();
    assert_eq!(gaps[0]["code"], "offline");
    assert!(gaps[0]["reason"].as_str().unwrap().ends_with("the reports cannot be tied to the deployed images"));

    // Manifests that deploy nothing in the namespaces in scope: nothing to tie, never a pass.
    let clean = "reports = [\"scans/*.json\"]\nnamespaces = [\"shop\"]";
    let ws = workspace(
        "security.image-scan",
        clean,
        &["edge/trivy-omitted-arrays.json"],
        &deployment("api", "api:1").replace("shop", "other"),
    );
    let (code, r) = audit(&ws, "2026-11-30");
    let i = item(&r);
    assert_eq!(
        (code, i["outcome"].as_str(), i["code"].as_str()),
        (3, Some("unverified"), Some("nothing-in-scope")),
        "{i:#}"
    );
    assert_eq!(fact(&i["evidence"], "images"), Some("0"));
    assert_eq!(
        fact(&i["evidence"], "scans/trivy-omitted-arrays.json not deployed"),
        Some("registry.example.com/kgents/api:1.4.2: no container in the namespaces in scope runs it")
    );
    assert_eq!(
        fact(&i["evidence"], "scans/trivy-omitted-arrays.json image registry.example.com/kgents/api:1.4.2"),
        Some(
            "registry.example.com/kgents/api@sha256:2222222222222222222222222222222222222222222222222222222222222222, image ID sha256:1111111111111111111111111111111111111111111111111111111111111111"
        )
    );
}

#[test]
fn the_kgents_example_scans_every_image_it_deploys() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .args(["audit", "--checklist", "examples/kgents/checklist.toml", "--manifests", "examples/kgents/manifests"])
        .args(["--offline", "--only", "security", "--format", "json", "--today", "2026-12-01", "--out-dir"])
        .arg(out.path())
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("kgents-gate-report.json")).unwrap()).unwrap();
    let find = |id: &str| r["items"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap().clone();
    let images = find("security.image-scan");
    assert_eq!(images["probe"], "scan-report");
    assert_eq!(images["outcome"], "warn", "{images:#}");
    assert!(images["gaps"].as_array().unwrap().is_empty(), "every deployed image has its report: {images:#}");
    assert_eq!(fact(&images["evidence"], "images"), Some("6"));
    // The API's release candidate was scanned but is not deployed: its critical CVE is not the
    // launch's (examples/kgents/broken/critical-cve deploys it).
    let rc = fact(&images["evidence"], "scans/images/api-3.2.0-rc.1.json not judged").unwrap_or_default();
    assert!(rc.contains("1 vulnerabilities") && rc.contains("no container in scope is seen to run"), "{images:#}");
    for image in [
        "ghcr.io/kgents/api:3.1.0",
        "nats:2.10.29-alpine",
        "natsio/prometheus-nats-exporter:0.15.0",
        "ghcr.io/kgents/agent:1.4.2",
        "redis:7.0.15",
        "ghcr.io/kgents/billing:2.0.1",
    ] {
        assert!(fact(&images["evidence"], &format!("image {image}")).is_some(), "{image}: {images:#}");
    }
    // The exporter's high finding is waived by id; the medium and low ones remain warnings.
    let waived = images["waived_findings"].as_array().unwrap();
    assert_eq!(waived.len(), 1);
    assert_eq!(fact(&waived[0]["finding"]["evidence"], "id"), Some("EXAMPLE-2026-0201"));
    assert_eq!(waived[0]["waiver"]["ticket"], "SEC-131");
    assert!(images["findings"].as_array().unwrap().iter().all(|f| f["level"] == "warning"));
    assert_eq!(find("security.dependency-scan")["outcome"], "pass");
    assert_eq!(find("security.safety-scan")["outcome"], "pass");
    assert_eq!(r["decision"], "APPROVED_WITH_WAIVERS");
}

#[test]
fn explain_and_rbac_describe_the_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |args: &[&str]| {
        let o = Command::new(BIN).args(args).current_dir(root).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let explain = run(&["explain", "security.image-scan", "--checklist", "examples/kgents/checklist.toml"]);
    assert!(explain.contains("check security.image-scan (probe kind: scan-report, from"), "{explain}");
    assert!(explain.contains("scan report files"), "{explain}");
    assert!(explain.contains("id: the finding's id or aliases fact"), "{explain}");
    let rbac = run(&["rbac", "--only", "security.image-scan", "--checklist", "examples/kgents/checklist.toml"]);
    for resource in ["pods", "deployments", "statefulsets", "daemonsets", "replicasets", "jobs", "cronjobs"] {
        assert!(rbac.contains(resource), "{resource} in\n{rbac}");
    }
    assert!(!rbac.contains("secrets"), "the scan check reads no Secrets:\n{rbac}");
    let rbac = run(&["rbac", "--only", "security.dependency-scan", "--checklist", "examples/kgents/checklist.toml"]);
    assert!(!rbac.contains("pods"), "match_images = false reads nothing from the cluster:\n{rbac}");
}
