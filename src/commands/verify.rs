//! `kgents-gate verify REPORT.json --allowed-signers FILE`: checks the report's SSH signature and
//! its attestation, says who signed what decision when, and gates on the decision. Also the
//! signature checks `diff` makes (`--require-signed`, and a loud warning for a tampered report).

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::Failure;
use crate::cli::SignersArgs;
use crate::exit;
use crate::report::text::{duration, sanitize};
use crate::report::{Decision, Report, parse_json, render_json};
use crate::sign::verify::{Signer, check_attestation, check_signature, signature_over};
use crate::sign::{AllowedSigners, attestation_path, signature_path};

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The JSON report, e.g. reports/kgents-gate-report.json.
    pub report: PathBuf,
    /// The allowed signers file (ssh-keygen(1), ALLOWED SIGNERS): `principals [options] key`.
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: PathBuf,
    /// The signer must be this principal (as `ssh-keygen -Y verify -I NAME`); default: any
    /// principal the file lists for the key.
    #[arg(long, value_name = "NAME")]
    pub identity: Option<String>,
    /// The SSH signature (default: REPORT.sig beside the report).
    #[arg(long, value_name = "PATH")]
    pub signature: Option<PathBuf>,
    /// The attestation (default: kgents-gate-attestation.json beside the report).
    #[arg(long, value_name = "PATH")]
    pub attestation: Option<PathBuf>,
    /// Also exit 0 for these decisions once everything verifies (to check the signature of any
    /// audit): approved, approved-with-waivers, blocked, incomplete. Comma-separated.
    #[arg(long, value_name = "DECISIONS", value_enum, value_delimiter = ',')]
    pub accept: Vec<DecisionArg>,
    /// Exit 0 for any decision once everything verifies.
    #[arg(long)]
    pub any_decision: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DecisionArg {
    Approved,
    ApprovedWithWaivers,
    Blocked,
    Incomplete,
}

impl DecisionArg {
    fn decision(self) -> Decision {
        match self {
            DecisionArg::Approved => Decision::Approved,
            DecisionArg::ApprovedWithWaivers => Decision::ApprovedWithWaivers,
            DecisionArg::Blocked => Decision::Blocked,
            DecisionArg::Incomplete => Decision::Incomplete,
        }
    }
}

fn read_bytes(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Io(format!("cannot read the {what} {}: {e}", path.display())))
}

/// Reads `path` if it exists; Ok(None) when it does not.
fn read_optional(path: &Path) -> Result<Option<String>, Failure> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::Io(format!("cannot read {}: {e}", path.display()))),
    }
}

fn who(signer: &Signer) -> String {
    let names: Vec<String> = signer.principals.iter().map(|p| sanitize(p)).collect();
    names.join(" | ")
}

