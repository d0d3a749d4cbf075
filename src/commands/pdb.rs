//! `kgents-gate pdb`: the observed or computed status of each PodDisruptionBudget and its
//! findings, from manifests (offline, status computed) or the live cluster.

use clap::{Args, ValueEnum};

use super::Failure;
use crate::cli::SourceArgs;
use crate::pdb::{PdbParams, analyze};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct PdbArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Only these namespaces (repeatable or comma-separated); default: every namespace.
    #[arg(long, short = 'n', value_name = "NS", value_delimiter = ',')]
    pub namespace: Vec<String>,
    /// Deployments and StatefulSets with at least this many replicas need a PDB.
    #[arg(long, default_value_t = 2)]
    pub min_replicas: u32,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Deadline for reading the cluster.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::cli::duration_arg)]
    pub timeout: std::time::Duration,
}

pub fn run(args: &PdbArgs) -> Result<i32, Failure> {
    let timeout = args.timeout;
    if args.min_replicas == 0 {
        return Err(Failure::usage("--min-replicas must be at least 1"));
    }
    let params =
        PdbParams { namespaces: args.namespace.clone(), selector: None, min_replicas_for_pdb: args.min_replicas };
    let needs = crate::probe::pdb::needs(&params);
    let loaded = super::read_view(&args.source, &needs, timeout)?;
    let world = match crate::probe::pdb::world_from_view(&loaded.view, &params.namespaces) {
        Ok(w) => w,
        Err(report) => {
            eprintln!("error: cannot read the PDBs: {}", crate::redact::redact_text(&report.why_unchecked()));
            return Ok(crate::exit::INCOMPLETE);
        }
    };
    let analysis = analyze(&world, &params.scope());
    match args.format {
        OutputFormat::Json => {
            // Serialized from the structs, not through a `Value`, so keys keep the documented order.
            let text = serde_json::to_string_pretty(&analysis.pdbs).unwrap_or_else(|_| "[]".into());
            println!("{text}");
            // The list holds PDBs only; findings on workloads still decide the exit code, so say why.
            for f in &analysis.workload_findings {
                eprintln!("{} {}: {}", f.level.as_str(), f.code, f.message);
            }
        }
        OutputFormat::Text => print!("{}", render_text(&analysis)),
    }
    let errors = crate::pdb::all_findings(&analysis).iter().any(|f| f.level == crate::outcome::Level::Error);
    Ok(if errors { crate::exit::BLOCKED } else { crate::exit::APPROVED })
}

fn render_text(a: &crate::pdb::PdbAnalysis) -> String {
    let mut out = String::new();
    if a.pdbs.is_empty() {
        out.push_str("no PodDisruptionBudgets in scope\n");
    }
    for p in &a.pdbs {
        let s = &p.status;
        out.push_str(&format!(
            "{}/{} ({}): expectedPods {} currentHealthy {} desiredHealthy {} disruptionsAllowed {}\n",
            p.namespace,
            p.name,
            serde_json::to_value(p.status_source).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
            s.expected_pods,
            s.current_healthy,
            s.desired_healthy,
            s.disruptions_allowed
        ));
        for f in &p.findings {
            out.push_str(&format!("  {} {}: {}\n", f.level.as_str(), f.code, f.message));
        }
    }
    for f in &a.workload_findings {
        out.push_str(&format!("{} {}: {}\n", f.level.as_str(), f.code, f.message));
    }
    out
}
