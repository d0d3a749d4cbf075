//! `kgents-gate rules check PATH...`: Prometheus rule files, ConfigMaps holding rule files and
//! PrometheusRule manifests judged as `promtool check rules` does, plus kgents' own findings.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::Failure;
use crate::outcome::Level;
use crate::rules::{CheckOptions, PromVersion, RuleEntry, check_paths_with, exit_status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PromVersionArg {
    #[value(name = "2")]
    V2,
    #[value(name = "3")]
    V3,
}

#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: RulesCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum RulesCommand {
    /// Check rule files, ConfigMaps holding rule files and PrometheusRule manifests; exits 1
    /// when a finding is an error.
    Check(CheckArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Files, or folders searched for .yaml, .yml, .json and .rules files.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// The Prometheus major version the rules are written for (3 allows UTF-8 names and group labels).
    #[arg(long, value_enum, default_value_t = PromVersionArg::V2)]
    pub prometheus_version: PromVersionArg,
    /// Severities an alert may carry (comma-separated); default: critical, warning, info.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub severities: Vec<String>,
}

pub fn run(args: &RulesArgs) -> Result<i32, Failure> {
    match &args.command {
        RulesCommand::Check(a) => check(a),
    }
}

fn check(args: &CheckArgs) -> Result<i32, Failure> {
    let mut opts = CheckOptions::default();
    if args.prometheus_version == PromVersionArg::V3 {
        opts.prometheus = PromVersion::V3;
    }
    if !args.severities.is_empty() {
        opts.known_severities =
            args.severities.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    }
    let entries = check_paths_with(&args.paths, &opts).map_err(|e| Failure::usage(e.to_string()))?;
    match args.format {
        OutputFormat::Json => {
            let json = serde_json::to_string_pretty(&entries)
                .map_err(|e| Failure::usage(format!("cannot write the JSON output: {e}")))?;
            println!("{json}");
        }
        OutputFormat::Text => print!("{}", render_text(&entries)),
    }
    Ok(exit_status(&entries))
}

/// One line per finding, then a count of rules and findings by level.
pub fn render_text(entries: &[RuleEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        for f in &e.findings {
            let line = f.line.map(|l| format!(" (line {l})")).unwrap_or_default();
            out.push_str(&format!("{}{line}: {} {}: {}\n", e.describe(), f.severity.as_str(), f.code, f.message));
        }
    }
    let count = |level: Level| entries.iter().flat_map(|e| &e.findings).filter(|f| f.severity == level).count();
    let alerts = entries.iter().filter(|e| e.alert.is_some()).count();
    let records = entries.iter().filter(|e| e.record.is_some()).count();
    out.push_str(&format!(
        "{alerts} alerting and {records} recording rules: {} errors, {} warnings, {} notes\n",
        count(Level::Error),
        count(Level::Warning),
        count(Level::Info)
    ));
    out
}
