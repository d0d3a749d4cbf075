//! Command dispatch: validated options in, exit code out. The only place that prints results.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::civil::Date;
use tokio_util::sync::CancellationToken;

use crate::checklist::{self, ChecklistSource, Diagnostic, LoadOptions, Loaded};
use crate::cli::{AuditArgs, ChecklistArgs, Cli, ColorArg, Command, DiffFormat, SignersArgs};
use crate::cluster::rbac;
use crate::decide::{DecideInput, decide};
use crate::engine::{self, EngineOptions, Progress, Silent};
use crate::exit;
use crate::outcome::ProbeReport;
use crate::probe::{ProbeContext, new_run_id};
use crate::report::{self, ColorChoice, Format, Provenance, Styles};
use crate::sign::{KeySource, SigningKey};
use crate::sources::load_view;

pub use crate::commands::Failure;

pub fn run(cli: Cli) -> Result<i32, Failure> {
    let styles = Styles::resolve(color_choice(cli.color), std::io::stdout().is_terminal(), no_color());
    match cli.command {
        Command::Audit(args) => audit(args, &styles),
        Command::Validate(args) => validate(&args, &styles),
        Command::List(args) => list(&args),
        Command::Explain { id, checklist } => crate::commands::explain::run(&id, &checklist),
        Command::Schema { report, fleet } => {
            let schema = if report {
                report::json::report_json_schema()
            } else if fleet {
                crate::fleet::fleet_json_schema()
            } else {
                checklist::checklist_json_schema()
            };
            println!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
            Ok(exit::APPROVED)
        }
        Command::Diff { old, new, format, require_signed, signers } => {
            diff(&old, &new, format, require_signed.then_some(&signers))
        }
        Command::Verify(args) => crate::commands::verify::run(&args),
        Command::Merge(args) => crate::commands::merge::run(&args, &styles),
        Command::Rbac { checklist, only, name, bind } => rbac_cmd(&checklist, &only, &name, bind.as_deref()),
        Command::Pdb(args) => crate::commands::pdb::run(&args),
        Command::Secrets(args) => crate::commands::secrets::run(&args),
        Command::Netpol(args) => crate::commands::netpol::run(&args),
        Command::Rules(args) => crate::commands::rules::run(&args),
    }
}

fn color_choice(c: ColorArg) -> ColorChoice {
    match c {
        ColorArg::Auto => ColorChoice::Auto,
        ColorArg::Always => ColorChoice::Always,
        ColorArg::Never => ColorChoice::Never,
    }
}

fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

fn today(args: &ChecklistArgs) -> Result<Date, Failure> {
    match &args.today {
        Some(s) => s
            .parse::<Date>()
            .map_err(|e| Failure::usage(format!("invalid --today {s:?}: expected a date YYYY-MM-DD ({e})"))),
        None => Ok(jiff::ZonedDateTime::now().date()),
    }
}

/// Which checklist: `--checklist`, else ./checklist.toml, else the built-in one.
fn source(args: &ChecklistArgs) -> ChecklistSource {
    match &args.checklist {
        Some(p) => ChecklistSource::File(p.clone()),
        None if PathBuf::from("checklist.toml").is_file() => ChecklistSource::File(PathBuf::from("checklist.toml")),
        None => ChecklistSource::BuiltIn,
    }
}

fn print_diagnostics(diags: &[Diagnostic], color: bool) {
    let mut err = std::io::stderr().lock();
    for d in diags {
        let _ = writeln!(err, "{}", d.render(color));
    }
}

pub(crate) fn load(args: &ChecklistArgs, stderr_color: bool) -> Result<(Loaded, Date), Failure> {
    load_with(args, Vec::new(), stderr_color)
}

/// Loads the checklist with `--set` parameters laid over its items.
fn load_with(
    args: &ChecklistArgs,
    overrides: Vec<checklist::ParamOverride>,
    stderr_color: bool,
) -> Result<(Loaded, Date), Failure> {
    let today = today(args)?;
    let opts = LoadOptions { source: source(args), catalog_dir: args.catalog.clone(), today, overrides };
    match checklist::load(&opts) {
        Ok(loaded) => {
            print_diagnostics(&loaded.warnings, stderr_color);
            Ok((loaded, today))
        }
        Err(diags) => {
            print_diagnostics(&diags, stderr_color);
            let errors = diags.len();
            Err(Failure::Checklist(format!(
                "the checklist is invalid ({errors} problem{}); nothing was checked",
                if errors == 1 { "" } else { "s" }
            )))
        }
    }
}

