//! The gate's trust guarantees through the binary: a definite failure beside a part that could
//! not be checked fails (never INCOMPLETE), one deadline bounds the whole audit, single commands
//! refuse a cluster named beside manifests, an overridden date is stated, `--strict` treats
//! pending and failing info items alike, and every document the code cites exists.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

fn gate(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env("HOME", dir).env_remove("KUBECONFIG").env_remove("KGENTS_GATE_TODAY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn report(dir: &Path, out_dir: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(out_dir).join("kgents-gate-report.json")).unwrap()).unwrap()
}

fn item<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["items"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap()
}

const PDB_CHECKLIST: &str = "[launch]\nname = \"t\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"a\"\ntitle = \"Availability\"\n\n\
    [[item]]\nid = \"a.pdb\"\ncategory = \"a\"\ntitle = \"pdb\"\ncheck = \"pdb.health\"\nseverity = \"blocking\"\nowner = \"platform\"\n\
    [item.with]\nnamespaces = [\"shop\"]\n";

/// A PDB that can never allow a disruption next to a Deployment mid-rollout: `pdb` exits 1 on
/// the first, and `audit` must too, with the rollout kept as a gap.
#[test]
fn a_definite_failure_beside_a_rollout_fails_the_audit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("checklist.toml"), PDB_CHECKLIST).unwrap();
    let manifests = dir.path().join("m.yaml");
    std::fs::write(
        &manifests,
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db, namespace: shop}\n\
         spec:\n  replicas: 3\n  serviceName: db\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec: {containers: [{name: db, image: db:1}]}\n\
         ---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: db, namespace: shop}\nspec:\n  minAvailable: 3\n  selector: {matchLabels: {app: db}}\n\
         ---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: shop, generation: 4}\n\
         spec:\n  replicas: 2\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec: {containers: [{name: api, image: api:2}]}\n\
         status: {observedGeneration: 4, replicas: 3, updatedReplicas: 1, readyReplicas: 2, availableReplicas: 2}\n\
         ---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: api, namespace: shop}\nspec:\n  maxUnavailable: 1\n  selector: {matchLabels: {app: api}}\n",
    )
    .unwrap();
    let m = manifests.to_str().unwrap();
    let pdb = gate(dir.path(), &["pdb", "--manifests", m, "-n", "shop", "--format", "json"], &[]);
    assert_eq!(pdb.status.code(), Some(1), "{}", String::from_utf8_lossy(&pdb.stderr));
    let out = gate(dir.path(), &["audit", "--offline", "--manifests", m, "--out-dir", "out", "--format", "json"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let r = report(dir.path(), "out");
    assert_eq!(r["decision"], "BLOCKED");
    let i = item(&r, "a.pdb");
    assert_eq!(i["outcome"], "fail", "{i:#}");
    let codes: Vec<&str> = i["findings"].as_array().unwrap().iter().filter_map(|f| f["code"].as_str()).collect();
    assert!(codes.contains(&"pdb-never-allows-disruption"), "{i:#}");
    let gaps: Vec<&str> = i["gaps"].as_array().unwrap().iter().filter_map(|g| g["code"].as_str()).collect();
    assert_eq!(gaps, ["rollout-in-progress"], "{i:#}");
}

/// A server that accepts connections and answers `GET /version` after `version_delay`; it never
/// answers anything else (a stuck API server, a silent endpoint).
fn slow_server(version_delay: Duration) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                if String::from_utf8_lossy(&buf[..n]).starts_with("GET /version") {
                    std::thread::sleep(version_delay);
                    let body = r#"{"major":"1","minor":"20","gitVersion":"v1.20.2"}"#;
                    let _ = std::io::Write::write_all(
                        &mut s,
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    );
                }
                // Hold the connection open, silent.
                std::thread::sleep(Duration::from_secs(60));
            });
        }
    });
    port
}

