//! Command-line arguments as parsed (raw values). `app` turns them into validated options.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::Format;

/// `--timeout 5m`: a duration as the checklist writes them (ms, s, m, h, d), above zero.
pub fn duration_arg(s: &str) -> Result<Duration, String> {
    let d = crate::probe::params::parse_duration(s)?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

/// `--format terminal,json`: one or more report formats (repeatable or comma-separated).
pub fn format_arg(s: &str) -> Result<Format, String> {
    s.parse::<Format>().map_err(|e| e.to_string())
}

#[derive(Debug, Parser)]
#[command(
    name = "kgents-gate",
    version,
    about = "Production-readiness checker and launch gate for Kubernetes",
    long_about = "Runs a launch checklist stored as data against a cluster and its services, and ends in a \
go/no-go report (terminal, Markdown, JSON, JUnit XML).\n\nExit codes: 0 approved (with or without waivers), \
1 blocked, 2 usage or checklist error, 3 incomplete (a blocking item could not be verified), 4 the gate \
itself failed. A fleet audit (`audit --context A --context B`, `--all-contexts`) and `merge` exit with \
the worst cluster's code (docs/fleet.md).\n\nSigned approvals: `audit --sign KEY` writes an SSH signature of the JSON report and an \
in-toto attestation beside it; `verify` checks both (docs/signing.md)."
)]
pub struct Cli {
    /// When to use colours in terminal output (NO_COLOR is honoured with `auto`).
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
    /// More log output on stderr (-v info, -vv debug, -vvv trace). Secret values are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the checklist and write the launch report.
    Audit(AuditArgs),
    /// Check the checklist and catalog without touching a cluster.
    Validate(ChecklistArgs),
    /// List the items of the checklist and what each checks.
    List(ChecklistArgs),
    /// Explain a check or an item: what it verifies, why, the remediation, what it reads.
    Explain {
        /// A check id from the catalog (e.g. `docs.file`) or an item id from the checklist.
        id: String,
        #[command(flatten)]
        checklist: ChecklistArgs,
    },
    /// Print a JSON Schema: of the checklist (default), of the JSON report, or of the fleet report.
    Schema {
        /// The JSON report's schema instead of the checklist's.
        #[arg(long, conflicts_with = "fleet")]
        report: bool,
        /// The fleet report's schema (kgents-gate-fleet.json).
        #[arg(long)]
        fleet: bool,
    },
    /// The observed (live) or computed (manifests) status of each PodDisruptionBudget, with findings.
    Pdb(crate::commands::pdb::PdbArgs),
    /// Secret hygiene on its own: `secrets scan` of the live cluster or of manifests.
    Secrets(crate::commands::secrets::SecretsArgs),
    /// The static NetworkPolicy evaluator: `netpol eval --from NS/POD --to NS/POD --port P`.
    Netpol(crate::commands::netpol::NetpolArgs),
    /// Check Prometheus rule files, rule ConfigMaps and PrometheusRule manifests (`rules check PATH...`).
    Rules(crate::commands::rules::RulesArgs),
    /// Print the least-privilege Role/ClusterRole YAML the selected checks need.
    Rbac {
        #[command(flatten)]
        checklist: ChecklistArgs,
        /// Only these items or categories (as for `audit --only`).
        #[arg(long, value_name = "ID|CATEGORY", value_delimiter = ',')]
        only: Vec<String>,
        /// Name of the roles.
        #[arg(long, default_value = "kgents-gate")]
        name: String,
        /// Also print bindings to this subject: user:NAME or serviceaccount:NS/NAME.
        #[arg(long, value_name = "SUBJECT")]
        bind: Option<String>,
    },
    /// Compare two JSON reports; exits 1 when a new blocking failure appears.
    Diff {
        old: PathBuf,
        new: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
        /// Refuse (exit 2) unless both reports carry a good signature (REPORT.json.sig) by a key
        /// in --allowed-signers.
        #[arg(long, requires = "allowed_signers")]
        require_signed: bool,
        #[command(flatten)]
        signers: SignersArgs,
    },
    /// Build the fleet report from cluster reports written elsewhere (one audit per cluster),
    /// checking their signatures; exits with the worst cluster's code.
    Merge(crate::commands::merge::MergeArgs),
    /// Check a signed report and its attestation; exit 0 only when both verify and the decision
    /// is APPROVED or APPROVED WITH WAIVERS.
    Verify(crate::commands::verify::VerifyArgs),
}