fn stderr_color(styles: &Styles) -> bool {
    styles.is_colored() && std::io::stderr().is_terminal()
}

fn validate(args: &ChecklistArgs, styles: &Styles) -> Result<i32, Failure> {
    let (loaded, _) = load(args, stderr_color(styles))?;
    let c = &loaded.checklist;
    println!(
        "{}: valid ({} categories, {} items, {} waivers, {} checks in the catalog; sha256 {})",
        c.origin,
        c.categories.len(),
        c.items.len(),
        c.waivers.len(),
        c.catalog.len(),
        &c.sha256[..12.min(c.sha256.len())]
    );
    Ok(exit::APPROVED)
}

fn list(args: &ChecklistArgs) -> Result<i32, Failure> {
    let (loaded, _) = load(args, false)?;
    let c = &loaded.checklist;
    for cat in &c.categories {
        println!("{} ({})", cat.title, cat.id);
        for item in c.items.iter().filter(|i| i.category == cat.id) {
            let what =
                item.check().map_or("manual sign-off".to_string(), |d| format!("{} [{}]", d.id, d.probe.as_str()));
            println!("  {:<40} {:<9} {}", item.id, item.severity.as_str(), what);
            println!("      {}", item.title);
        }
    }
    Ok(exit::APPROVED)
}

/// `signed`: the allowed signers both reports must be signed by (`--require-signed`).
fn diff(old: &PathBuf, new: &PathBuf, format: DiffFormat, signed: Option<&SignersArgs>) -> Result<i32, Failure> {
    let read = |p: &PathBuf| -> Result<report::Report, Failure> {
        let bytes = match signed {
            Some(signers) => crate::commands::verify::require_signed(p, signers)?,
            None => {
                let bytes = std::fs::read(p).map_err(|e| Failure::Io(format!("cannot read {}: {e}", p.display())))?;
                if let Some(warning) = crate::commands::verify::tamper_warning(p, &bytes) {
                    eprintln!("{warning}");
                }
                bytes
            }
        };
        let text = String::from_utf8(bytes).map_err(|_| Failure::usage(format!("{}: not UTF-8 text", p.display())))?;
        report::json::parse_json(&text).map_err(|e| Failure::usage(format!("{}: {e}", p.display())))
    };
    let (a, b) = (read(old)?, read(new)?);
    let d = crate::diff::diff(&a, &b);
    match format {
        DiffFormat::Text => print!("{}", crate::diff::render_diff(&d)),
        DiffFormat::Json => println!("{}", serde_json::to_string_pretty(&d).unwrap_or_default()),
    }
    Ok(if d.has_new_blocking_failure() { exit::BLOCKED } else { exit::APPROVED })
}

/// Live progress on stderr, only when stderr is a terminal.
struct TtyProgress {
    total: AtomicUsize,
    done: AtomicUsize,
    out: Mutex<std::io::Stderr>,
}

impl Progress for TtyProgress {
    fn started(&self, total: usize) {
        self.total.store(total, Ordering::SeqCst);
    }
    fn finished(&self, item_id: &str, report: &ProbeReport) {
        let n = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        let state = if report.worst_level() == Some(crate::outcome::Level::Error) {
            "findings"
        } else if !report.gaps().is_empty() {
            "unverified"
        } else if report.skip_reason().is_some() {
            "skipped"
        } else if report.worst_level() == Some(crate::outcome::Level::Warning) {
            "findings"
        } else {
            "ok"
        };
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "  [{n}/{}] {item_id}: {state}", self.total.load(Ordering::SeqCst));
        }
    }
}

/// What every cluster of an audit shares: the checklist and the options, never a client, a
/// discovery cache or a view (docs/fleet.md).
pub(crate) struct AuditPlan {
    pub checklist: crate::checklist::Checklist,
    pub selected: Vec<String>,
    pub needs: Vec<crate::cluster::Need>,
    pub today: Date,
    pub today_overridden: bool,
    pub strict: bool,
    pub global_timeout: Duration,
    pub item_timeout: Duration,
    /// The one deadline of the audit (docs/decision.md): connecting, listing and the checks of
    /// every cluster run against it.
    pub deadline: tokio::time::Instant,
    pub context: ProbeContext,
    pub formats: Vec<Format>,
    pub signing_key: Option<SigningKey>,
    /// The `--set ITEM.PARAM` keys (never their values), named in the report's notes.
    pub set_keys: Vec<String>,
}