/// Connecting takes most of the time, listing hangs, an endpoint is silent: connecting, listing
/// and the checks all run against the one `--timeout`, so the audit ends near it, not at the
/// sum of three budgets.
#[test]
fn the_timeout_bounds_connecting_listing_and_the_checks_together() {
    let api = slow_server(Duration::from_millis(2500));
    let silent = slow_server(Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let checklist = format!(
        "{PDB_CHECKLIST}\n[[item]]\nid = \"a.http\"\ncategory = \"a\"\ntitle = \"health\"\ncheck = \"http.endpoint\"\nseverity = \"blocking\"\nowner = \"platform\"\n[item.with]\nurl = \"http://127.0.0.1:{silent}/healthz\"\n"
    );
    std::fs::write(dir.path().join("checklist.toml"), checklist).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"http://127.0.0.1:{api}\"}}\n\
             users:\n- name: u\n  user: {{token: abc}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    let started = Instant::now();
    let out = gate(
        dir.path(),
        &[
            "audit",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--timeout",
            "3s",
            "--item-timeout",
            "3s",
            "--out-dir",
            "out",
            "--format",
            "json",
        ],
        &[],
    );
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    // 3 s of deadline plus start-up and report writing; separate clocks would take 2.5 + 3 + 3 s.
    assert!(took < Duration::from_millis(5500), "the audit took {took:?} with --timeout 3s");
    let r = report(dir.path(), "out");
    for id in ["a.pdb", "a.http"] {
        assert_eq!(item(&r, id)["outcome"], "unverified", "{id}: {:#}", item(&r, id));
    }
}

/// `secrets scan` and `netpol eval` read files only with `--manifests`: a cluster named beside
/// them would be silently unread, so the mix is refused, as `pdb` refuses it.
#[test]
fn single_commands_refuse_a_cluster_named_beside_manifests() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n").unwrap();
    for args in [
        vec!["secrets", "scan", "--manifests", "m.yaml", "--kubeconfig", "kc"],
        vec![
            "netpol",
            "eval",
            "--manifests",
            "m.yaml",
            "--context",
            "prod",
            "--from",
            "a/x",
            "--to",
            "a/y",
            "--port",
            "80",
        ],
        vec!["pdb", "--manifests", "m.yaml", "--kubeconfig", "kc"],
    ] {
        let out = gate(dir.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--manifests reads files only"), "{args:?}");
    }
}

const MANUAL: &str = "[launch]\nname = \"t\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"d\"\ntitle = \"Docs\"\n\n\
    [[item]]\nid = \"d.info-manual\"\ncategory = \"d\"\ntitle = \"an info sign-off\"\nkind = \"manual\"\nseverity = \"info\"\n\n\
    [[item]]\nid = \"d.info-file\"\ncategory = \"d\"\ntitle = \"an info document\"\ncheck = \"docs.file\"\nseverity = \"info\"\n[item.with]\npath = \"missing.md\"\n\n\
    [[item]]\nid = \"d.waived\"\ncategory = \"d\"\ntitle = \"a waived sign-off\"\nkind = \"manual\"\n\n\
    [[waiver]]\nitem = \"d.waived\"\nreason = \"later\"\nowner = \"ops\"\nexpires = 2026-01-31\n";

/// `--strict` raises warning items, never info items: a pending info sign-off and a failing info
/// check are treated alike. An overridden date is stated where every reader sees it.
#[test]
fn strict_info_items_and_the_overridden_date() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("checklist.toml"), MANUAL).unwrap();
    let out = gate(
        dir.path(),
        &["audit", "--strict", "--offline", "--out-dir", "out", "--format", "json,markdown,junit,terminal"],
        &[("KGENTS_GATE_TODAY", "2026-01-15")],
    );
    let r = report(dir.path(), "out");
    for id in ["d.info-manual", "d.info-file"] {
        assert_eq!(item(&r, id)["blocks"], false, "{id}: {:#}", item(&r, id));
    }
    // The waiver, expired today, covers the item only because of the date given.
    assert_eq!(item(&r, "d.waived")["outcome"], "waived");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(r["provenance"]["today_overridden"], true);
    let reason = r["decision_reason"].as_str().unwrap();
    assert!(reason.contains("judged as of 2026-01-15, not the date of the run"), "{reason}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("judged as of 2026-01-15"), "{stdout}");
    let md = std::fs::read_to_string(dir.path().join("out/kgents-gate-report.md")).unwrap();
    assert!(md.contains("waivers, sign-offs and ages were judged as of 2026-01-15"), "{md}");
    // Without the override the same waiver has expired and the item blocks.
    let out = gate(dir.path(), &["audit", "--offline", "--out-dir", "out2", "--format", "json"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report(dir.path(), "out2")["provenance"]["today_overridden"], false);
}

/// Comments and docs cite documents by path; each must be in the repository.
#[test]
fn every_cited_document_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let re = regex::Regex::new(r"\bdocs/[a-z0-9._-]+\.(md|json)").unwrap();
    let mut stack = vec![root.join("src"), root.join("docs"), root.join("README.md"), root.join("tests/support")];
    let mut cited = 0;
    while let Some(d) = stack.pop() {
        let entries: Vec<_> = if d.is_file() {
            vec![d.clone()]
        } else {
            std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()).collect()
        };
        for p in entries {
            if p.is_dir() {
                if !p.ends_with("corpora") {
                    stack.push(p);
                }
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&p) else { continue };
            for m in re.find_iter(&text) {
                cited += 1;
                assert!(root.join(m.as_str()).is_file(), "{} cites {}, which does not exist", p.display(), m.as_str());
            }
        }
    }
    assert!(cited > 10, "the code cites its documents ({cited} citations found)");
}
