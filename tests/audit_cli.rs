//! The `kgents-gate` binary as a user or a CI step runs it: exit codes, report files, bad input,
//! Ctrl-C and the global timeout. Each test works in its own temporary directory.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

const CATALOG_DOCS: &str = include_str!("../checks/docs.toml");
const CATALOG_HTTP: &str = include_str!("../checks/http.toml");

/// A temp dir with a checklist and a catalog (`checks/` beside it).
fn workspace(items: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("checks")).unwrap();
    std::fs::write(dir.path().join("checks/docs.toml"), CATALOG_DOCS).unwrap();
    std::fs::write(dir.path().join("checks/http.toml"), CATALOG_HTTP).unwrap();
    let text = format!(
        "[launch]\nname = \"cli test\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"docs\"\ntitle = \"Documentation\"\n{items}"
    );
    std::fs::write(dir.path().join("checklist.toml"), text).unwrap();
    std::fs::write(dir.path().join("runbook.md"), "# Runbook\n## Rollback\ntext\n").unwrap();
    dir
}

fn docs_item(id: &str, path: &str, severity: &str) -> String {
    format!(
        "\n[[item]]\nid = \"{id}\"\ncategory = \"docs\"\ntitle = \"doc {id}\"\ncheck = \"docs.file\"\nseverity = \"{severity}\"\nowner = \"ops\"\n[item.with]\npath = \"{path}\"\nheadings = [\"Rollback\"]\n"
    )
}

fn http_item(id: &str, url: &str) -> String {
    format!(
        "\n[[item]]\nid = \"{id}\"\ncategory = \"docs\"\ntitle = \"endpoint {id}\"\ncheck = \"http.endpoint\"\nowner = \"platform\"\n[item.with]\nurl = \"{url}\"\ntimeout = \"60s\"\n"
    )
}

fn gate(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env("HOME", dir)
        .output()
        .unwrap()
}

fn audit(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["audit", "--out-dir", "out"];
    args.extend_from_slice(extra);
    gate(dir, &args)
}

