//! `kgents-gate netpol eval`: the static NetworkPolicy evaluator on its own. Is traffic from A to
//! B on a port allowed, and which policies decide it; from manifests or the live cluster.

use clap::{Args, Subcommand, ValueEnum};

use super::Failure;
use crate::cli::SourceArgs;
use crate::netpol::{Endpoint, NetpolWorld, PortSpec, Protocol, Verdict, evaluate};
use crate::probe::netpol_isolation::world::{WorldError, needs_for, world_from_view};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Subcommand)]
pub enum NetpolCommand {
    /// Is traffic from one pod (or outside address) to another allowed, and by which policies?
    Eval(EvalArgs),
    /// The full connectivity of the namespaces in scope: which workload reaches which, on which
    /// ports and protocols, through which policies, and what reaches them from outside.
    Matrix(MatrixArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatrixFormat {
    /// `src => dst : connections`, one line each.
    Text,
    Json,
    Csv,
    Md,
    Dot,
}

#[derive(Debug, Clone, Args)]
pub struct MatrixArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Namespaces in scope (repeatable); every namespace when none is given.
    #[arg(short = 'n', long = "namespace", value_name = "NS")]
    pub namespace: Vec<String>,
    #[arg(long, value_enum, default_value_t = MatrixFormat::Text)]
    pub format: MatrixFormat,
    /// Deadline for reading the cluster.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::cli::duration_arg)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Clone, Args)]
pub struct NetpolArgs {
    #[command(subcommand)]
    pub command: NetpolCommand,
}

#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The source: NAMESPACE/POD (a pod, or a workload whose pods are not deployed) or external:IP.
    #[arg(long, value_name = "NS/POD|external:IP")]
    pub from: String,
    /// The destination: NAMESPACE/POD or external:IP.
    #[arg(long, value_name = "NS/POD|external:IP")]
    pub to: String,
    /// Destination port: a number, or a container port name of the destination pod.
    #[arg(long, value_name = "N|NAME")]
    pub port: String,
    #[arg(long, value_name = "TCP|UDP|SCTP", default_value = "TCP")]
    pub protocol: String,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Deadline for reading the cluster.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::cli::duration_arg)]
    pub timeout: std::time::Duration,
}

pub fn run(args: &NetpolArgs) -> Result<i32, Failure> {
    match &args.command {
        NetpolCommand::Eval(e) => eval(e),
        NetpolCommand::Matrix(m) => matrix(m),
    }
}

fn matrix(args: &MatrixArgs) -> Result<i32, Failure> {
    let loaded = super::read_view(&args.source, &needs_for(&args.namespace), args.timeout)?;
    let world = match world_from_view(&loaded.view, &args.namespace) {
        Ok(w) => w,
        Err(WorldError::Invalid(e)) => return Err(Failure::usage(e)),
        Err(WorldError::Gap(report)) => {
            eprintln!("error: cannot read the objects: {}", crate::redact::redact_text(&report.why_unchecked()));
            return Ok(crate::exit::INCOMPLETE);
        }
    };
    let m = crate::netpol::matrix(&world, &args.namespace);
    let out = match args.format {
        MatrixFormat::Text => m.to_text(),
        MatrixFormat::Json => serde_json::to_string_pretty(&m).unwrap_or_default() + "\n",
        MatrixFormat::Csv => m.to_csv(),
        MatrixFormat::Md => m.to_markdown(),
        MatrixFormat::Dot => m.to_dot(),
    };
    print!("{out}");
    // The process ends here: freeing the world and the matrix piece by piece is wasted time.
    std::mem::forget((m, world, loaded));
    Ok(crate::exit::APPROVED)
}

fn namespace_of(ep: &Endpoint) -> Option<&str> {
    match ep {
        Endpoint::Pod { namespace, .. } => Some(namespace),
        Endpoint::External(_) => None,
    }
}

fn eval(args: &EvalArgs) -> Result<i32, Failure> {
    let from: Endpoint = args.from.parse().map_err(|e| Failure::usage(format!("--from: {e}")))?;
    let to: Endpoint = args.to.parse().map_err(|e| Failure::usage(format!("--to: {e}")))?;
    let port: PortSpec = args.port.parse().map_err(|e| Failure::usage(format!("--port: {e}")))?;
    let protocol: Protocol = args.protocol.parse().map_err(|e| Failure::usage(format!("--protocol: {e}")))?;
    let timeout = args.timeout;
    let mut namespaces: Vec<String> = [&from, &to].into_iter().filter_map(namespace_of).map(String::from).collect();
    namespaces.sort();
    namespaces.dedup();
    let loaded = super::read_view(&args.source, &needs_for(&namespaces), timeout)?;
    let world = match world_from_view(&loaded.view, &namespaces) {
        Ok(w) => w,
        Err(WorldError::Invalid(e)) => return Err(Failure::usage(e)),
        Err(WorldError::Gap(report)) => {
            let report = *report;
            eprintln!("error: cannot read the objects: {}", crate::redact::redact_text(&report.why_unchecked()));
            return Ok(crate::exit::INCOMPLETE);
        }
    };
    let verdict = evaluate(&world, &from, &to, &port, protocol).map_err(|e| {
        let hint = match &e {
            crate::netpol::EvalError::UnknownPod(_) => known_pods_hint(&world, &namespaces),
            _ => String::new(),
        };
        Failure::usage(format!("{e}{hint}"))
    })?;
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&verdict).unwrap_or_default()),
        OutputFormat::Text => print!("{}", render_text(&verdict, &from, &to, &args.port, protocol)),
    }
    Ok(crate::exit::APPROVED)
}

/// The pods the evaluator knows in the namespaces asked about, to correct a mistyped name.
fn known_pods_hint(world: &NetpolWorld, namespaces: &[String]) -> String {
    let pods: Vec<String> = world
        .pods()
        .iter()
        .filter(|p| namespaces.contains(&p.namespace))
        .map(|p| format!("{}/{}", p.namespace, p.name))
        .collect();
    if pods.is_empty() {
        format!(" (no pods or workloads in namespace(s) {})", namespaces.join(", "))
    } else {
        format!(" (known: {})", pods.join(", "))
    }
}

fn direction_line(name: &str, d: &crate::netpol::DirectionVerdict) -> String {
    let state = match (d.isolated, d.allowed) {
        (false, _) => "allowed (no policy isolates it)".to_string(),
        (true, true) => format!("allowed by {}", d.policies.join(", ")),
        (true, false) => format!("denied: isolated by {} and no rule matches", d.policies.join(", ")),
    };
    format!("  {name}: {state}\n")
}

pub fn render_text(v: &Verdict, from: &Endpoint, to: &Endpoint, port: &str, protocol: Protocol) -> String {
    let mut out = format!("{} {from} -> {to} {protocol}/{port}\n", if v.allowed { "ALLOWED" } else { "DENIED" });
    out.push_str(&direction_line("egress of the source", &v.egress));
    out.push_str(&direction_line("ingress of the destination", &v.ingress));
    out
}
