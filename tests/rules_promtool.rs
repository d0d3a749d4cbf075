//! The rule validator agrees with `promtool check rules` (Prometheus 2.42, /usr/bin/promtool) on
//! every file of Prometheus' own rulefmt and promtool test data, and on the template cases.

use std::path::{Path, PathBuf};
use std::process::Command;

use kgents_gate::rules::{self, CheckOptions, PromVersion, RuleEntry, codes};

const CORPUS: &str = "tests/corpora/rules/prometheus-rulefmt";

fn promtool() -> &'static str {
    let p = "/usr/bin/promtool";
    assert!(Path::new(p).exists(), "promtool is missing: run `bash scripts/setup-test-env.sh`");
    p
}

struct Promtool {
    valid: bool,
    output: String,
}

fn run_promtool(file: &Path) -> Promtool {
    let out = Command::new(promtool()).args(["check", "rules"]).arg(file).output().expect("run promtool");
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Promtool { valid: out.status.success(), output }
}

fn ours(file: &Path, opts: &CheckOptions) -> Vec<RuleEntry> {
    rules::check_paths_with(&[file], opts).expect("read rule file")
}

fn messages(entries: &[RuleEntry]) -> Vec<String> {
    entries.iter().flat_map(|e| e.findings.iter().map(|f| format!("[{}] {}", f.code, f.message))).collect()
}

fn corpus_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["rulefmt-testdata", "promtool-testdata"] {
        for e in std::fs::read_dir(Path::new(CORPUS).join(dir)).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    files.sort();
    files
}

#[test]
fn valid_and_invalid_agree_with_promtool_on_every_file() {
    let mut files = corpus_files();
    for e in std::fs::read_dir("tests/corpora/rules/awesome-prometheus-alerts").unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yml") {
            files.push(p);
        }
    }
    assert_eq!(files.len(), 26 + 5, "16 rulefmt + 10 promtool files + 5 awesome-prometheus-alerts files");
    let mut disagreements = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for f in &files {
        let theirs = run_promtool(f);
        let entries = ours(f, &CheckOptions::default());
        let our_valid = rules::prometheus_accepts(&entries);
        if our_valid != theirs.valid {
            disagreements.push(format!(
                "{}: promtool valid={} ours valid={}\npromtool: {}\nours: {:#?}",
                f.display(),
                theirs.valid,
                our_valid,
                theirs.output,
                messages(&entries)
            ));
        }
        if theirs.valid { valid += 1 } else { invalid += 1 }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n\n"));
    // Valid: 3 rulefmt files, 5 promtool files, the 5 awesome-prometheus-alerts files. promtool 2.42
    // checks legacy names, so the two utf-8 "good" rulefmt files are among the invalid ones.
    assert_eq!((valid, invalid), (13, 18));
}

/// Expected error substrings from rulefmt_test.go, via the corpus' EXPECTED.yaml.
#[test]
fn error_text_matches_the_expected_substrings() {
    let expected: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(Path::new(CORPUS).join("EXPECTED.yaml")).unwrap()).unwrap();
    let invalid = expected["rulefmt"]["invalid"].as_array().unwrap();
    assert_eq!(invalid.len(), 11);
    for case in invalid {
        let file = Path::new(CORPUS).join(case["file"].as_str().unwrap());
        let want = case["errMsg"].as_str().unwrap();
        let entries = ours(&file, &CheckOptions::default());
        assert!(!rules::prometheus_accepts(&entries), "{}", file.display());
        assert_eq!(rules::exit_status(&entries), 1, "{}", file.display());
        let msgs = messages(&entries);
        assert!(msgs.iter().any(|m| m.contains(want)), "{}: want {want:?} in {msgs:#?}", file.display());
    }
    // Under Prometheus 3 (UTF-8 names) the utf-8 files are valid, as rulefmt_test says.
    let utf8 = CheckOptions { prometheus: PromVersion::V3, ..Default::default() };
    for case in expected["rulefmt"]["valid"].as_array().unwrap() {
        let file = Path::new(CORPUS).join(case["file"].as_str().unwrap());
        let entries = ours(&file, &utf8);
        assert!(rules::prometheus_accepts(&entries), "{}: {:#?}", file.display(), messages(&entries));
    }
}

/// promtool's duplicate-rule lint reports the same (name, labels) pairs as ours. test_aliases.yaml
/// is left out: Go reports an aliased name by its anchor name ("alertname"), a Go YAML quirk.
#[test]
fn duplicate_lint_matches_promtool() {
    for f in corpus_files().iter().filter(|f| f.is_file() && !f.ends_with("test_aliases.yaml")) {
        let theirs = run_promtool(f);
        let mut their_dups: Vec<String> =
            theirs.output.lines().filter_map(|l| l.strip_prefix("Metric: ")).map(str::to_string).collect();
        their_dups.sort();
        let entries = ours(f, &CheckOptions::default());
        let mut our_dups: Vec<String> = entries
            .iter()
            .filter(|e| e.findings.iter().any(|x| x.code == codes::DUPLICATE))
            .filter_map(|e| e.alert.clone().or(e.record.clone()))
            .collect();
        our_dups.sort();
        our_dups.dedup();
        assert_eq!(our_dups, their_dups, "{}", f.display());
    }
}

#[test]
fn template_cases_agree_with_expectation_and_promtool() {
    let text = std::fs::read_to_string(Path::new(CORPUS).join("template-cases/cases.yaml")).unwrap();
    let cases: Vec<serde_json::Value> = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(cases.len(), 5);
    let dir = tempfile::tempdir().unwrap();
    for c in &cases {
        let id = c["id"].as_str().unwrap();
        let should_pass = c["shouldPass"].as_bool().unwrap();
        let file = dir.path().join(format!("{id}.yaml"));
        std::fs::write(&file, c["rules"].as_str().unwrap()).unwrap();
        let entries = ours(&file, &CheckOptions::default());
        let template_errors: Vec<_> =
            entries.iter().flat_map(|e| &e.findings).filter(|f| f.code == codes::TEMPLATE_INVALID).collect();
        assert_eq!(template_errors.is_empty(), should_pass, "{id}: {template_errors:#?}");
        assert_eq!(rules::prometheus_accepts(&entries), run_promtool(&file).valid, "{id}");
    }
}
