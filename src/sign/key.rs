//! The signing key: an OpenSSH ed25519 or ECDSA (P-256, P-384, P-521) private key from a file or an
//! environment variable, decrypted with a passphrase from the environment when it is encrypted.
//! It never prompts, and no message, log line or `Debug` output shows key material.

use std::path::PathBuf;

use ecdsa::signature::Signer as _;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, LineEnding, PrivateKey, PublicKey};
use zeroize::Zeroizing;

use crate::commands::Failure;

/// Where the private key comes from (`--sign KEY` or `--sign-env VAR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    Env(String),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(p) => write!(f, "the signing key {}", p.display()),
            KeySource::Env(var) => write!(f, "the signing key in ${var}"),
        }
    }
}

/// A decrypted private key of a supported type.
pub struct SigningKey {
    key: PrivateKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({} {})", self.key.algorithm(), self.fingerprint())
    }
}

/// The key types kgents-gate signs with, as `ssh-keygen -t` names them.
const SUPPORTED: &str = "ed25519, or ecdsa (256, 384 or 521 bits): ssh-keygen -t ed25519";

/// Whether kgents-gate signs and verifies with keys of this algorithm.
pub fn supported(algorithm: &Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::Ed25519
            | Algorithm::Ecdsa { curve: EcdsaCurve::NistP256 }
            | Algorithm::Ecdsa { curve: EcdsaCurve::NistP384 }
            | Algorithm::Ecdsa { curve: EcdsaCurve::NistP521 }
    )
}

