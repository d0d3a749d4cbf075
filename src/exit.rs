//! The process exit codes, in one place. The README lists them; CI pipelines gate on them.

/// Every blocking item passed, or is validly waived (APPROVED, APPROVED WITH WAIVERS).
pub const APPROVED: i32 = 0;
/// A blocking item failed, is pending, or its waiver expired (BLOCKED). Also: `diff` found a new
/// blocking failure; `secrets scan` / `rules check` found a finding of severity error; `verify`
/// found a signature or attestation missing or bad, or a verified decision it does not accept.
pub const BLOCKED: i32 = 1;
/// Usage or checklist error: bad flags, invalid checklist or catalog, unknown check id, unreadable
/// input; a signing key or allowed-signers file that cannot be used; `diff --require-signed`
/// refusing an unsigned or tampered report.
pub const USAGE: i32 = 2;
/// Nothing blocking failed, but a blocking item could not be verified (INCOMPLETE); also `verify`
/// of a well-signed INCOMPLETE report it was not told to accept.
pub const INCOMPLETE: i32 = 3;
/// The gate itself failed: a report could not be written, a file it needs could not be read or
/// written, or an internal error. Never a launch decision; a pipeline must treat it as a failure.
pub const ERROR: i32 = 4;
