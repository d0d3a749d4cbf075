//! Signed launch approvals (docs/signing.md): an SSH signature over the exact bytes of the JSON
//! report (`ssh-keygen -Y verify` accepts it) and an in-toto attestation of the decision in a
//! DSSE envelope, both made with one OpenSSH key; and their verification.

pub mod allowed_signers;
pub mod attestation;
pub mod dsse;
pub mod key;
pub mod verify;

use std::path::{Path, PathBuf};

use crate::commands::Failure;
use crate::report::Report;
use crate::report::write::write_atomic;

pub use allowed_signers::AllowedSigners;
pub use key::{KeySource, SigningKey};

/// The SSH signature namespace (`ssh-keygen -Y sign -n kgents-gate`): a signature made for git
/// or for files (`-n file`) is never taken for a launch approval.
pub const NAMESPACE: &str = "kgents-gate";
/// The attestation's file, beside the JSON report.
pub const ATTESTATION_FILE: &str = "kgents-gate-attestation.json";

/// `REPORT.sig` beside `REPORT`, as `ssh-keygen -Y sign` names it.
pub fn signature_path(report: &Path) -> PathBuf {
    let mut name = report.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".sig");
    report.with_file_name(name)
}

/// `kgents-gate-attestation.json` in the report's directory.
pub fn attestation_path(report: &Path) -> PathBuf {
    report.with_file_name(ATTESTATION_FILE)
}

/// Signs the JSON report written at `report_path` (whose bytes are `report_bytes`) and writes the
/// signature and the attestation beside it, atomically. Returns the paths written.
pub fn sign_report(
    key: &SigningKey,
    report: &Report,
    report_bytes: &[u8],
    report_path: &Path,
) -> Result<Vec<PathBuf>, Failure> {
    let report_name = report_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let signature = key.sign_ssh(NAMESPACE, report_bytes)?;
    let statement = attestation::statement(report, report_bytes, &report_name);
    let payload = serde_json::to_vec(&statement)
        .map_err(|e| Failure::Internal(format!("cannot encode the attestation statement: {e}")))?;
    let envelope = dsse::sign(key, dsse::IN_TOTO_PAYLOAD_TYPE, &payload)?;
    let mut envelope_json = serde_json::to_string_pretty(&envelope)
        .map_err(|e| Failure::Internal(format!("cannot encode the attestation envelope: {e}")))?;
    envelope_json.push('\n');

    let mut written = Vec::new();
    for (path, bytes) in [
        (signature_path(report_path), signature.into_bytes()),
        (attestation_path(report_path), envelope_json.into_bytes()),
    ] {
        write_atomic(&path, &bytes).map_err(|e| Failure::Io(format!("cannot write {}: {e}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}

/// Removes a signature and attestation left beside `report_path` by an earlier signed run: they
/// are of other bytes, and next to an unsigned report they would only mislead. Returns what was
/// removed.
pub fn remove_stale(report_path: &Path) -> Result<Vec<PathBuf>, Failure> {
    let mut removed = Vec::new();
    for path in [signature_path(report_path), attestation_path(report_path)] {
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Failure::Io(format!("cannot remove the stale {}: {e}", path.display()))),
        }
    }
    Ok(removed)
}