/// Whose signatures are trusted: an `ssh-keygen -Y verify` allowed-signers file.
#[derive(Debug, Clone, Args)]
pub struct SignersArgs {
    /// The allowed signers file (ssh-keygen(1), ALLOWED SIGNERS): `principals [options] key`.
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
    /// The signer must be this principal (as `ssh-keygen -Y verify -I NAME`); default: any
    /// principal the file lists for the key.
    #[arg(long, value_name = "NAME", requires = "allowed_signers")]
    pub identity: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ChecklistArgs {
    /// The checklist file. Default: ./checklist.toml if present, else the built-in checklist.
    #[arg(long, value_name = "PATH")]
    pub checklist: Option<PathBuf>,
    /// The check catalog directory. Default: checks/ beside the checklist if present, else built-in.
    #[arg(long, value_name = "DIR")]
    pub catalog: Option<PathBuf>,
    /// Judge waivers and sign-offs as of this date (YYYY-MM-DD) instead of today.
    #[arg(long, value_name = "DATE", hide = true, env = "KGENTS_GATE_TODAY")]
    pub today: Option<String>,
}

/// Where Kubernetes objects come from: a live cluster (like kubectl), manifest files, or both.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Kubeconfig file (default: KUBECONFIG, which may list several files, then ~/.kube/config,
    /// then the in-cluster service account).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use instead of the current one. `audit` takes it more than once: a
    /// fleet audit, one audit per context (docs/fleet.md).
    #[arg(long, value_name = "NAME")]
    pub context: Vec<String>,
    /// Manifest files or directories (YAML/JSON, multi-document, List kinds). Repeatable.
    /// Alone with --offline: a pre-deploy audit; with a cluster: overlaid on the live view.
    #[arg(long, value_name = "PATH")]
    pub manifests: Vec<PathBuf>,
    /// Namespace for manifest objects that name none.
    #[arg(long, value_name = "NS", default_value = "default")]
    pub manifest_namespace: String,
    /// Objects per LIST page when reading the live cluster.
    #[arg(long, value_name = "N", default_value_t = 500, hide = true)]
    pub page_size: u32,
    /// Connect timeout for the API server.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration_arg)]
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub checklist: ChecklistArgs,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Run only these items or categories (repeatable or comma-separated).
    #[arg(long, value_name = "ID|CATEGORY", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Set one parameter of an item, as in its [item.with] (repeatable), e.g.
    /// `--set resources.nats-cluster.url=nats://10.96.0.7:4222`. VALUE is read as TOML when it is
    /// (4222, true, ["a"], "quoted"), else as a string; it is validated like the checklist's.
    #[arg(long = "set", value_name = "ITEM.PARAM=VALUE")]
    pub set: Vec<String>,
    /// Report formats to produce: terminal, markdown, json, junit (comma-separated).
    #[arg(long, value_name = "FORMATS", value_delimiter = ',', default_value = "terminal,markdown,json,junit", value_parser = format_arg)]
    pub format: Vec<Format>,
    /// Where report files are written.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out_dir: PathBuf,
    /// Also print the JSON report on stdout as one line, after the terminal report, for log
    /// collectors (a fleet audit prints one line per cluster). Secrets are redacted as in the file.
    #[arg(long)]
    pub log_json: bool,
    /// Wall time of the whole audit (connecting, listing and every check), e.g. 5m. Checks still
    /// running then are cut off (unverified) and get 10 s to clean up their probe pods and keys.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration_arg)]
    pub timeout: Duration,
    /// Timeout of each check unless the checklist sets one, e.g. 30s; always within --timeout.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration_arg)]
    pub item_timeout: Duration,
    /// A fleet audit of every context of the kubeconfig (docs/fleet.md).
    #[arg(long, conflicts_with = "context")]
    pub all_contexts: bool,
    /// Treat warnings as blocking failures.
    #[arg(long)]
    pub strict: bool,
    /// Touch no cluster and no endpoint: live checks are reported unverified (offline).
    #[arg(long)]
    pub offline: bool,
    /// Create no probe pods (live network checks become static only).
    #[arg(long)]
    pub no_live: bool,
    /// Wait up to this long for workloads mid-rollout to settle, re-reading them, instead of
    /// reporting them unverified, e.g. 2m. Bounded by the item timeout.
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    pub settle: Option<Duration>,
    /// Sign the JSON report with this OpenSSH private key (ed25519 or ECDSA): writes
    /// kgents-gate-report.json.sig and kgents-gate-attestation.json beside it.
    #[arg(long, value_name = "KEY", conflicts_with = "sign_env")]
    pub sign: Option<PathBuf>,
    /// Sign with the OpenSSH private key held in this environment variable (a CI secret).
    #[arg(long, value_name = "VAR")]
    pub sign_env: Option<String>,
    /// The environment variable holding the passphrase of an encrypted signing key (never prompted).
    #[arg(long, value_name = "VAR")]
    pub sign_passphrase_env: Option<String>,
    /// An earlier JSON report whose recorded values the SLO objectives with `max_regression` are
    /// compared with (replaces an item's own `baseline`).
    #[arg(long, value_name = "OLD.json")]
    pub baseline: Option<PathBuf>,
}
