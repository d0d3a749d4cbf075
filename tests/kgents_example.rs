//! The kgents example offline (examples/kgents): the default checklist's shape (45 items in the
//! eight categories, at least 30 probed, every manual item saying why), each broken variant
//! BLOCKED with its finding in JSON, JUnit and Markdown, the variants changing only what their
//! `Broken:` comments say, and the sample reports of examples/reports/ regenerated.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

#[path = "support/variants.rs"]
mod variants;

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// pip-audit writes no timestamp: the report's age is its file's, which a checkout sets to now.
/// Dated like the other scans, the samples do not depend on the day of the checkout.
fn date_the_pip_audit_report() {
    let path = Path::new(ROOT).join("examples/kgents/scans/deps/billing-pip-audit.json");
    let scanned = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_018_400); // 2026-11-30T06:00:00Z
    std::fs::File::options().write(true).open(&path).and_then(|f| f.set_modified(scanned)).unwrap();
}

fn audit(extra: &[&str], out: &Path) -> (Output, Value) {
    date_the_pip_audit_report();
    let o = Command::new(BIN)
        .args(["audit", "--checklist", "examples/kgents/checklist.toml", "--manifests", "examples/kgents/manifests"])
        .args(extra)
        .args(["--offline", "--today", "2026-12-01", "--format", "terminal,markdown,json,junit", "--out-dir"])
        .arg(out)
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    let json = serde_json::from_str(&std::fs::read_to_string(out.join("kgents-gate-report.json")).unwrap()).unwrap();
    (o, json)
}

#[test]
fn the_default_checklist_has_the_45_items_and_the_example_the_same() {
    let load = |path: &str| -> toml::Table {
        toml::from_str(&std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap()).unwrap()
    };
    let default = load("checklist.toml");
    let example = load("examples/kgents/checklist.toml");
    let items = default["item"].as_array().unwrap();
    assert_eq!(items.len(), 45);
    let per_category = |c: &str| items.iter().filter(|i| i["category"].as_str() == Some(c)).count();
    let expected = [
        ("secrets", 7),
        ("network", 5),
        ("resources", 6),
        ("observability", 6),
        ("dr", 5),
        ("load", 5),
        ("security", 6),
        ("docs", 5),
    ];
    for (c, n) in expected {
        assert_eq!(per_category(c), n, "{c}");
    }
    let manual: Vec<&toml::Value> =
        items.iter().filter(|i| i.get("kind").and_then(|k| k.as_str()) == Some("manual")).collect();
    assert!(items.len() - manual.len() >= 30, "{} probed", items.len() - manual.len());
    for m in &manual {
        let title = m["title"].as_str().unwrap();
        assert!(title.ends_with(')') && title.contains(" ("), "a manual item says why a person judges it: {title}");
    }
    // The example's checklist is the default one, its alert-rules item also reading the exporters.
    let ids = |t: &toml::Table| -> Vec<String> {
        t["item"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&default), ids(&example));
    for (d, e) in items.iter().zip(example["item"].as_array().unwrap()) {
        if d["id"].as_str() != Some("observability.alert-rules") {
            assert_eq!(d, e, "{}", d["id"]);
        }
    }
    // The example also keeps an expired waiver (the expired-waiver variant shows it named).
    let (dw, ew) = (default["waiver"].as_array().unwrap(), example["waiver"].as_array().unwrap());
    assert_eq!(dw[..], ew[..dw.len()]);
    assert_eq!(ew.len(), dw.len() + 1);
    assert_eq!(ew[dw.len()]["item"].as_str(), Some("resources.api-limits"));
}