/// One cluster's audit, decided.
pub(crate) struct ClusterAudit {
    pub report: report::Report,
    pub view: Option<Arc<crate::cluster::ClusterView>>,
}

fn audit(args: AuditArgs, styles: &Styles) -> Result<i32, Failure> {
    let t0 = Instant::now();
    let plan = plan(&args, styles, t0)?;
    if args.all_contexts || args.source.context.len() > 1 {
        return crate::fleet::run::audit_fleet(&args, plan, styles);
    }
    let source_opts = crate::commands::source_options(&args.source, args.offline, plan.item_timeout)?;
    let progress: Arc<dyn Progress> = if std::io::stderr().is_terminal() {
        Arc::new(TtyProgress {
            total: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            out: Mutex::new(std::io::stderr()),
        })
    } else {
        Arc::new(Silent)
    };

    let runtime = crate::commands::runtime()?;
    let result = runtime.block_on(async {
        let stop = CancellationToken::new();
        let stop_on_signal = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\ninterrupted: stopping probes, cleaning up, writing what is known...");
                stop_on_signal.cancel();
            }
        });
        audit_cluster(&plan, &source_opts, stop, progress, false).await
    });
    // Do not wait for blocking tasks that may still hang on a dead endpoint.
    runtime.shutdown_timeout(Duration::from_secs(1));
    let audited = match result {
        Ok(r) => r,
        Err(error) => {
            for line in error.details() {
                eprintln!("error: {}", crate::redact::redact_text(&line));
            }
            return Err(Failure::Source(error.summary()));
        }
    };
    let report = audited.report;

    // Files first: whatever happens to the terminal afterwards, the reports exist.
    let (written, signed) = write_outputs(&report, &plan.formats, &args.out_dir, plan.signing_key.as_ref())?;
    if plan.formats.contains(&Format::Terminal) {
        let width = terminal_width();
        let _ = std::io::stdout().lock().write_all(report::render_terminal(&report, styles, width).as_bytes());
    }
    if args.log_json {
        print_json_line(&report);
    }
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    if let Some(line) = signed {
        eprintln!("{line}");
    }
    // The process ends here: freeing a large view and report object by object is wasted time.
    let code = report.exit_code;
    std::mem::forget(report);
    std::mem::forget(audited.view);
    std::mem::forget(plan);
    Ok(code)
}

