//! `kgents-gate merge A.json B.json ...`: the fleet report from cluster reports written elsewhere
//! (one CronJob per cluster), with their signatures checked (docs/fleet.md).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::Failure;
use crate::cli::{SignersArgs, format_arg};
use crate::fleet::run::write_fleet;
use crate::fleet::{Member, SignatureState, build, dir_name, render};
use crate::report::{Format, Report, Styles, parse_json, write::write_atomic};
use crate::sign::verify::{check_signature, signature_over};
use crate::sign::{AllowedSigners, attestation_path, signature_path};

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Cluster JSON reports, each `PATH` or `NAME=PATH`. Without a name, a cluster is named by the
    /// report's kubeconfig context, else by its directory (for `.../NAME/kgents-gate-report.json`),
    /// else by the file name.
    #[arg(required = true, value_name = "[NAME=]REPORT.json")]
    pub reports: Vec<String>,
    /// Where the fleet summary and a copy of each cluster report (one directory per cluster) go.
    #[arg(long, value_name = "DIR", default_value = "reports/fleet")]
    pub out_dir: PathBuf,
    /// Formats of the fleet summary: terminal, markdown, json, junit (comma-separated).
    #[arg(long, value_name = "FORMATS", value_delimiter = ',', default_value = "terminal,markdown,json,junit", value_parser = format_arg)]
    pub format: Vec<Format>,
    /// Refuse (exit 2) unless every report carries a good signature by a key in --allowed-signers.
    #[arg(long, requires = "allowed_signers")]
    pub require_signed: bool,
    #[command(flatten)]
    pub signers: SignersArgs,
}

/// `NAME=PATH` or `PATH`. A path that exists as given wins over a split (a file may contain `=`).
fn split_arg(arg: &str) -> (Option<String>, PathBuf) {
    if !Path::new(arg).exists()
        && let Some((name, path)) = arg.split_once('=')
        && !name.is_empty()
        && !name.contains('/')
    {
        return (Some(name.to_string()), PathBuf::from(path));
    }
    (None, PathBuf::from(arg))
}

/// The name of a report given without one: its context, else its directory when the file has
/// the audit's own name, else the file stem.
fn default_name(report: &Report, path: &Path) -> String {
    if let Some(ctx) = report.provenance.cluster.as_ref().and_then(|c| c.context.clone()) {
        return ctx;
    }
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default();
    if Some(file) == Format::Json.file_name()
        && let Some(dir) = path.parent().and_then(|p| p.file_name()).and_then(|d| d.to_str())
    {
        return dir.to_string();
    }
    path.file_stem().and_then(|s| s.to_str()).unwrap_or("cluster").to_string()
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, Failure> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::Io(format!("cannot read {}: {e}", path.display()))),
    }
}

/// What the signature beside `path` says about `bytes`. A signature that does not match, or
/// (with allowed signers) is by a key they do not accept, refuses the merge: a fleet approval
/// must not rest on a changed report.
fn signature_state(
    path: &Path,
    bytes: &[u8],
    allowed: Option<&AllowedSigners>,
    identity: Option<&str>,
    required: bool,
) -> Result<SignatureState, Failure> {
    let sig_path = signature_path(path);
    let refuse = |why: String| Failure::Signature(format!("refusing to merge {}: {why}", path.display()));
    let Some(sig) = read_optional(&sig_path)? else {
        if required {
            return Err(refuse(format!("it is not signed (no {})", sig_path.display())));
        }
        return Ok(SignatureState::Unsigned);
    };
    let sig = String::from_utf8_lossy(&sig).into_owned();
    match allowed {
        Some(allowed) => {
            let signer = check_signature(bytes, &sig, allowed, identity, jiff::Timestamp::now()).map_err(refuse)?;
            Ok(SignatureState::Verified { signer: signer.principals.join(" | "), fingerprint: signer.fingerprint })
        }
        None => {
            let (_, public) = signature_over(bytes, &sig).map_err(refuse)?;
            Ok(SignatureState::Unchecked { fingerprint: public.fingerprint(ssh_key::HashAlg::Sha256).to_string() })
        }
    }
}

pub fn run(args: &MergeArgs, styles: &Styles) -> Result<i32, Failure> {
    let allowed = match &args.signers.allowed_signers {
        Some(p) => Some(AllowedSigners::read(p)?),
        None => None,
    };
    let mut formats = Vec::new();
    for f in &args.format {
        if !formats.contains(f) {
            formats.push(*f);
        }
    }
    let mut members: Vec<Member> = Vec::new();
    let mut dirs: Vec<String> = Vec::new();
    for arg in &args.reports {
        let (name, path) = split_arg(arg);
        // An input that cannot be read is the user's (exit 2), as a bad flag.
        let bytes = std::fs::read(&path)
            .map_err(|e| Failure::usage(format!("cannot read the report {}: {e}", path.display())))?;
        let signature =
            signature_state(&path, &bytes, allowed.as_ref(), args.signers.identity.as_deref(), args.require_signed)?;
        let text = String::from_utf8(bytes.clone())
            .map_err(|_| Failure::usage(format!("{}: not UTF-8 text", path.display())))?;
        let report = parse_json(&text).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
        let name = name.unwrap_or_else(|| default_name(&report, &path));
        if members.iter().any(|m| m.name == name) {
            return Err(Failure::usage(format!(
                "two reports are named {name:?}; name them on the command line as NAME=PATH"
            )));
        }
        // The cluster's files are copied beside the summary, as `audit --context` lays them out.
        let dir = dir_name(&name, &dirs);
        let json_name = Format::Json.file_name().unwrap_or_default();
        let target = args.out_dir.join(&dir).join(json_name);
        copy_with_signature(&path, &bytes, &target)?;
        members.push(Member { name, report, path: format!("{dir}/{json_name}"), signature });
        dirs.push(dir);
    }
    let fleet = build(&members);
    let written = write_fleet(&fleet, &members, &formats, &args.out_dir)?;
    if formats.contains(&Format::Terminal) {
        let text = render::render_terminal(&fleet, styles, crate::app::terminal_width());
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    Ok(fleet.exit_code)
}

/// Copies the report (the bytes already read and checked) and, when present, its signature and
/// attestation to `target`, unless `target` is the report itself.
fn copy_with_signature(source: &Path, bytes: &[u8], target: &Path) -> Result<(), Failure> {
    let same = match (source.canonicalize(), target.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Ok(());
    }
    let io = |e: std::io::Error| Failure::Io(format!("cannot write {}: {e}", target.display()));
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    write_atomic(target, bytes).map_err(io)?;
    for (from, to) in
        [(signature_path(source), signature_path(target)), (attestation_path(source), attestation_path(target))]
    {
        match read_optional(&from)? {
            Some(b) => write_atomic(&to, &b).map_err(io)?,
            None => {
                // A stale signature of an earlier copy must not sit beside an unsigned report.
                let _ = std::fs::remove_file(&to);
            }
        }
    }
    Ok(())
}