fn report_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("out/kgents-gate-report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn approved_audit_exits_0_and_writes_every_format() {
    let ws = workspace(&docs_item("docs.runbook", "runbook.md", "blocking"));
    let out = audit(ws.path(), &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("APPROVED"), "{stdout}");
    for f in ["kgents-gate-report.md", "kgents-gate-report.json", "kgents-gate-report.xml"] {
        assert!(ws.path().join("out").join(f).is_file(), "{f} missing");
    }
    let r = report_json(ws.path());
    assert_eq!(r["decision"], "APPROVED");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["items"][0]["outcome"], "pass");
    assert_eq!(r["provenance"]["checklist"], "checklist.toml");
    assert_eq!(r["provenance"]["checklist_sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn a_failing_blocking_item_exits_1_with_the_finding() {
    let ws = workspace(
        &(docs_item("docs.runbook", "runbook.md", "blocking") + &docs_item("docs.missing", "nope.md", "blocking")),
    );
    let out = audit(ws.path(), &["--format", "json,junit"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(out.stdout.is_empty(), "no terminal format was asked for");
    let r = report_json(ws.path());
    assert_eq!(r["decision"], "BLOCKED");
    assert_eq!(r["items"][1]["code"], "file-missing");
    assert_eq!(r["blocking"][0]["owner"], "ops");
    assert!(!ws.path().join("out/kgents-gate-report.md").exists());
}

#[test]
fn strict_makes_a_warning_block() {
    let ws = workspace(&docs_item("docs.optional", "nope.md", "warning"));
    assert_eq!(audit(ws.path(), &["--format", "json"]).status.code(), Some(0));
    assert_eq!(report_json(ws.path())["items"][0]["outcome"], "warn");
    assert_eq!(audit(ws.path(), &["--format", "json", "--strict"]).status.code(), Some(1));
}

#[test]
fn an_unverifiable_blocking_item_exits_3() {
    let ws = workspace(&http_item("api.health", "https://127.0.0.1:9/healthz"));
    let out = audit(ws.path(), &["--offline", "--format", "json"]);
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    let r = report_json(ws.path());
    assert_eq!(r["decision"], "INCOMPLETE");
    assert_eq!(r["items"][0]["outcome"], "unverified");
    assert_eq!(r["items"][0]["code"], "offline");
}

#[test]
fn an_invalid_checklist_exits_2_pointing_at_the_line() {
    let ws = workspace(&docs_item("docs.runbook", "runbook.md", "blocking").replace("owner =", "ownr ="));
    let out = audit(ws.path(), &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("ownr"), "{stderr}");
    assert!(stderr.contains("checklist.toml:"), "{stderr}");
    assert!(stderr.contains('^'), "a caret under the span: {stderr}");
    assert!(!ws.path().join("out").exists(), "nothing was checked, nothing written");
    assert_eq!(gate(ws.path(), &["validate"]).status.code(), Some(2));
}

#[test]
fn bad_flags_exit_2_saying_what_is_expected() {
    let ws = workspace(&docs_item("docs.runbook", "runbook.md", "blocking"));
    let cases: [(&[&str], &str); 5] = [
        (&["--format", "html"], "terminal, markdown, json, junit"),
        (&["--timeout", "soon"], "--timeout"),
        (&["--item-timeout", "0s"], "greater than zero"),
        (&["--only", "nothing.here"], "matches no item id"),
        (&["--color", "purple"], "auto"),
    ];
    for (args, expect) in cases {
        let out = audit(ws.path(), args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
}

#[test]
fn only_runs_the_selected_items() {
    let ws = workspace(
        &(docs_item("docs.runbook", "runbook.md", "blocking") + &docs_item("docs.missing", "nope.md", "blocking")),
    );
    let out = audit(ws.path(), &["--only", "docs.runbook", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let r = report_json(ws.path());
    assert_eq!(r["items"][1]["outcome"], "skipped");
    assert_eq!(r["items"][1]["code"], "deselected");
}

/// A TCP server that accepts connections and never answers.
fn silent_server() -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut s in listener.incoming().take(4).flatten() {
            let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            held.push(s);
        }
        std::thread::sleep(Duration::from_secs(90));
    });
    (format!("http://{addr}/healthz"), handle)
}

#[test]
fn global_timeout_reports_unfinished_checks_unverified() {
    let (url, _server) = silent_server();
    let ws = workspace(&(http_item("api.health", &url) + &docs_item("docs.runbook", "runbook.md", "blocking")));
    let t0 = Instant::now();
    let out = audit(ws.path(), &["--timeout", "2s", "--item-timeout", "60s", "--format", "json,junit"]);
    assert!(t0.elapsed() < Duration::from_secs(30), "took {:?}", t0.elapsed());
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    let r = report_json(ws.path());
    assert_eq!(r["items"][0]["outcome"], "unverified");
    assert_eq!(r["items"][0]["code"], "timeout");
    assert_eq!(r["items"][1]["outcome"], "pass", "finished checks keep their result");
    assert_eq!(r["provenance"]["interrupted"], true);
}

#[test]
fn ctrl_c_still_writes_the_report_with_unfinished_checks_interrupted() {
    let (url, _server) = silent_server();
    let ws = workspace(&(http_item("api.health", &url) + &docs_item("docs.runbook", "runbook.md", "blocking")));
    let child = Command::new(BIN)
        .args(["audit", "--out-dir", "out", "--format", "json,junit,markdown", "--item-timeout", "60s"])
        .current_dir(ws.path())
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env("HOME", ws.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = Instant::now();
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(15), "took {:?} to stop", t0.elapsed());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let r = report_json(ws.path());
    assert_eq!(r["items"][0]["code"], "interrupted");
    assert_eq!(r["items"][1]["outcome"], "pass");
    assert_eq!(r["provenance"]["interrupted"], true);
    let xml = std::fs::read_to_string(ws.path().join("out/kgents-gate-report.xml")).unwrap();
    assert!(xml.contains("interrupted"), "{xml}");
    let leftovers: Vec<PathBuf> =
        std::fs::read_dir(ws.path().join("out")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(leftovers.len(), 3, "no temporary files left: {leftovers:?}");
}

#[test]
fn colours_follow_the_flag_and_no_color() {
    let ws = workspace(&docs_item("docs.runbook", "runbook.md", "blocking"));
    let plain = audit(ws.path(), &["--format", "terminal"]);
    assert!(!plain.stdout.contains(&0x1b), "NO_COLOR and no TTY: no escapes");
    let coloured = audit(ws.path(), &["--format", "terminal", "--color", "always"]);
    assert!(coloured.stdout.contains(&0x1b), "--color always wins");
}

#[test]
fn diff_exits_1_on_a_new_blocking_failure() {
    let ws = workspace(&docs_item("docs.runbook", "runbook.md", "blocking"));
    assert_eq!(audit(ws.path(), &["--format", "json"]).status.code(), Some(0));
    std::fs::rename(ws.path().join("out/kgents-gate-report.json"), ws.path().join("old.json")).unwrap();
    std::fs::remove_file(ws.path().join("runbook.md")).unwrap();
    assert_eq!(audit(ws.path(), &["--format", "json"]).status.code(), Some(1));
    let out = gate(ws.path(), &["diff", "old.json", "out/kgents-gate-report.json"]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("docs.runbook"), "{stdout}");
    let same = gate(ws.path(), &["diff", "old.json", "old.json"]);
    assert_eq!(same.status.code(), Some(0));
    let bad = gate(ws.path(), &["diff", "old.json", "checklist.toml"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn list_explain_schema_and_the_built_in_checklist() {
    let empty = tempfile::tempdir().unwrap();
    let v = gate(empty.path(), &["validate"]);
    assert_eq!(v.status.code(), Some(0), "{:?}", text(&v));
    assert!(text(&v).0.contains("<built-in>"));
    let l = gate(empty.path(), &["list"]);
    assert!(text(&l).0.contains("Secrets management"), "{:?}", text(&l));
    let e = gate(empty.path(), &["explain", "pdb.health"]);
    assert_eq!(e.status.code(), Some(0));
    assert!(text(&e).0.contains("remediation"));
    assert_eq!(gate(empty.path(), &["explain", "no.such.check"]).status.code(), Some(2));
    let e = gate(empty.path(), &["explain", "slo.objectives"]);
    assert_eq!(e.status.code(), Some(0));
    assert!(
        text(&e).0.contains("probe kind: prometheus-slo") && text(&e).0.contains("max_regression"),
        "{:?}",
        text(&e)
    );
    let r = gate(empty.path(), &["rbac", "--only", "observability"]);
    assert!(
        text(&r).0.contains("# observability.api-slo (prometheus-slo) needs no Kubernetes permission"),
        "{:?}",
        text(&r)
    );
    let s = gate(empty.path(), &["schema"]);
    let schema: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert!(schema.get("properties").is_some() || schema.get("$defs").is_some());
    let rs = gate(empty.path(), &["schema", "--report"]);
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/report-schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&rs.stdout).unwrap(), committed);
}

#[test]
fn the_kgents_example_runs_offline_from_manifests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "audit",
            "--checklist",
            "examples/kgents/checklist.toml",
            "--manifests",
            "examples/kgents/manifests",
            "--offline",
        ])
        .arg("--out-dir")
        .arg(out_dir.path())
        .current_dir(root)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(matches!(out.status.code(), Some(0 | 1 | 3)), "{stdout}\n{stderr}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.path().join("kgents-gate-report.json")).unwrap())
            .unwrap();
    let pdb = r["items"].as_array().unwrap().iter().find(|i| i["probe"] == "pdb").expect("a pdb item");
    assert_eq!(pdb["outcome"], "pass", "{pdb}");
    assert!(stdout.contains("Disaster recovery"), "{stdout}");
}

#[test]
fn a_closed_stdout_pipe_is_not_a_panic_and_reports_are_still_written() {
    let ws = workspace(&docs_item("docs.runbook", "runbook.md", "blocking"));
    // `kgents-gate audit | head -1`: the reader goes away after one line.
    let script =
        format!("'{BIN}' audit --out-dir out --format terminal,json | head -1 >/dev/null; echo \"${{PIPESTATUS[0]}}\"");
    let out = Command::new("bash").arg("-c").arg(&script).current_dir(ws.path()).env("NO_COLOR", "1").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // 0 when the output fit in the pipe, 141 (SIGPIPE) otherwise; never 101 (a panic).
    assert!(matches!(stdout.trim(), "0" | "141"), "exit status {stdout:?}: {stderr}");
    assert!(ws.path().join("out/kgents-gate-report.json").is_file());
}
