//! Verification of a signed report: the SSH signature over its bytes against an allowed-signers
//! file (as `ssh-keygen -Y verify` does), and the DSSE attestation made with the same key.

use jiff::Timestamp;
use ssh_key::public::KeyData;
use ssh_key::{HashAlg, PublicKey, SshSig};

use super::allowed_signers::AllowedSigners;
use super::attestation::{self, Statement};
use super::dsse::{self, Envelope, IN_TOTO_PAYLOAD_TYPE};
use super::{NAMESPACE, key};
use crate::report::Report;

/// Who made a good signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The principals fields of the allowed-signers lines that accept the key, as written.
    pub principals: Vec<String>,
    /// Their line numbers.
    pub lines: Vec<usize>,
    /// E.g. `ssh-ed25519`.
    pub algorithm: String,
    /// `SHA256:...`.
    pub fingerprint: String,
    pub key: KeyData,
}

/// Checks that `signature` (the armored `REPORT.sig`) is a kgents-gate signature over exactly
/// `bytes` by a key that `allowed` accepts now, as `identity` when given. Err says why not.
pub fn check_signature(
    bytes: &[u8],
    signature: &str,
    allowed: &AllowedSigners,
    identity: Option<&str>,
    now: Timestamp,
) -> Result<Signer, String> {
    let (sig, public) = signature_over(bytes, signature)?;
    let fingerprint = public.fingerprint(HashAlg::Sha256).to_string();
    let accepting = allowed.accepting(sig.public_key(), NAMESPACE, now, identity);
    if accepting.is_empty() {
        return Err(if !allowed.lists_key(sig.public_key()) {
            format!("signed by key {fingerprint}, which is not in the allowed signers file")
        } else {
            let who = identity.map_or(String::new(), |id| format!(" as {id:?}"));
            format!(
                "key {fingerprint} is in the allowed signers file, but not for signing{who} in namespace \
                 {NAMESPACE} at this time (principals, namespaces=, valid-after=, valid-before=)"
            )
        });
    }
    Ok(Signer {
        principals: accepting.iter().map(|s| s.principals.clone()).collect(),
        lines: accepting.iter().map(|s| s.line).collect(),
        algorithm: sig.algorithm().to_string(),
        fingerprint,
        key: sig.public_key().clone(),
    })
}

/// The signature parsed and checked over `bytes` with the key it names (integrity only: who that
/// key belongs to is `check_signature`'s question).
pub fn signature_over(bytes: &[u8], signature: &str) -> Result<(SshSig, PublicKey), String> {
    let sig = SshSig::from_pem(signature.trim().as_bytes())
        .map_err(|e| format!("not an SSH signature ({e}); expected the armored form `ssh-keygen -Y sign` writes"))?;
    if sig.namespace() != NAMESPACE {
        return Err(format!("the signature is for namespace {:?}, not {NAMESPACE}", sig.namespace()));
    }
    if !key::supported(&sig.algorithm()) {
        return Err(format!(
            "signed with a {} key; kgents-gate verifies ed25519 and ECDSA (P-256, P-384, P-521)",
            sig.algorithm()
        ));
    }
    let public = PublicKey::new(sig.public_key().clone(), "");
    public.verify(NAMESPACE, bytes, &sig).map_err(|_| {
        "the signature does not match the report's bytes: the report was changed after it was signed, or the \
         signature is of another report"
            .to_string()
    })?;
    Ok((sig, public))
}

/// Checks the attestation envelope `envelope_json`: signed by `key` (the report's signer), an
/// in-toto Statement v1 of a launch decision, about this report.
pub fn check_attestation(
    envelope_json: &str,
    key: &KeyData,
    report: &Report,
    bytes: &[u8],
) -> Result<Statement, String> {
    let envelope: Envelope = serde_json::from_str(envelope_json).map_err(|e| format!("not a DSSE envelope ({e})"))?;
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(format!("the envelope's payloadType is {:?}, not {IN_TOTO_PAYLOAD_TYPE}", envelope.payload_type));
    }
    let payload = dsse::verify(&envelope, key)?;
    attestation::check(&payload, report, bytes)
}
