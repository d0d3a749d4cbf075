//! Signed reports against the real OpenSSH tools: what `audit --sign` writes, `ssh-keygen -Y
//! verify` accepts, and what `kgents-gate verify` and `diff --require-signed` accept and refuse.

mod signing_support;

use signing_support::{Outcome, allowed_signers, audit, gate, keygen, report_path, ssh_keygen_verify, text, workspace};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn an_ed25519_signature_verifies_with_ssh_keygen_and_with_verify() {
    let ws = workspace(Outcome::Approved);
    let dir = ws.path();
    let key = keygen(dir, "release", "ed25519", None, "");
    let allowed = allowed_signers(dir, &[("release@kgents", &key)]);
    let out = audit(dir, &["--sign", key.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrote out/kgents-gate-report.json.sig"), "{stderr}");
    assert!(stderr.contains("wrote out/kgents-gate-attestation.json"), "{stderr}");
    assert!(stderr.contains("signed out/kgents-gate-report.json with ssh-ed25519 key SHA256:"), "{stderr}");

    let report = std::fs::read(report_path(dir)).unwrap();
    let sig = dir.join("out/kgents-gate-report.json.sig");
    let ssh = ssh_keygen_verify(&allowed, "release@kgents", &sig, &report);
    assert!(ssh.status.success(), "ssh-keygen -Y verify: {}", text(&ssh));
    assert!(stdout(&ssh).contains("Good \"kgents-gate\" signature for release@kgents"), "{}", text(&ssh));

    let v = gate(dir, &["verify", "out/kgents-gate-report.json", "--allowed-signers", "allowed_signers"], &[]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    let said = stdout(&v);
    assert!(said.contains("signature    good: signed by release@kgents (ssh-ed25519 SHA256:"), "{said}");
    assert!(said.contains("attestation  good: in-toto Statement v1"), "{said}");
    assert!(said.contains("subjects: 2 images and the checklist"), "{said}");
    assert!(said.contains("decision     APPROVED (exit 0) for \"signing test\""), "{said}");
    assert!(said.contains("1 valid sign-off(s)"), "{said}");
    assert!(said.contains("no cluster (offline)"), "{said}");
    assert!(said.contains("verified: APPROVED signed by release@kgents"), "{said}");
    assert!(!said.contains("canonical"), "a report the gate wrote is canonical: {said}");

    // The identity flag works as ssh-keygen's -I.
    let v = gate(
        dir,
        &[
            "verify",
            "out/kgents-gate-report.json",
            "--allowed-signers",
            "allowed_signers",
            "--identity",
            "release@kgents",
        ],
        &[],
    );
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
}

#[test]
fn a_report_changed_by_one_byte_is_rejected_by_ssh_keygen_and_by_verify() {
    let ws = workspace(Outcome::Approved);
    let dir = ws.path();
    let key = keygen(dir, "release", "ed25519", None, "");
    let allowed = allowed_signers(dir, &[("release@kgents", &key)]);
    let out = audit(dir, &["--sign", key.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let original = std::fs::read(report_path(dir)).unwrap();
    // One byte: the exit code 0 becomes 1 (still valid JSON, still a report).
    let at = original.windows(13).position(|w| w == b"\"exit_code\": ").unwrap() + 13;
    assert_eq!(original[at], b'0');
    let mut changed = original.clone();
    changed[at] = b'1';
    std::fs::write(report_path(dir), &changed).unwrap();

    let sig = dir.join("out/kgents-gate-report.json.sig");
    let ssh = ssh_keygen_verify(&allowed, "release@kgents", &sig, &changed);
    assert!(!ssh.status.success(), "ssh-keygen accepted a changed report: {}", text(&ssh));
    let v = gate(dir, &["verify", "out/kgents-gate-report.json", "--allowed-signers", "allowed_signers"], &[]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
    let said = stdout(&v);
    assert!(said.contains("signature    BAD: the signature does not match the report's bytes"), "{said}");
    assert!(said.contains("NOT VERIFIED"), "{said}");

    // The report intact but the attestation's payload changed: the envelope does not verify.
    std::fs::write(report_path(dir), &original).unwrap();
    let att = dir.join("out/kgents-gate-attestation.json");
    let mut envelope: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&att).unwrap()).unwrap();
    let payload = envelope["payload"].as_str().unwrap().to_string();
    let flipped = if payload.starts_with('e') { payload.replacen('e', "f", 1) } else { format!("e{}", &payload[1..]) };
    envelope["payload"] = flipped.into();
    std::fs::write(&att, envelope.to_string()).unwrap();
    let v = gate(dir, &["verify", "out/kgents-gate-report.json", "--allowed-signers", "allowed_signers"], &[]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
    assert!(stdout(&v).contains("signature    good"), "{}", text(&v));
    assert!(stdout(&v).contains("attestation  BAD"), "{}", text(&v));

    // No attestation at all is no approval either.
    std::fs::remove_file(&att).unwrap();
    let v = gate(dir, &["verify", "out/kgents-gate-report.json", "--allowed-signers", "allowed_signers"], &[]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
    assert!(stdout(&v).contains("attestation  MISSING"), "{}", text(&v));
}

#[test]
fn a_signature_by_a_key_not_allowed_is_rejected() {
    let ws = workspace(Outcome::Approved);
    let dir = ws.path();
    let signer = keygen(dir, "intruder", "ed25519", None, "");
    let trusted = keygen(dir, "release", "ed25519", None, "");
    let allowed = allowed_signers(dir, &[("release@kgents", &trusted)]);
    let out = audit(dir, &["--sign", signer.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = std::fs::read(report_path(dir)).unwrap();
    let sig = dir.join("out/kgents-gate-report.json.sig");
    let ssh = ssh_keygen_verify(&allowed, "release@kgents", &sig, &report);
    assert!(!ssh.status.success(), "ssh-keygen accepted an unknown key: {}", text(&ssh));
    let v = gate(dir, &["verify", "out/kgents-gate-report.json", "--allowed-signers", "allowed_signers"], &[]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
    assert!(stdout(&v).contains("which is not in the allowed signers file"), "{}", text(&v));

    // A listed key, but for another identity: both refuse.
    let allowed = allowed_signers(dir, &[("ops@kgents", &signer)]);
    let ssh = ssh_keygen_verify(&allowed, "release@kgents", &sig, &report);
    assert!(!ssh.status.success(), "{}", text(&ssh));
    let v = gate(
        dir,
        &[
            "verify",
            "out/kgents-gate-report.json",
            "--allowed-signers",
            "allowed_signers",
            "--identity",
            "release@kgents",
        ],
        &[],
    );
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
    assert!(stdout(&v).contains("not for signing as \"release@kgents\""), "{}", text(&v));

    // A key allowed only for git signatures is not allowed here.
    let pubkey = signing_support::public_key(&signer);
    std::fs::write(&allowed, format!("ops@kgents namespaces=\"git\" {pubkey}\n")).unwrap();
    let ssh = ssh_keygen_verify(&allowed, "ops@kgents", &sig, &report);
    assert!(!ssh.status.success(), "{}", text(&ssh));
    let v = gate(dir, &["verify", "out/kgents-gate-report.json", "--allowed-signers", "allowed_signers"], &[]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
}

#[test]
fn ecdsa_keys_sign_too() {
    for bits in ["256", "384", "521"] {
        let ws = workspace(Outcome::Approved);
        let dir = ws.path();
        let key = keygen(dir, "release", "ecdsa", Some(bits), "");
        let allowed = allowed_signers(dir, &[("release@kgents", &key)]);
        let out = audit(dir, &["--sign", key.to_str().unwrap()], &[]);
        assert_eq!(out.status.code(), Some(0), "P-{bits}: {}", text(&out));
        let report = std::fs::read(report_path(dir)).unwrap();
        let ssh = ssh_keygen_verify(&allowed, "release@kgents", &dir.join("out/kgents-gate-report.json.sig"), &report);
        assert!(ssh.status.success(), "P-{bits}: ssh-keygen -Y verify: {}", text(&ssh));
        let v = gate(dir, &["verify", "out/kgents-gate-report.json", "--allowed-signers", "allowed_signers"], &[]);
        assert_eq!(v.status.code(), Some(0), "P-{bits}: {}", text(&v));
        assert!(stdout(&v).contains(&format!("ecdsa-sha2-nistp{bits} SHA256:")), "{}", text(&v));
    }
}

/// Audit flags, environment, and what the error must say.
type KeyCase<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

#[test]
fn keys_that_cannot_sign_are_clear_errors_before_anything_runs() {
    let ws = workspace(Outcome::Approved);
    let dir = ws.path();
    let encrypted = keygen(dir, "locked", "ed25519", None, "correct horse");
    let rsa = keygen(dir, "rsa", "rsa", Some("2048"), "");
    std::fs::write(dir.join("garbage"), "not a key\n").unwrap();
    let cases: Vec<KeyCase> = vec![
        (vec!["--sign", "locked"], vec![], "is encrypted with a passphrase, and kgents-gate never prompts"),
        (vec!["--sign", "locked", "--sign-passphrase-env", "PASS"], vec![("PASS", "wrong")], "wrong passphrase"),
        (
            vec!["--sign", "locked", "--sign-passphrase-env", "PASS"],
            vec![],
            "PASS: the environment variable is not set",
        ),
        (vec!["--sign", "rsa"], vec![], "is a ssh-rsa key; kgents-gate signs with ed25519, or ecdsa"),
        (vec!["--sign", "garbage"], vec![], "is not an OpenSSH private key"),
        (vec!["--sign", "absent"], vec![], "cannot read the signing key absent"),
        (vec!["--sign-env", "KEY"], vec![], "--sign-env KEY: the environment variable is not set"),
        (vec!["--sign-passphrase-env", "PASS"], vec![], "--sign-passphrase-env needs --sign KEY"),
        (vec!["--sign", "rsa", "--format", "markdown"], vec![], "add json to --format"),
    ];
    let _ = &rsa;
    for (args, env, want) in cases {
        let out = audit(dir, &args, &env);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {all}");
        assert!(all.contains(want), "{args:?}: want {want:?} in {all}");
        assert!(!all.contains("panicked"), "{args:?}: {all}");
        assert!(!dir.join("out").exists(), "{args:?}: nothing is written when the key cannot sign");
    }
    // With the passphrase in the environment, the encrypted key signs.
    let out = audit(dir, &["--sign", "locked", "--sign-passphrase-env", "PASS"], &[("PASS", "correct horse")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let allowed = allowed_signers(dir, &[("release@kgents", &encrypted)]);
    let report = std::fs::read(report_path(dir)).unwrap();
    let ssh = ssh_keygen_verify(&allowed, "release@kgents", &dir.join("out/kgents-gate-report.json.sig"), &report);
    assert!(ssh.status.success(), "{}", text(&ssh));
}

#[test]
fn a_key_from_the_environment_signs_and_a_later_unsigned_run_removes_the_old_signature() {
    let ws = workspace(Outcome::Approved);
    let dir = ws.path();
    let key = keygen(dir, "release", "ed25519", None, "");
    allowed_signers(dir, &[("release@kgents", &key)]);
    let pem = std::fs::read_to_string(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    let out = audit(dir, &["--sign-env", "RELEASE_KEY"], &[("RELEASE_KEY", &pem)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = gate(dir, &["verify", "out/kgents-gate-report.json", "--allowed-signers", "allowed_signers"], &[]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));

    let out = audit(dir, &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("removed out/kgents-gate-report.json.sig"), "{}", text(&out));
    assert!(!dir.join("out/kgents-gate-report.json.sig").exists());
    assert!(!dir.join("out/kgents-gate-attestation.json").exists());
    let v = gate(dir, &["verify", "out/kgents-gate-report.json", "--allowed-signers", "allowed_signers"], &[]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
    assert!(stdout(&v).contains("signature    MISSING"), "{}", text(&v));
}

#[test]
fn diff_require_signed_refuses_unsigned_and_tampered_reports() {
    let ws = workspace(Outcome::Approved);
    let dir = ws.path();
    let key = keygen(dir, "release", "ed25519", None, "");
    allowed_signers(dir, &[("release@kgents", &key)]);
    let k = key.to_str().unwrap();
    let out = audit(dir, &["--sign", k, "--out-dir", "old"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = audit(dir, &["--sign", k, "--out-dir", "new"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let old = "old/kgents-gate-report.json";
    let new = "new/kgents-gate-report.json";
    let diff = |extra: &[&str]| {
        let mut args = vec!["diff", old, new];
        args.extend_from_slice(extra);
        gate(dir, &args, &[])
    };
    let signed = ["--require-signed", "--allowed-signers", "allowed_signers"];
    let d = diff(&signed);
    assert_eq!(d.status.code(), Some(0), "{}", text(&d));

    // Tampered after signing: refused with the flag, a loud warning without it.
    let text_new = std::fs::read_to_string(dir.join(new)).unwrap();
    std::fs::write(dir.join(new), text_new.replacen("\"strict\": false", "\"strict\": true ", 1)).unwrap();
    let d = diff(&signed);
    assert_eq!(d.status.code(), Some(2), "{}", text(&d));
    assert!(
        text(&d).contains("refusing to compare new/kgents-gate-report.json: the signature does not match"),
        "{}",
        text(&d)
    );
    let d = diff(&[]);
    assert_eq!(d.status.code(), Some(0), "{}", text(&d));
    assert!(text(&d).contains("WARNING: new/kgents-gate-report.json does not match its signature"), "{}", text(&d));

    // Unsigned: refused with the flag.
    std::fs::remove_file(dir.join("old/kgents-gate-report.json.sig")).unwrap();
    let d = diff(&signed);
    assert_eq!(d.status.code(), Some(2), "{}", text(&d));
    assert!(text(&d).contains("refusing to compare old/kgents-gate-report.json: it is not signed"), "{}", text(&d));
    // --require-signed needs the allowed signers.
    let d = diff(&["--require-signed"]);
    assert_eq!(d.status.code(), Some(2), "{}", text(&d));
}

#[test]
fn a_broken_allowed_signers_file_names_its_line() {
    let ws = workspace(Outcome::Approved);
    let dir = ws.path();
    let key = keygen(dir, "release", "ed25519", None, "");
    let out = audit(dir, &["--sign", key.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::write(dir.join("allowed_signers"), "# trusted\nrelease@kgents ssh-ed25519 AAAA-not-base64\n").unwrap();
    let v = gate(dir, &["verify", "out/kgents-gate-report.json", "--allowed-signers", "allowed_signers"], &[]);
    assert_eq!(v.status.code(), Some(2), "{}", text(&v));
    assert!(text(&v).contains("allowed_signers:2: not a public key in OpenSSH format"), "{}", text(&v));
    assert!(!text(&v).contains("panicked"), "{}", text(&v));
}

#[test]
fn an_attestation_of_another_report_is_rejected() {
    let ws = workspace(Outcome::Approved);
    let dir = ws.path();
    let key = keygen(dir, "release", "ed25519", None, "");
    allowed_signers(dir, &[("release@kgents", &key)]);
    for out_dir in ["first", "second"] {
        let out = audit(dir, &["--sign", key.to_str().unwrap(), "--out-dir", out_dir], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    // Both well signed by the same key, but the attestation beside the second report is the first's.
    let v = gate(
        dir,
        &[
            "verify",
            "second/kgents-gate-report.json",
            "--allowed-signers",
            "allowed_signers",
            "--attestation",
            "first/kgents-gate-attestation.json",
        ],
        &[],
    );
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
    assert!(stdout(&v).contains("attestation  BAD: the attestation is about another report"), "{}", text(&v));
}

/// The other direction: a signature `ssh-keygen -Y sign` makes over the report is one kgents-gate
/// accepts (with the attestation the audit wrote), and one for another namespace is refused.
#[test]
fn a_signature_made_by_ssh_keygen_verifies_with_kgents_gate() {
    let ws = workspace(Outcome::Approved);
    let dir = ws.path();
    let key = keygen(dir, "release", "ed25519", None, "");
    allowed_signers(dir, &[("release@kgents", &key)]);
    let out = audit(dir, &["--sign", key.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let sig = dir.join("out/kgents-gate-report.json.sig");
    for (namespace, code) in [("kgents-gate", 0), ("file", 1)] {
        std::fs::remove_file(&sig).unwrap();
        let signed = std::process::Command::new("ssh-keygen")
            .args(["-Y", "sign", "-n", namespace, "-f"])
            .arg(&key)
            .arg(report_path(dir))
            .output()
            .unwrap();
        assert!(signed.status.success(), "ssh-keygen -Y sign: {}", text(&signed));
        let v = gate(dir, &["verify", "out/kgents-gate-report.json", "--allowed-signers", "allowed_signers"], &[]);
        assert_eq!(v.status.code(), Some(code), "{namespace}: {}", text(&v));
        if code == 1 {
            assert!(stdout(&v).contains("the signature is for namespace \"file\", not kgents-gate"), "{}", text(&v));
        }
    }
}
