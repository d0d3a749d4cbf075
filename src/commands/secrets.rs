//! `kgents-gate secrets scan`: the secret-hygiene findings of the live cluster or of manifest
//! files, as text or as the stable JSON list (`code`, `severity`, `object`, `key`, `message`).

use clap::{Args, Subcommand, ValueEnum};

use super::Failure;
use crate::cli::SourceArgs;
use crate::probe::params::parse_duration;
use crate::probe::secret_hygiene::{UNJUDGED_TYPES, needs, objects_from_view};
use crate::secrets::params::DEFAULT_EXCLUDED_NAMESPACES;
use crate::secrets::{SecretFinding, SecretsParams, exit_code, scan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub command: SecretsCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum SecretsCommand {
    /// Scan for credentials in clear, broken Secret references, stale or unused Secrets,
    /// automounted tokens and RBAC read access to Secrets. Exit 0 no error finding, 1 an error
    /// finding, 2 bad input, 3 the objects could not be read.
    Scan(ScanArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Only these namespaces (repeatable or comma-separated); default: every namespace.
    #[arg(long, short = 'n', value_name = "NS", value_delimiter = ',')]
    pub namespace: Vec<String>,
    /// Namespaces left out (default: kube-system, kube-public, kube-node-lease).
    #[arg(long, value_name = "NS", value_delimiter = ',')]
    pub exclude_namespace: Option<Vec<String>>,
    /// Secrets older than this (since creation or the rotation annotation) are overdue.
    #[arg(long, value_name = "DURATION", default_value = "90d")]
    pub rotation_max_age: String,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Deadline for reading the cluster.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::cli::duration_arg)]
    pub timeout: std::time::Duration,
}

pub fn run(args: &SecretsArgs) -> Result<i32, Failure> {
    match &args.command {
        SecretsCommand::Scan(a) => scan_cmd(a),
    }
}

fn scan_cmd(args: &ScanArgs) -> Result<i32, Failure> {
    let timeout = args.timeout;
    let rotation_max_age =
        parse_duration(&args.rotation_max_age).map_err(|e| Failure::usage(format!("--rotation-max-age: {e}")))?;
    if rotation_max_age.is_zero() {
        return Err(Failure::usage("--rotation-max-age must be longer than zero"));
    }
    let params = SecretsParams {
        namespaces: args.namespace.clone(),
        exclude_namespaces: args
            .exclude_namespace
            .clone()
            .unwrap_or_else(|| DEFAULT_EXCLUDED_NAMESPACES.iter().map(|s| s.to_string()).collect()),
        rotation_max_age,
        rotation_annotation: crate::secrets::DEFAULT_ROTATION_ANNOTATION.to_string(),
        automount_allowed: Vec::new(),
        secret_readers_allowed: Vec::new(),
        extra_credential_names: Vec::new(),
        extra_credential_values: Vec::new(),
        allowed_credential_names: Vec::new(),
        allowed_credential_values: Vec::new(),
    };
    let loaded = super::read_view(&args.source, &needs(&params), timeout)?;
    let objects = match objects_from_view(&loaded.view) {
        Ok(o) => o,
        Err(report) => {
            eprintln!("error: cannot scan: {}", crate::redact::redact_text(&report.why_unchecked()));
            return Ok(crate::exit::INCOMPLETE);
        }
    };
    let mut scan_opts = params.options(Some(jiff::Timestamp::now()), None);
    scan_opts.unused_unjudged_types = UNJUDGED_TYPES.iter().map(|t| t.to_string()).collect();
    if crate::secrets::builtin_patterns().is_err() {
        eprintln!("error: the built-in credential pattern rules could not be loaded");
        return Ok(crate::exit::INCOMPLETE);
    }
    let findings = scan(&objects, &scan_opts);
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&findings).unwrap_or_default()),
        OutputFormat::Text => print!("{}", render_text(&findings)),
    }
    Ok(exit_code(&findings))
}

fn render_text(findings: &[SecretFinding]) -> String {
    if findings.is_empty() {
        return "no secret-hygiene findings\n".to_string();
    }
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!("{f}\n"));
    }
    let errors = findings.iter().filter(|f| f.severity == crate::outcome::Level::Error).count();
    out.push_str(&format!("{} findings, {errors} errors\n", findings.len()));
    out
}