pub fn run(args: &VerifyArgs) -> Result<i32, Failure> {
    let allowed = AllowedSigners::read(&args.allowed_signers)?;
    let bytes = read_bytes(&args.report, "report")?;
    let sig_path = args.signature.clone().unwrap_or_else(|| signature_path(&args.report));
    let att_path = args.attestation.clone().unwrap_or_else(|| attestation_path(&args.report));
    println!("verifying {}", args.report.display());
    let rejected = |line: String| {
        println!("NOT VERIFIED: {line}");
        Ok(exit::BLOCKED)
    };

    let Some(signature) = read_optional(&sig_path)? else {
        println!("  signature    MISSING: no {} (sign with `kgents-gate audit --sign KEY`)", sig_path.display());
        return rejected("the report is not signed".into());
    };
    let signer = match check_signature(&bytes, &signature, &allowed, args.identity.as_deref(), jiff::Timestamp::now()) {
        Ok(s) => s,
        Err(why) => {
            println!("  signature    BAD: {why}");
            println!("  attestation  not checked");
            return rejected(format!("the signature of {} does not verify", args.report.display()));
        }
    };
    let lines: Vec<String> = signer.lines.iter().map(|l| l.to_string()).collect();
    println!(
        "  signature    good: signed by {} ({} {}; {} line {})",
        who(&signer),
        signer.algorithm,
        signer.fingerprint,
        args.allowed_signers.display(),
        lines.join(", ")
    );

    let text = String::from_utf8_lossy(&bytes);
    let report = parse_json(&text).map_err(|e| {
        Failure::Usage(format!("{} is signed, but is not a report this kgents-gate reads: {e}", args.report.display()))
    })?;

    let Some(envelope) = read_optional(&att_path)? else {
        println!("  attestation  MISSING: no {}", att_path.display());
        return rejected("the attestation is missing".into());
    };
    let statement = match check_attestation(&envelope, &signer.key, &report, &bytes) {
        Ok(s) => s,
        Err(why) => {
            println!("  attestation  BAD: {why}");
            return rejected(format!("the attestation {} does not verify", att_path.display()));
        }
    };
    let images = statement.subject.len().saturating_sub(1);
    println!(
        "  attestation  good: in-toto Statement v1 ({}), same key; subjects: {images} image{} and the checklist",
        statement.predicate_type,
        if images == 1 { "" } else { "s" }
    );
    print_decision(&report, statement.predicate.waivers.len(), statement.predicate.signoffs.len());
    if render_json(&report).as_bytes() != bytes.as_slice() {
        println!("  note         the report is not in this version's canonical JSON form (docs/signing.md)");
    }

    let accepted = args.any_decision
        || matches!(report.decision, Decision::Approved | Decision::ApprovedWithWaivers)
        || args.accept.iter().any(|a| a.decision() == report.decision);
    if accepted {
        println!("verified: {} signed by {}", report.decision.label(), who(&signer));
        Ok(exit::APPROVED)
    } else {
        println!(
            "verified, but the decision is {}: not a launch approval (--accept {} to accept it)",
            report.decision.label(),
            report.decision.label().to_ascii_lowercase().replace(' ', "-")
        );
        Ok(match report.decision.exit_code() {
            exit::APPROVED => exit::BLOCKED,
            code => code,
        })
    }
}

fn print_decision(report: &Report, waivers: usize, signoffs: usize) {
    let p = &report.provenance;
    println!(
        "  decision     {} (exit {}) for {:?}: {}",
        report.decision.label(),
        report.exit_code,
        sanitize(&report.launch.name),
        sanitize(&report.decision_reason)
    );
    println!("               {waivers} waiver(s) in force, {signoffs} valid sign-off(s)");
    let cluster = match &p.cluster {
        Some(c) => format!(
            "cluster {} (context {}, identity {})",
            sanitize(&c.server),
            sanitize(c.context.as_deref().unwrap_or("-")),
            sanitize(c.identity.as_deref().unwrap_or("-"))
        ),
        None => "no cluster (offline)".into(),
    };
    println!("  audited      {} for {}, {cluster}", sanitize(&p.started_at), duration(p.duration_ms));
    println!(
        "  checklist    {} sha256 {}",
        sanitize(&p.checklist),
        sanitize(&p.checklist_sha256[..12.min(p.checklist_sha256.len())])
    );
}

/// `diff --require-signed`: the report's bytes when its signature verifies against the allowed
/// signers; a refusal (exit 2) otherwise.
pub fn require_signed(path: &Path, signers: &SignersArgs) -> Result<Vec<u8>, Failure> {
    let Some(allowed_path) = &signers.allowed_signers else {
        return Err(Failure::usage("--require-signed needs --allowed-signers FILE"));
    };
    let allowed = AllowedSigners::read(allowed_path)?;
    let bytes = read_bytes(path, "report")?;
    let refuse = |why: String| Failure::Signature(format!("refusing to compare {}: {why}", path.display()));
    let sig_path = signature_path(path);
    let signature =
        read_optional(&sig_path)?.ok_or_else(|| refuse(format!("it is not signed (no {})", sig_path.display())))?;
    check_signature(&bytes, &signature, &allowed, signers.identity.as_deref(), jiff::Timestamp::now())
        .map_err(refuse)?;
    Ok(bytes)
}

/// Without `--require-signed`: a warning when a signature lies beside the report and does not
/// match its bytes (the report was changed after signing).
pub fn tamper_warning(path: &Path, bytes: &[u8]) -> Option<String> {
    let sig_path = signature_path(path);
    let signature = read_optional(&sig_path).ok()??;
    signature_over(bytes, &signature).err().map(|why| {
        format!(
            "WARNING: {} does not match its signature {}: {why}. Do not trust this comparison; \
             use --require-signed --allowed-signers FILE to refuse such reports",
            path.display(),
            sig_path.display()
        )
    })
}
