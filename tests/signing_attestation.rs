//! The attestation: the DSSE envelope verifies with an independent implementation (Python's
//! `cryptography`, scripts/dsse-verify.py), its payload is an in-toto Statement v1 (checked with
//! the in-toto project's own bindings) about the images and the checklist, INCOMPLETE and BLOCKED
//! are never PASSED, and the signed report is canonical.

mod signing_support;

use serde_json::Value;
use sha2::Digest;
use signing_support::{
    IMAGE_ID_DIGEST, Outcome, PINNED_DIGEST, audit, gate, in_toto_validate, keygen, python_dsse_verify, report_path,
    text, workspace,
};

fn signed_audit(outcome: Outcome, kind: &str, bits: Option<&str>) -> (tempfile::TempDir, std::process::Output) {
    let ws = workspace(outcome);
    let key = keygen(ws.path(), "release", kind, bits, "");
    signing_support::allowed_signers(ws.path(), &[("release@kgents", &key)]);
    let out = audit(ws.path(), &["--sign", key.to_str().unwrap()], &[]);
    (ws, out)
}

fn statement(dir: &std::path::Path) -> Value {
    python_dsse_verify(&dir.join("out/kgents-gate-attestation.json"), &dir.join("release.pub"))
        .unwrap_or_else(|e| panic!("the independent verifier rejected the envelope: {e}"))
}

#[test]
fn the_envelope_verifies_independently_and_is_an_in_toto_statement() {
    for (kind, bits) in [("ed25519", None), ("ecdsa", Some("256")), ("ecdsa", Some("384"))] {
        let (ws, out) = signed_audit(Outcome::Approved, kind, bits);
        assert_eq!(out.status.code(), Some(0), "{kind}: {}", text(&out));
        let dir = ws.path();
        let envelope: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("out/kgents-gate-attestation.json")).unwrap())
                .unwrap();
        assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
        assert!(envelope["signatures"][0]["keyid"].as_str().unwrap().starts_with("SHA256:"), "{envelope}");
        let st = statement(dir);
        assert_eq!(st["_type"], "https://in-toto.io/Statement/v1", "{kind}");
        let checked = in_toto_validate(&st).unwrap_or_else(|e| panic!("in-toto's bindings reject the statement: {e}"));
        assert_eq!(checked, "https://kgents.dev/kgents-gate/launch-decision/v1");
        let mut not_v1 = st.clone();
        not_v1["subjects"] = not_v1["subject"].take();
        assert!(in_toto_validate(&not_v1).is_err(), "the bindings check strictly");
        assert_eq!(st["predicateType"], "https://kgents.dev/kgents-gate/launch-decision/v1");

        let report_bytes = std::fs::read(report_path(dir)).unwrap();
        let report: Value = serde_json::from_slice(&report_bytes).unwrap();
        let checklist_sha = report["provenance"]["checklist_sha256"].as_str().unwrap();
        let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
        let subjects: Vec<(String, String)> = st["subject"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].as_str().unwrap().to_string(), s["digest"]["sha256"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            subjects,
            vec![
                ("docker.io/library/nats".to_string(), hex(IMAGE_ID_DIGEST)),
                ("ghcr.io/kgents/web".to_string(), hex(PINNED_DIGEST)),
                ("checklist.toml".to_string(), checklist_sha.to_string()),
            ],
            "{kind}: subjects are the images judged and the checklist"
        );

        let p = &st["predicate"];
        assert_eq!(p["result"], "PASSED");
        assert_eq!(p["decision"], "APPROVED");
        assert_eq!(p["exitCode"], 0);
        assert_eq!(p["counts"], report["summary"], "counts per outcome");
        assert_eq!(p["policy"]["digest"]["sha256"], checklist_sha);
        assert_eq!(p["verifier"]["id"], "kgents-gate");
        assert_eq!(p["report"]["name"], "kgents-gate-report.json");
        let report_sha = hex::encode(sha2::Sha256::digest(&report_bytes));
        assert_eq!(p["report"]["digest"]["sha256"], report_sha.as_str(), "bound to the exact report bytes");
        assert_eq!(p["signoffs"][0]["by"], "lead");
        assert_eq!(p["signoffs"][0]["evidence"], "review notes");
        assert_eq!(p["provenance"]["cluster"], Value::Null);
        assert_eq!(p["provenance"]["startedAt"], report["provenance"]["started_at"]);
        assert_eq!(p["provenance"]["durationMs"], report["provenance"]["duration_ms"]);
        assert_eq!(p["provenance"]["toolVersion"], report["tool"]["version"]);
        assert_eq!(p["timeVerified"], report["provenance"]["started_at"]);

        // The report carries the same images, with where each digest was read.
        let images = report["provenance"]["images"].as_array().unwrap();
        assert_eq!(images.len(), 2, "{images:?}");
        assert_eq!(images[0]["source"], "image-id");
        assert_eq!(images[1]["source"], "reference");
    }
}