/// The report as one JSON line on stdout (`--log-json`): the same value as the JSON file.
pub(crate) fn print_json_line(report: &report::Report) {
    if let Ok(line) = serde_json::to_string(report) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Everything decided before any cluster is read: formats, the signing key, the checklist, the
/// selection, the deadline. Bad input ends the audit here (exit 2), before anything is checked.
fn plan(args: &AuditArgs, styles: &Styles, t0: Instant) -> Result<AuditPlan, Failure> {
    let mut formats = Vec::new();
    for f in &args.format {
        if !formats.contains(f) {
            formats.push(*f);
        }
    }
    // A key that cannot be used ends the audit before anything is checked (exit 2).
    let signing_key = signing_key(args, &formats)?;
    let (global_timeout, item_timeout) = (args.timeout, args.item_timeout);
    // The one deadline of the audit (docs/decision.md): connecting, listing and the checks all
    // run against it.
    let deadline = tokio::time::Instant::from_std(t0 + global_timeout);
    let overrides: Vec<checklist::ParamOverride> = args
        .set
        .iter()
        .map(|s| checklist::ParamOverride::parse(s))
        .collect::<Result<_, _>>()
        .map_err(Failure::usage)?;
    let set_keys: Vec<String> = overrides.iter().map(|o| format!("{}.{}", o.item, o.key)).collect();
    let (loaded, today) = load_with(&args.checklist, overrides, stderr_color(styles))?;
    let checklist = loaded.checklist;

    let selected = select(&checklist, &args.only)?;
    let needs = checklist.needs(&selected);

    let base_dir = match &checklist.origin {
        o if o.starts_with('<') => std::env::current_dir().unwrap_or_default(),
        o => PathBuf::from(o)
            .parent()
            .map(PathBuf::from)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let baseline = match &args.baseline {
        None => None,
        Some(path) => Some(Arc::new(crate::slo::Baseline::read(path).map_err(Failure::usage)?)),
    };
    let context = ProbeContext {
        today,
        base_dir,
        timeout: item_timeout,
        offline: args.offline,
        no_live: args.no_live,
        run_id: new_run_id(),
        cancel: CancellationToken::new(),
        view: None,
        live: None,
        settle: args.settle,
        item_id: String::new(),
        baseline,
        shared: std::sync::Arc::new(crate::probe::Shared::until(deadline)),
    };
    Ok(AuditPlan {
        checklist,
        selected,
        needs,
        today,
        today_overridden: args.checklist.today.is_some(),
        strict: args.strict,
        global_timeout,
        item_timeout,
        deadline,
        context,
        formats,
        signing_key,
        set_keys,
    })
}

/// Reads one cluster (its own client, discovery and view) and runs the checks against it.
/// `stop` is cancelled on Ctrl-C. Each call gets a fresh run id and cancellation token, so
/// probe pods and scratch keys of one cluster are never mistaken for another's.
pub(crate) async fn audit_cluster(
    plan: &AuditPlan,
    source_opts: &crate::sources::SourceOptions,
    stop: CancellationToken,
    progress: Arc<dyn Progress>,
    fleet: bool,
) -> Result<ClusterAudit, crate::sources::SourceError> {
    let started_at = jiff::Timestamp::now();
    let t0 = Instant::now();
    let budget = plan.deadline.saturating_duration_since(tokio::time::Instant::now());
    let loaded = match load_view(&plan.needs, source_opts, budget).await {
        Ok(l) => l,
        // In a fleet, one context that cannot be used is that cluster unseen (INCOMPLETE), never
        // a reason to drop the others (docs/fleet.md).
        Err(crate::sources::SourceError::Kubeconfig(reason)) if fleet => crate::sources::LoadedView {
            view: Arc::new(crate::sources::gap_view(
                &plan.needs,
                &format!("the kubeconfig cannot be used for this context: {reason}"),
            )),
            notes: Vec::new(),
            live: None,
        },
        Err(e) => return Err(e),
    };
    let mut context = plan.context.clone();
    context.run_id = new_run_id();
    context.cancel = CancellationToken::new();
    // Each cluster gets its own shared probe state (scratch namespace, watches, canary).
    context.shared = Arc::new(crate::probe::Shared::until(plan.deadline));
    context.view = Some(loaded.view);
    context.live = loaded.live;
    let opts = EngineOptions {
        global_timeout: plan.global_timeout,
        deadline: plan.deadline,
        item_timeout: plan.item_timeout,
        context,
    };
    let result = engine::run(&plan.checklist, &plan.selected, &opts, stop, progress).await;
    let view = opts.context.view.clone();
    let provenance = Provenance {
        checklist: plan.checklist.origin.clone(),
        checklist_sha256: plan.checklist.sha256.clone(),
        started_at: started_at.to_string(),
        duration_ms: t0.elapsed().as_millis() as u64,
        today: plan.today.to_string(),
        today_overridden: plan.today_overridden,
        cluster: view.as_ref().and_then(|v| v.cluster.clone()),
        manifests: view.as_ref().map(|v| v.manifest_files.clone()).unwrap_or_default(),
        interrupted: result.interrupted.is_some(),
        images: view.as_deref().map(crate::cluster::images::images_judged).unwrap_or_default(),
    };
    let mut report = decide(DecideInput {
        checklist: &plan.checklist,
        selected: &plan.selected,
        runs: &result.items,
        today: plan.today,
        strict: plan.strict,
        provenance,
    });
    report.notes.splice(0..0, loaded.notes);
    if !plan.set_keys.is_empty() {
        // The keys only: a value may be a credential-bearing URL.
        report.notes.push(format!(
            "parameters set on the command line (not covered by the checklist's sha256): {}",
            plan.set_keys.join(", ")
        ));
    }
    if !result.left_behind.is_empty() {
        report.notes.push(format!("live cleanup failed, left behind: {}", result.left_behind.join(", ")));
    }
    std::mem::forget(opts);
    Ok(ClusterAudit { report, view })
}

/// Writes the report files of `formats` to `out_dir` and, with a key, signs the JSON report.
/// Returns the paths written and the line saying what was signed.
pub(crate) fn write_outputs(
    report: &report::Report,
    formats: &[Format],
    out_dir: &std::path::Path,
    signing_key: Option<&SigningKey>,
) -> Result<(Vec<PathBuf>, Option<String>), Failure> {
    let mut written = report::write_reports(report, formats, out_dir)
        .map_err(|e| Failure::Io(format!("cannot write reports to {}: {e}", out_dir.display())))?;
    let mut signed = None;
    if let Some(name) = formats.contains(&Format::Json).then_some(Format::Json.file_name()).flatten() {
        let json_path = out_dir.join(name);
        match signing_key {
            // render_json is deterministic: these are the bytes just written.
            Some(key) => {
                let bytes = report::render_json(report);
                written.extend(crate::sign::sign_report(key, report, bytes.as_bytes(), &json_path)?);
                signed = Some(format!(
                    "signed {} with {} key {}",
                    json_path.display(),
                    key.public_key().algorithm(),
                    key.fingerprint()
                ));
            }
            None => {
                for stale in crate::sign::remove_stale(&json_path)? {
                    eprintln!("removed {} (of an earlier signed report)", stale.display());
                }
            }
        }
    }
    Ok((written, signed))
}

/// The key of `--sign KEY` / `--sign-env VAR`, loaded and decrypted; None when not signing.
fn signing_key(args: &AuditArgs, formats: &[Format]) -> Result<Option<SigningKey>, Failure> {
    let source = match (&args.sign, &args.sign_env) {
        (Some(path), _) => KeySource::File(path.clone()),
        (None, Some(var)) => KeySource::Env(var.clone()),
        (None, None) if args.sign_passphrase_env.is_some() => {
            return Err(Failure::usage("--sign-passphrase-env needs --sign KEY or --sign-env VAR"));
        }
        (None, None) => return Ok(None),
    };
    if !formats.contains(&Format::Json) {
        return Err(Failure::usage("--sign signs the JSON report: add json to --format"));
    }
    SigningKey::load(&source, args.sign_passphrase_env.as_deref()).map(Some)
}

/// Terminal width from COLUMNS, else 80 (the layout is designed for 80 columns).
pub(crate) fn terminal_width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|w: &usize| *w >= 40).unwrap_or(80)
}