impl SigningKey {
    /// Reads, checks and (with the passphrase in `passphrase_env`) decrypts the key.
    pub fn load(source: &KeySource, passphrase_env: Option<&str>) -> Result<Self, Failure> {
        let text = read_source(source)?;
        let parsed = PrivateKey::from_openssh(text.as_bytes())
            .or_else(|e| ecdsa_scalar_padded(&text).and_then(|t| PrivateKey::from_openssh(t.as_bytes()).ok()).ok_or(e));
        let key = parsed.map_err(|e| {
            let hint = if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
                String::new()
            } else if text.contains("PRIVATE KEY-----") {
                "; it is a PEM key of another format: rewrite it in the OpenSSH format with \
                 `ssh-keygen -p -f KEY`"
                    .into()
            } else {
                "; expected the file `ssh-keygen -t ed25519` writes (BEGIN OPENSSH PRIVATE KEY)".into()
            };
            Failure::Key(format!("{source} is not an OpenSSH private key ({e}){hint}"))
        })?;
        if !supported(&key.algorithm()) {
            return Err(Failure::Key(format!(
                "{source} is a {} key; kgents-gate signs with {SUPPORTED}",
                key.algorithm()
            )));
        }
        let key = match (key.is_encrypted(), passphrase_env) {
            (false, _) => key,
            (true, None) => {
                return Err(Failure::Key(format!(
                    "{source} is encrypted with a passphrase, and kgents-gate never prompts for one: put the \
                     passphrase in an environment variable and name it with --sign-passphrase-env VAR"
                )));
            }
            (true, Some(var)) => {
                let passphrase = read_env(var, "--sign-passphrase-env")?;
                key.decrypt(passphrase.as_bytes()).map_err(|_| {
                    Failure::Key(format!(
                        "cannot decrypt {source} with the passphrase in ${var}: wrong passphrase, or a damaged key"
                    ))
                })?
            }
        };
        Ok(SigningKey { key })
    }

    pub fn public_key(&self) -> &PublicKey {
        self.key.public_key()
    }

    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }

    /// An SSH signature of `msg` in `namespace`, armored as `ssh-keygen -Y sign` writes it.
    pub fn sign_ssh(&self, namespace: &str, msg: &[u8]) -> Result<String, Failure> {
        let sig = self
            .key
            .sign(namespace, HashAlg::Sha512, msg)
            .map_err(|e| Failure::Internal(format!("cannot sign with {}: {e}", self.fingerprint())))?;
        let mut pem = sig
            .to_pem(LineEnding::LF)
            .map_err(|e| Failure::Internal(format!("cannot encode the SSH signature: {e}")))?;
        if !pem.ends_with('\n') {
            pem.push('\n');
        }
        Ok(pem)
    }

    /// A raw signature of `msg` as DSSE verifiers expect it: Ed25519's 64 bytes; ECDSA over
    /// SHA-256 (P-256), SHA-384 (P-384) or SHA-512 (P-521) in ASN.1 DER.
    pub fn sign_raw(&self, msg: &[u8]) -> Result<Vec<u8>, Failure> {
        let fail = |e: &dyn std::fmt::Display| Failure::Internal(format!("cannot sign the attestation: {e}"));
        let sig: ssh_key::Signature = self.key.try_sign(msg).map_err(|e| fail(&e))?;
        match self.key.algorithm() {
            Algorithm::Ed25519 => Ok(sig.as_bytes().to_vec()),
            Algorithm::Ecdsa { curve: EcdsaCurve::NistP256 } => {
                let sig = p256::ecdsa::Signature::try_from(&sig).map_err(|e| fail(&e))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Algorithm::Ecdsa { curve: EcdsaCurve::NistP384 } => {
                let sig = p384::ecdsa::Signature::try_from(&sig).map_err(|e| fail(&e))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Algorithm::Ecdsa { curve: EcdsaCurve::NistP521 } => {
                let sig = p521::ecdsa::Signature::try_from(&sig).map_err(|e| fail(&e))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            other => Err(Failure::Key(format!("a {other} key cannot sign here; kgents-gate signs with {SUPPORTED}"))),
        }
    }
}

/// The key text, held in memory that is wiped when dropped.
fn read_source(source: &KeySource) -> Result<Zeroizing<String>, Failure> {
    match source {
        KeySource::File(path) => {
            let bytes = Zeroizing::new(
                std::fs::read(path)
                    .map_err(|e| Failure::Key(format!("cannot read the signing key {}: {e}", path.display())))?,
            );
            match std::str::from_utf8(&bytes) {
                Ok(s) => Ok(Zeroizing::new(s.to_string())),
                Err(_) => Err(Failure::Key(format!(
                    "{source} is not an OpenSSH private key (not text); expected the file `ssh-keygen -t ed25519` writes"
                ))),
            }
        }
        KeySource::Env(var) => read_env(var, "--sign-env"),
    }
}

fn read_env(var: &str, flag: &str) -> Result<Zeroizing<String>, Failure> {
    match std::env::var(var) {
        Ok(v) if v.is_empty() => Err(Failure::Key(format!("{flag} {var}: the environment variable is empty"))),
        Ok(v) => Ok(Zeroizing::new(v)),
        Err(std::env::VarError::NotPresent) => {
            Err(Failure::Key(format!("{flag} {var}: the environment variable is not set")))
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Failure::Key(format!("{flag} {var}: the environment variable is not valid UTF-8")))
        }
    }
}

/// ssh-keygen writes an ECDSA private scalar as an mpint, without its leading zero bytes (half of
/// all P-521 keys, 1 in 256 of the others); the ssh-key crate reads only the curve's full width.
/// Returns the unencrypted key with the scalar padded to that width, or None when nothing applies.
fn ecdsa_scalar_padded(text: &str) -> Option<String> {
    use base64::Engine;
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
    let raw = base64::engine::general_purpose::STANDARD.decode(body).ok()?;
    let magic = b"openssh-key-v1\0";
    let mut r = raw.strip_prefix(magic.as_slice())?;
    fn string<'a>(r: &mut &'a [u8]) -> Option<&'a [u8]> {
        let n = u32::from_be_bytes(r.get(..4)?.try_into().ok()?) as usize;
        let s = r.get(4..4 + n)?;
        *r = &r[4 + n..];
        Some(s)
    }
    fn put(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s);
    }
    let cipher = string(&mut r)?;
    let (kdf, kdf_options) = (string(&mut r)?, string(&mut r)?);
    if cipher != b"none" || r.get(..4)? != 1u32.to_be_bytes() {
        return None;
    }
    r = &r[4..];
    let public = string(&mut r)?;
    let mut p = string(&mut r)?;
    let checks = p.get(..8)?;
    p = &p[8..];
    let (key_type, curve, point, scalar) = (string(&mut p)?, string(&mut p)?, string(&mut p)?, string(&mut p)?);
    let width = match curve {
        b"nistp256" => 32,
        b"nistp384" => 48,
        b"nistp521" => 66,
        _ => return None,
    };
    if scalar.len() >= width {
        return None;
    }
    let comment = string(&mut p)?;
    let mut private = checks.to_vec();
    put(&mut private, key_type);
    put(&mut private, curve);
    put(&mut private, point);
    let mut padded = vec![0u8; width - scalar.len()];
    padded.extend_from_slice(scalar);
    put(&mut private, &padded);
    put(&mut private, comment);
    let mut pad = 1u8;
    while private.len() % 8 != 0 {
        private.push(pad);
        pad += 1;
    }
    let mut out = magic.to_vec();
    put(&mut out, cipher);
    put(&mut out, kdf);
    put(&mut out, kdf_options);
    out.extend_from_slice(&1u32.to_be_bytes());
    put(&mut out, public);
    put(&mut out, &private);
    let b64 = base64::engine::general_purpose::STANDARD.encode(out);
    let lines: Vec<&str> = b64.as_bytes().chunks(70).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    Some(format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n", lines.join("\n")))
}