#[test]
fn the_independent_verifier_rejects_another_key_and_a_changed_payload() {
    let (ws, out) = signed_audit(Outcome::Approved, "ed25519", None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let dir = ws.path();
    let other = keygen(dir, "other", "ed25519", None, "");
    let envelope = dir.join("out/kgents-gate-attestation.json");
    assert!(python_dsse_verify(&envelope, &other.with_extension("pub")).is_err(), "another key must not verify");
    let mut e: Value = serde_json::from_str(&std::fs::read_to_string(&envelope).unwrap()).unwrap();
    let payload = base64_decode(e["payload"].as_str().unwrap());
    let changed = String::from_utf8(payload).unwrap().replace("\"PASSED\"", "\"FAILED\"");
    e["payload"] = base64_encode(changed.as_bytes()).into();
    std::fs::write(&envelope, e.to_string()).unwrap();
    let err = python_dsse_verify(&envelope, &dir.join("release.pub")).unwrap_err();
    assert!(err.contains("no signature of the envelope verifies"), "{err}");
}

#[test]
fn incomplete_and_blocked_are_never_passed() {
    for (outcome, code, result, decision) in
        [(Outcome::Incomplete, 3, "INCOMPLETE", "INCOMPLETE"), (Outcome::Blocked, 1, "FAILED", "BLOCKED")]
    {
        let (ws, out) = signed_audit(outcome, "ed25519", None);
        assert_eq!(out.status.code(), Some(code), "{}", text(&out));
        let dir = ws.path();
        let st = statement(dir);
        assert_eq!(st["predicate"]["result"], result);
        assert_eq!(st["predicate"]["decision"], decision);
        assert_eq!(st["predicate"]["exitCode"], code);
        assert!(!st["predicate"]["blockingItems"].as_array().unwrap().is_empty());

        let verify = |extra: &[&str]| {
            let mut args = vec!["verify", "out/kgents-gate-report.json", "--allowed-signers", "allowed_signers"];
            args.extend_from_slice(extra);
            gate(dir, &args, &[])
        };
        // Verified, but not a launch approval: the decision's own exit code.
        let v = verify(&[]);
        assert_eq!(v.status.code(), Some(code), "{}", text(&v));
        assert!(text(&v).contains("verified, but the decision is"), "{}", text(&v));
        // Accepted for an audit of the signature.
        let flag = decision.to_ascii_lowercase();
        let v = verify(&["--accept", &flag]);
        assert_eq!(v.status.code(), Some(0), "{}", text(&v));
        let v = verify(&["--any-decision"]);
        assert_eq!(v.status.code(), Some(0), "{}", text(&v));
        let v = verify(&["--accept", "approved-with-waivers"]);
        assert_eq!(v.status.code(), Some(code), "{}", text(&v));
    }
}

/// The signed bytes are the canonical form: rendering the parsed report again gives the same
/// bytes, and two audits of the same inputs differ only in their timings.
#[test]
fn the_signed_report_is_canonical_json() {
    let ws = workspace(Outcome::Approved);
    let dir = ws.path();
    let bytes = |out_dir: &str| {
        let out = audit(dir, &["--out-dir", out_dir], &[("KGENTS_GATE_TODAY", "2026-03-01")]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        std::fs::read_to_string(dir.join(out_dir).join("kgents-gate-report.json")).unwrap()
    };
    let (a, b) = (bytes("a"), bytes("b"));
    let parsed = kgents_gate::report::parse_json(&a).unwrap();
    assert_eq!(kgents_gate::report::render_json(&parsed), a, "render(parse(report)) is the report, byte for byte");
    let timings = |s: &str| {
        let mut v: Value = serde_json::from_str(s).unwrap();
        v["provenance"]["started_at"] = Value::Null;
        v["provenance"]["duration_ms"] = Value::Null;
        for item in v["items"].as_array_mut().unwrap() {
            item["duration_ms"] = Value::Null;
        }
        serde_json::to_string_pretty(&v).unwrap()
    };
    assert_eq!(timings(&a), timings(&b), "same inputs, same report but for the clock");
    assert!(a.starts_with("{\n  \"schema_version\": "), "key order is the model's: {}", &a[..40]);
    assert!(a.ends_with("}\n") && !a.contains('\r') && !a.contains('\t'));
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