/// Item ids selected by `--only` (item ids or category ids); every item when empty.
fn select(checklist: &crate::checklist::Checklist, only: &[String]) -> Result<Vec<String>, Failure> {
    if only.is_empty() {
        return Ok(checklist.items.iter().map(|i| i.id.clone()).collect());
    }
    let mut selected = Vec::new();
    for want in only {
        let matched: Vec<String> =
            checklist.items.iter().filter(|i| &i.id == want || &i.category == want).map(|i| i.id.clone()).collect();
        if matched.is_empty() {
            return Err(Failure::usage(format!("--only {want:?} matches no item id and no category id")));
        }
        for m in matched {
            if !selected.contains(&m) {
                selected.push(m);
            }
        }
    }
    Ok(selected)
}

fn rbac_cmd(args: &ChecklistArgs, only: &[String], name: &str, bind: Option<&str>) -> Result<i32, Failure> {
    let (loaded, _) = load(args, false)?;
    let checklist = loaded.checklist;
    let selected = select(&checklist, only)?;
    let needs = checklist.needs(&selected);
    let grants: Vec<rbac::Grant> = checklist
        .items
        .iter()
        .filter(|i| selected.contains(&i.id))
        .flat_map(|i| match &i.kind {
            crate::checklist::ItemKind::Check { spec, .. } => spec.grants(),
            crate::checklist::ItemKind::Manual { .. } => Vec::new(),
        })
        .collect();
    let yaml = rbac::least_privilege_yaml(name, &needs, &grants);
    // Checks that read no Kubernetes object still belong in the answer: say so, so nobody looks
    // for a missing permission when they are unverified.
    let direct: Vec<String> = checklist
        .items
        .iter()
        .filter(|i| selected.contains(&i.id))
        .filter_map(|i| match &i.kind {
            crate::checklist::ItemKind::Check { spec, .. }
                if spec.needs().is_empty() && spec.grants().is_empty() && spec.kind().needs_live() =>
            {
                Some(format!(
                    "# {} ({}) needs no Kubernetes permission: it asks its endpoint directly.\n",
                    i.id,
                    spec.kind().as_str()
                ))
            }
            _ => None,
        })
        .collect();
    match yaml.split_once("---\n") {
        Some((header, rest)) if !direct.is_empty() => print!("{header}{}---\n{rest}", direct.concat()),
        _ => print!("{yaml}"),
    }
    if let Some(b) = bind {
        let subject = rbac::Subject::parse(b).map_err(Failure::usage)?;
        print!("{}", rbac::bindings_yaml(name, &needs, &grants, &subject));
    }
    Ok(exit::APPROVED)
}
