//! No private key material in any output (docs/redaction.md): a signing key and its passphrase,
//! from a file or the environment, good or broken, signing or failing, at -vvv and with every
//! library's trace logs. Searched raw, hex and base64 (padded or not) in stdout, stderr and every
//! file written.

mod signing_support;

use std::path::Path;
use std::process::Output;

use base64::Engine;
use signing_support::{Outcome, audit, gate, keygen, text, workspace};
use ssh_key::PrivateKey;
use ssh_key::private::{EcdsaKeypair, KeypairData};

/// The secrets to look for, by name (the failure names them, never shows them).
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn of_key(key_file: &Path, passphrase: &str) -> Self {
        let pem = std::fs::read_to_string(key_file).unwrap();
        let mut out = Vec::new();
        let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        // The first line holds the format header and the public key only.
        for (i, line) in body.iter().enumerate().skip(1) {
            out.push((format!("key file line {i}"), line.to_string()));
        }
        out.push(("key file body".into(), body.concat()));
        let mut key = PrivateKey::from_openssh(&pem).unwrap();
        if key.is_encrypted() {
            key = key.decrypt(passphrase).unwrap();
        }
        let private: Vec<u8> = match key.key_data() {
            KeypairData::Ed25519(kp) => kp.private.to_bytes().to_vec(),
            KeypairData::Ecdsa(EcdsaKeypair::NistP256 { private, .. }) => private.as_slice().to_vec(),
            KeypairData::Ecdsa(EcdsaKeypair::NistP384 { private, .. }) => private.as_slice().to_vec(),
            other => panic!("unexpected key type {:?}", other.algorithm()),
        };
        let (std, no_pad) =
            (base64::engine::general_purpose::STANDARD, base64::engine::general_purpose::STANDARD_NO_PAD);
        out.push(("private scalar (hex)".into(), hex::encode(&private)));
        out.push(("private scalar (HEX)".into(), hex::encode_upper(&private)));
        out.push(("private scalar (base64)".into(), std.encode(&private)));
        out.push(("private scalar (base64, no padding)".into(), no_pad.encode(&private)));
        assert!([32, 48].contains(&private.len()), "a private scalar of {} bytes", private.len());
        if !passphrase.is_empty() {
            out.push(("passphrase".into(), passphrase.to_string()));
            out.push(("passphrase (base64)".into(), no_pad.encode(passphrase)));
        }
        let secrets = Secrets(out);
        // The search sees what it looks for: the key file itself shows its secrets.
        assert!(secrets.found(&pem).len() >= 2, "the key file's own lines are found");
        let leaked = format!("log: {}", hex::encode(&private));
        assert_eq!(secrets.found(&leaked), vec!["private scalar (hex)"]);
        secrets
    }

    fn found(&self, text: &str) -> Vec<&str> {
        self.0.iter().filter(|(_, v)| text.contains(v.as_str())).map(|(n, _)| n.as_str()).collect()
    }

    fn assert_absent(&self, what: &str, text: &str) {
        assert!(self.found(text).is_empty(), "{what} shows: {:?}", self.found(text));
    }

    fn check_output(&self, what: &str, out: &Output) {
        self.assert_absent(&format!("{what}: stdout"), &String::from_utf8_lossy(&out.stdout));
        self.assert_absent(&format!("{what}: stderr"), &String::from_utf8_lossy(&out.stderr));
    }

    /// Every file under `dir`, recursively; returns how many were read.
    fn check_files(&self, what: &str, dir: &Path) -> usize {
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                n += self.check_files(what, &p);
                continue;
            }
            self.assert_absent(
                &format!("{what}: {}", p.display()),
                &String::from_utf8_lossy(&std::fs::read(&p).unwrap()),
            );
            n += 1;
        }
        n
    }
}

fn random_hex(bytes: usize) -> String {
    use std::io::Read as _;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).unwrap();
    hex::encode(buf)
}

/// Log settings: -vvv, and RUST_LOG=trace for every library.
const LOGS: &[(&[&str], Option<&str>)] = &[(&["-vvv"], None), (&[], Some("trace"))];

