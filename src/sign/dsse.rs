//! DSSE, the Dead Simple Signing Envelope (github.com/secure-systems-lab/dsse, v1.0): the
//! signature is over PAE(payloadType, payload), never over the JSON that carries it.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use ecdsa::signature::Verifier as _;
use serde::{Deserialize, Serialize};
use ssh_key::public::KeyData;
use ssh_key::{Algorithm, EcdsaCurve};

use super::key::SigningKey;
use crate::commands::Failure;

/// The payload type of an in-toto Statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub payload_type: String,
    /// Base64 (standard) of the payload bytes.
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// The signer's SSH key fingerprint (`SHA256:...`); a hint only, never trusted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
    /// Base64 (standard) of the signature: Ed25519's 64 bytes, or ECDSA in ASN.1 DER.
    pub sig: String,
}

/// The pre-authentication encoding: `DSSEv1 SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// An envelope of `payload` signed by `key`.
pub fn sign(key: &SigningKey, payload_type: &str, payload: &[u8]) -> Result<Envelope, Failure> {
    let sig = key.sign_raw(&pae(payload_type, payload))?;
    Ok(Envelope {
        payload_type: payload_type.to_string(),
        payload: STANDARD.encode(payload),
        signatures: vec![EnvelopeSignature { keyid: key.fingerprint(), sig: STANDARD.encode(sig) }],
    })
}

/// Base64, standard or URL-safe, as the DSSE specification asks verifiers to accept.
fn decode(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).or_else(|_| URL_SAFE.decode(s)).ok()
}

/// The payload when a signature of the envelope verifies with `key`; else why not.
pub fn verify(envelope: &Envelope, key: &KeyData) -> Result<Vec<u8>, String> {
    let payload = decode(&envelope.payload).ok_or("the envelope's payload is not base64")?;
    if envelope.signatures.is_empty() {
        return Err("the envelope has no signature".into());
    }
    let message = pae(&envelope.payload_type, &payload);
    let good = envelope.signatures.iter().any(|s| decode(&s.sig).is_some_and(|sig| verify_raw(key, &message, &sig)));
    if good {
        Ok(payload)
    } else {
        Err(format!(
            "none of the envelope's {} signature(s) verifies with the key that signed the report",
            envelope.signatures.len()
        ))
    }
}

/// Checks a raw signature (the `SigningKey::sign_raw` form) with an SSH public key.
fn verify_raw(key: &KeyData, message: &[u8], sig: &[u8]) -> bool {
    let ssh_sig = match key.algorithm() {
        Algorithm::Ed25519 => ssh_key::Signature::new(Algorithm::Ed25519, sig.to_vec()).ok(),
        Algorithm::Ecdsa { curve: EcdsaCurve::NistP256 } => {
            p256::ecdsa::Signature::from_der(sig).ok().and_then(|s| ssh_key::Signature::try_from(s).ok())
        }
        Algorithm::Ecdsa { curve: EcdsaCurve::NistP384 } => {
            p384::ecdsa::Signature::from_der(sig).ok().and_then(|s| ssh_key::Signature::try_from(s).ok())
        }
        Algorithm::Ecdsa { curve: EcdsaCurve::NistP521 } => {
            p521::ecdsa::Signature::from_der(sig).ok().and_then(|s| ssh_key::Signature::try_from(s).ok())
        }
        _ => None,
    };
    ssh_sig.is_some_and(|s| key.verify(message, &s).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_specified_encoding() {
        // The example of the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn malformed_envelopes_are_rejected_not_panicked_on() {
        let key = ssh_key::PublicKey::from_openssh(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti",
        )
        .unwrap();
        let env = |payload: &str, sig: &str| Envelope {
            payload_type: IN_TOTO_PAYLOAD_TYPE.into(),
            payload: payload.into(),
            signatures: if sig.is_empty() {
                vec![]
            } else {
                vec![EnvelopeSignature { keyid: String::new(), sig: sig.into() }]
            },
        };
        assert!(verify(&env("!!", "AAAA"), key.key_data()).unwrap_err().contains("not base64"));
        assert!(verify(&env("e30=", ""), key.key_data()).unwrap_err().contains("no signature"));
        assert!(verify(&env("e30=", "AAAA"), key.key_data()).unwrap_err().contains("none of"));
        assert!(verify(&env("e30=", &STANDARD.encode([0u8; 64])), key.key_data()).is_err());
    }
}