#[test]
fn the_example_is_judged_and_every_broken_variant_is_blocked_with_its_finding() {
    let dir = tempfile::tempdir().unwrap();
    let (o, base) = audit(&[], &dir.path().join("base"));
    // Offline the endpoints are unseen: INCOMPLETE, nothing failed.
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(base["decision"], "INCOMPLETE");
    let failed: Vec<&Value> = base["items"].as_array().unwrap().iter().filter(|i| i["outcome"] == "fail").collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let variants = variants::broken_variants();
    // The table names every variant directory that changes manifests.
    let mut dirs: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("examples/kgents/broken"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "slo-violated"))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut listed: Vec<String> = variants.iter().map(|v| v.0.clone()).collect();
    listed.sort();
    assert_eq!(listed, dirs, "examples/kgents/broken/variants.tsv against the variant directories");
    for (variant, id, code) in &variants {
        let (variant, id, code) = (variant.as_str(), id.as_str(), code.as_str());
        let out = dir.path().join(variant);
        let overlay = format!("examples/kgents/broken/{variant}");
        let (o, r) = audit(&["--manifests", &overlay], &out);
        assert_eq!(o.status.code(), Some(1), "{variant}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(r["decision"], "BLOCKED", "{variant}");
        let item = r["items"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap();
        assert_eq!(item["outcome"], "fail", "{variant}: {item:#}");
        assert!(item["findings"].as_array().unwrap().iter().any(|f| f["code"] == code), "{variant}: {item:#}");
        let junit = std::fs::read_to_string(out.join("kgents-gate-report.xml")).unwrap();
        let md = std::fs::read_to_string(out.join("kgents-gate-report.md")).unwrap();
        assert!(
            junit.contains(&format!("name=\"{id}:")) && junit.contains(item["code"].as_str().unwrap()),
            "{variant}: JUnit"
        );
        assert!(md.contains(id) && md.contains(item["code"].as_str().unwrap()), "{variant}: Markdown");
        // Only the variant's item fails, and the items that judge the same object: every
        // isolation item sees the policy that selects nothing, both PDB items the NATS budget.
        for other in r["items"].as_array().unwrap().iter().filter(|i| i["outcome"] == "fail") {
            let other = other["id"].as_str().unwrap();
            let same_object = (variant == "polluted-selector" && other.starts_with("network."))
                || (variant == "pdb-zero" && other == "dr.pdb-coverage");
            assert!(other == id || same_object, "{variant} also fails {other}");
        }
    }
    let expired = dir.path().join("expired-waiver/kgents-gate-report.json");
    let expired: Value = serde_json::from_str(&std::fs::read_to_string(expired).unwrap()).unwrap();
    let api = expired["items"].as_array().unwrap().iter().find(|i| i["id"] == "resources.api-limits").unwrap();
    assert!(api["message"].as_str().unwrap().contains("expired on 2026-11-20"), "{api:#}");
}

#[test]
fn every_change_of_a_variant_is_marked_broken() {
    let broken = Path::new(ROOT).join("examples/kgents/broken");
    for variant in std::fs::read_dir(&broken).unwrap() {
        let variant = variant.unwrap().path();
        if !variant.is_dir() {
            continue; // variants.tsv
        }
        for file in std::fs::read_dir(&variant).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let base = Path::new(ROOT).join("examples/kgents/manifests").join(file.file_name().unwrap());
            let o = Command::new("diff").arg(&base).arg(&file).output().unwrap();
            let diff = String::from_utf8_lossy(&o.stdout);
            assert!(!diff.is_empty(), "{} changes nothing", file.display());
            assert!(diff.contains("Broken"), "{}: changes without a `Broken:` comment:\n{diff}", file.display());
        }
    }
}

/// Removes what changes from run to run (times, durations), so the samples compare.
fn stable(text: &str) -> String {
    let ts = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)").unwrap();
    let ms = regex::Regex::new(r#"("duration_ms": ?)\d+|(took |\| Duration \| )\d+( ms)|(time=")[0-9.]+(")"#).unwrap();
    let text = ts.replace_all(text, "2026-12-01T00:00:00Z");
    ms.replace_all(&text, "${1}${2}${4}0${3}${5}").into_owned()
}

#[test]
fn the_sample_reports_are_those_the_example_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = audit(&[], dir.path());
    let samples = Path::new(ROOT).join("examples/reports");
    let mut stale = Vec::new();
    for name in ["kgents-gate-report.json", "kgents-gate-report.md", "kgents-gate-report.xml"] {
        let fresh = stable(&std::fs::read_to_string(dir.path().join(name)).unwrap());
        let path = samples.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(fresh.as_str()) {
            std::fs::write(&path, &fresh).unwrap();
            stale.push(name);
        }
    }
    let terminal = stable(&String::from_utf8_lossy(
        &Command::new(BIN)
            .args([
                "audit",
                "--checklist",
                "examples/kgents/checklist.toml",
                "--manifests",
                "examples/kgents/manifests",
            ])
            .args(["--offline", "--today", "2026-12-01", "--format", "terminal", "--out-dir"])
            .arg(dir.path())
            .current_dir(ROOT)
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100")
            .output()
            .unwrap()
            .stdout,
    ));
    // The summary fits one screen (decision, counts, progress) and says how to run it live.
    let summary: Vec<&str> = terminal.lines().take_while(|l| !l.starts_with("Blocking the launch")).collect();
    assert!(summary.len() <= 24, "{}", summary.join("\n"));
    assert!(terminal.contains("to check them live, run without --offline"), "{terminal}");
    let path = samples.join("kgents-gate-report.txt");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(terminal.as_str()) {
        std::fs::write(&path, &terminal).unwrap();
        stale.push("kgents-gate-report.txt");
    }
    assert!(stale.is_empty(), "examples/reports was stale and is regenerated now ({stale:?}): commit it");
}