fn with_log<'a>(args: &[&'a str], log: &[&'a str]) -> Vec<&'a str> {
    let mut v = log.to_vec();
    v.extend_from_slice(args);
    v
}

#[test]
fn a_signing_key_and_its_passphrase_never_show() {
    for (kind, bits) in [("ed25519", None), ("ecdsa", Some("384"))] {
        let ws = workspace(Outcome::Approved);
        let dir = ws.path();
        let passphrase = format!("Kg7x{}Q9", random_hex(12));
        let key = keygen(dir, "release", kind, bits, &passphrase);
        let secrets = Secrets::of_key(&key, &passphrase);
        signing_support::allowed_signers(dir, &[("release@kgents", &key)]);
        for (flags, rust_log) in LOGS {
            let mut env: Vec<(&str, &str)> = vec![("RELEASE_PASS", passphrase.as_str())];
            if let Some(l) = rust_log {
                env.push(("RUST_LOG", l));
            }
            let what = format!("{kind} {flags:?} {rust_log:?}");
            let out =
                audit(dir, &with_log(&["--sign", "release", "--sign-passphrase-env", "RELEASE_PASS"], flags), &env);
            assert_eq!(out.status.code(), Some(0), "{what}: {}", text(&out));
            secrets.check_output(&format!("{what}: audit"), &out);
            assert_eq!(secrets.check_files(&what, &dir.join("out")), 4, "json, markdown, signature, attestation");

            let v = gate(
                dir,
                &with_log(&["verify", "out/kgents-gate-report.json", "--allowed-signers", "allowed_signers"], flags),
                &env,
            );
            assert_eq!(v.status.code(), Some(0), "{what}: {}", text(&v));
            secrets.check_output(&format!("{what}: verify"), &v);

            // A wrong passphrase, and none: clear errors that show neither the key nor the passphrase.
            let wrong = format!("Wr0ng{}", random_hex(8));
            let out = audit(
                dir,
                &with_log(&["--sign", "release", "--sign-passphrase-env", "BAD"], flags),
                &[("BAD", &wrong)],
            );
            assert_eq!(out.status.code(), Some(2), "{what}: {}", text(&out));
            secrets.check_output(&format!("{what}: wrong passphrase"), &out);
            assert!(!text(&out).contains(&wrong), "{what}: the wrong passphrase is shown");
            let out = audit(dir, &with_log(&["--sign", "release"], flags), &env);
            assert_eq!(out.status.code(), Some(2), "{what}: {}", text(&out));
            secrets.check_output(&format!("{what}: no passphrase"), &out);
        }
    }
}

#[test]
fn a_key_in_the_environment_never_shows_even_when_broken() {
    let ws = workspace(Outcome::Approved);
    let dir = ws.path();
    let key = keygen(dir, "release", "ed25519", None, "");
    let pem = std::fs::read_to_string(&key).unwrap();
    let secrets = Secrets::of_key(&key, "");
    std::fs::remove_file(&key).unwrap();
    // A truncated copy (a CI secret pasted without its last line) and a look-alike holding a canary.
    let truncated: String = {
        let lines: Vec<&str> = pem.lines().collect();
        let mut kept: Vec<&str> = lines[..lines.len() - 2].to_vec();
        kept.push(lines[lines.len() - 1]);
        kept.join("\n") + "\n"
    };
    let canary = format!("Kg7x{}Q9", random_hex(20));
    let look_alike = format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{canary}\n-----END OPENSSH PRIVATE KEY-----\n");
    let not_pem = format!("{canary}\n");
    for (flags, rust_log) in LOGS {
        let log_env: Vec<(&str, &str)> = rust_log.iter().map(|l| ("RUST_LOG", *l)).collect();
        let with = |value: &str| {
            let mut e = log_env.clone();
            e.push(("RELEASE_KEY", value));
            audit(dir, &with_log(&["--sign-env", "RELEASE_KEY"], flags), &e)
        };
        let what = format!("{flags:?} {rust_log:?}");
        let out = with(&pem);
        assert_eq!(out.status.code(), Some(0), "{what}: {}", text(&out));
        secrets.check_output(&format!("{what}: key in env"), &out);
        secrets.check_files(&what, &dir.join("out"));
        for (name, value) in [("truncated", truncated.as_str()), ("look-alike", &look_alike), ("not PEM", &not_pem)] {
            let out = with(value);
            assert_eq!(out.status.code(), Some(2), "{what} {name}: {}", text(&out));
            assert!(
                text(&out).contains("the signing key in $RELEASE_KEY is not an OpenSSH private key"),
                "{}",
                text(&out)
            );
            secrets.check_output(&format!("{what}: {name} key in env"), &out);
            assert!(!text(&out).contains(&canary), "{what} {name}: the canary is shown");
        }
    }
}
