//! The CI examples (examples/ci/): the `kgents-gate` lines of the GitHub Actions and GitLab CI
//! files run as they are written (the kubeconfig swapped for `--offline`, the rendered manifests
//! being the kgents example's), the files their later steps read exist, and the JUnit report is
//! what GitLab's test view reads: every testcase with a classname and a name, unique by the two
//! (GitLab keeps one of a duplicate pair), a time in seconds, failure, error and skipped elements
//! with their message, and the evidence of passing cases in system-out (read with junitparser).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn yaml(rel: &str) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap()).unwrap()
}

/// A pipeline's workspace: the example's files (without its checklist, so the built-in one is
/// used), `rendered.yaml` from its manifests, and `kgents-gate` on PATH.
fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(ROOT).join("examples/kgents");
    assert!(Command::new("cp").arg("-r").arg(example.join(".")).arg(dir.path()).status().unwrap().success());
    std::fs::remove_file(dir.path().join("checklist.toml")).unwrap();
    let mut rendered = String::new();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(example.join("manifests")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files {
        rendered.push_str(&std::fs::read_to_string(f).unwrap());
        rendered.push_str("\n---\n");
    }
    std::fs::write(dir.path().join("rendered.yaml"), rendered).unwrap();
    let bin = dir.path().join(".bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(BIN, bin.join("kgents-gate")).unwrap();
    (dir, bin)
}

/// Runs one line of a CI script in the workspace with sh; returns the exit code.
fn run_line(dir: &Path, bin: &Path, line: &str) -> i32 {
    let kubeconfig = regex::Regex::new(r#"--kubeconfig "[^"]*""#).unwrap();
    let line = kubeconfig.replace(line, "--offline --today 2026-12-01");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let o = Command::new("sh").arg("-c").arg(line.as_ref()).current_dir(dir).env("PATH", path).output().unwrap();
    o.status.code().unwrap_or(-1)
}

fn gate_lines(script: &str) -> Vec<String> {
    script.lines().map(str::trim).filter(|l| l.starts_with("kgents-gate ")).map(String::from).collect()
}

#[test]
fn the_github_actions_steps_run_and_write_what_the_later_steps_read() {
    let wf = yaml("examples/ci/github-actions.yml");
    let steps = wf["jobs"]["launch-gate"]["steps"].as_array().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    let audit: Vec<String> = runs.iter().flat_map(|r| gate_lines(r)).filter(|l| l.contains(" audit ")).collect();
    assert_eq!(audit.len(), 1, "{runs:#?}");
    let (dir, bin) = workspace();
    // Offline the endpoints are unseen: INCOMPLETE, exit 3 (the step fails the job, as it should).
    assert_eq!(run_line(dir.path(), &bin, &audit[0]), 3);
    let junit = steps.iter().find_map(|s| s["with"]["report_paths"].as_str()).unwrap();
    assert!(dir.path().join(junit).is_file(), "{junit}");
    let summary = runs.iter().find(|r| r.contains("GITHUB_STEP_SUMMARY") && r.starts_with("cat ")).unwrap();
    let md = summary.split_whitespace().nth(1).unwrap();
    assert!(dir.path().join(md).is_file(), "{md}");
    let artifact = steps.iter().find_map(|s| s["with"]["path"].as_str().filter(|p| p.starts_with("reports"))).unwrap();
    assert!(dir.path().join(artifact).join("kgents-gate-report.json").is_file());
    // The comparison with the previous run's report: the same report, nothing new.
    std::fs::create_dir(dir.path().join("previous")).unwrap();
    std::fs::copy(
        dir.path().join("reports/kgents-gate-report.json"),
        dir.path().join("previous/kgents-gate-report.json"),
    )
    .unwrap();
    let diff = runs.iter().flat_map(|r| r.lines()).find(|l| l.contains("kgents-gate diff")).unwrap();
    let diff = diff.trim().trim_start_matches("{ echo '```';").split("||").next().unwrap().trim();
    assert_eq!(run_line(dir.path(), &bin, diff), 0, "{diff}");
}

const GITLAB_READER: &str = r#"
import json, sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
cases, problems = [], []
for suite in xml:
    n = 0
    for case in suite:
        n += 1
        key = (case.classname, case.name)
        if not case.classname or not case.name:
            problems.append("no classname or name: %r" % (key,))
        if key in cases:
            problems.append("duplicate %r (GitLab keeps one)" % (key,))
        cases.append(key)
        float(case.time)
        for r in case.result:
            if not isinstance(r, (Failure, Error, Skipped)):
                problems.append("unknown result %r" % r)
            if isinstance(r, (Failure, Error)) and not (r.message or r.text):
                problems.append("failure without message: %r" % (key,))
        # GitLab shows system-out beside a case: the evidence, where the failure text does not carry it.
        if not case.result and not case.system_out:
            problems.append("a passing case without its evidence in system-out: %r" % (key,))
    if suite.tests != n:
        problems.append("suite %s says %d tests, has %d" % (suite.name, suite.tests, n))
print(json.dumps({"cases": len(cases), "problems": problems,
  "failing": sum(1 for s in xml for c in s if any(isinstance(r, (Failure, Error)) for r in c.result))}))
"#;

#[test]
fn the_gitlab_job_runs_and_its_junit_is_what_gitlab_reads() {
    let ci = yaml("examples/ci/gitlab-ci.yml");
    let job = &ci["launch-gate"];
    let script: Vec<&str> = job["script"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let audit: Vec<String> = script.iter().flat_map(|s| gate_lines(s)).filter(|l| l.contains(" audit ")).collect();
    assert_eq!(audit.len(), 1, "{script:#?}");
    let (dir, bin) = workspace();
    assert_eq!(run_line(dir.path(), &bin, &audit[0]), 3);
    let junit = dir.path().join(job["artifacts"]["reports"]["junit"].as_str().unwrap());
    assert!(junit.is_file());
    let after: Vec<&str> = job["after_script"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(after.iter().any(|s| s.contains("body@reports/kgents-gate-report.md")));
    assert!(dir.path().join("reports/kgents-gate-report.md").is_file());

    let py = std::env::var_os("KGENTS_GATE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/kgents-gate"))
        .join("py");
    let o = Command::new("python3")
        .arg("-c")
        .arg(GITLAB_READER)
        .arg(&junit)
        .env("PYTHONPATH", &py)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); install the test tools: bash scripts/setup-test-env.sh"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !stderr.contains("No module named"),
        "junitparser missing; install the test tools: bash scripts/setup-test-env.sh"
    );
    assert!(o.status.success(), "{stderr}");
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["cases"], 45, "{r}");
    assert_eq!(r["problems"], serde_json::json!([]), "{r}");
    // Offline, the 9 unverified blocking items are errors in the test view (nothing hides them).
    assert!(r["failing"].as_u64().unwrap() >= 9, "{r}");
}
