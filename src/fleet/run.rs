//! `audit --context A --context B` / `--all-contexts`: one audit per context, concurrently, each
//! with its own client, discovery and view; then the fleet report (docs/fleet.md).

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{FLEET_JSON, FLEET_JUNIT, FLEET_MARKDOWN, FleetReport, Member, SignatureState, build, dir_name, render};
use crate::app::{AuditPlan, Failure, audit_cluster, terminal_width, write_outputs};

use crate::cli::AuditArgs;
use crate::cluster::live::{ConnectError, kubeconfig_contexts};
use crate::engine::Silent;
use crate::report::{Format, Styles, write::write_atomic};

/// The contexts a fleet audit reads: `--all-contexts` (every context of the kubeconfig, in file
/// order) or the `--context` values, each checked against the kubeconfig first so a typo is a
/// usage error (exit 2) rather than a cluster reported unreachable.
pub fn contexts(args: &AuditArgs) -> Result<Vec<String>, Failure> {
    let (known, _) = match kubeconfig_contexts(args.source.kubeconfig.as_deref()) {
        Ok(k) => k,
        Err(ConnectError::NoConfig) => {
            return Err(Failure::usage(
                "a fleet audit reads the contexts of a kubeconfig, and there is none: no --kubeconfig, no \
                 KUBECONFIG, no ~/.kube/config",
            ));
        }
        Err(e) => return Err(Failure::Source(e.to_string())),
    };
    if args.all_contexts {
        if known.is_empty() {
            return Err(Failure::usage("--all-contexts: the kubeconfig has no contexts"));
        }
        return Ok(known);
    }
    let mut chosen: Vec<String> = Vec::new();
    for c in &args.source.context {
        if chosen.contains(c) {
            return Err(Failure::usage(format!("--context {c:?} is given twice")));
        }
        if !known.contains(c) {
            let list = if known.is_empty() { "none".to_string() } else { known.join(", ") };
            return Err(Failure::usage(format!("--context {c:?}: no such context in the kubeconfig (it has: {list})")));
        }
        chosen.push(c.clone());
    }
    Ok(chosen)
}

/// Runs the fleet audit and writes the per-cluster reports and the fleet summary.
pub(crate) fn audit_fleet(args: &AuditArgs, plan: AuditPlan, styles: &Styles) -> Result<i32, Failure> {
    if args.offline {
        return Err(Failure::usage(
            "--offline reads no cluster: a fleet audit (--context twice, --all-contexts) needs them",
        ));
    }
    let names = contexts(args)?;
    let mut per_cluster = Vec::new();
    for name in &names {
        let mut source = args.source.clone();
        source.context = vec![name.clone()];
        per_cluster.push(crate::commands::source_options(&source, false, plan.item_timeout)?);
    }
    eprintln!("fleet audit of {} contexts: {}", names.len(), names.join(", "));

    let runtime = crate::commands::runtime()?;
    let results = runtime.block_on(async {
        let stop = CancellationToken::new();
        let stop_on_signal = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\ninterrupted: stopping probes in every cluster, cleaning up, writing what is known...");
                stop_on_signal.cancel();
            }
        });
        let audits = names.iter().zip(&per_cluster).map(|(name, opts)| {
            let (plan, stop) = (&plan, stop.clone());
            async move {
                let started = std::time::Instant::now();
                let result = audit_cluster(plan, opts, stop, Arc::new(Silent), true).await;
                if let Ok(a) = &result {
                    eprintln!(
                        "  [{name}] {} in {}",
                        a.report.decision.label(),
                        crate::report::text::duration(started.elapsed().as_millis() as u64)
                    );
                }
                result
            }
        });
        futures::future::join_all(audits).await
    });
    runtime.shutdown_timeout(Duration::from_secs(1));

    let mut audited = Vec::new();
    for result in results {
        match result {
            Ok(a) => audited.push(a),
            // Manifests are the same for every cluster: one bad file stops the whole audit (exit 2).
            Err(error) => {
                for line in error.details() {
                    eprintln!("error: {}", crate::redact::redact_text(&line));
                }
                return Err(Failure::Source(error.summary()));
            }
        }
    }

    let file_formats: Vec<Format> = plan.formats.iter().copied().filter(|f| *f != Format::Terminal).collect();
    let mut members = Vec::new();
    let mut dirs: Vec<String> = Vec::new();
    let mut written_all = Vec::new();
    for (name, a) in names.iter().zip(audited) {
        let dir = dir_name(name, &dirs);
        let (written, signed) =
            write_outputs(&a.report, &file_formats, &args.out_dir.join(&dir), plan.signing_key.as_ref())?;
        written_all.extend(written);
        if let Some(line) = signed {
            eprintln!("{line}");
        }
        let path = if file_formats.contains(&Format::Json) {
            format!("{dir}/{}", Format::Json.file_name().unwrap_or_default())
        } else {
            format!("{dir}/")
        };
        let signature = match &plan.signing_key {
            Some(key) if file_formats.contains(&Format::Json) => {
                SignatureState::SignedHere { fingerprint: key.fingerprint() }
            }
            _ => SignatureState::Unsigned,
        };
        dirs.push(dir);
        members.push(Member { name: name.clone(), report: a.report, path, signature });
        // Each cluster's view is dropped here, before the next is written.
        std::mem::drop(a.view);
    }
    let fleet = build(&members);
    written_all.extend(write_fleet(&fleet, &members, &plan.formats, &args.out_dir)?);
    if plan.formats.contains(&Format::Terminal) {
        let text = render::render_terminal(&fleet, styles, terminal_width());
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
    if args.log_json {
        for m in &members {
            crate::app::print_json_line(&m.report);
        }
    }
    for path in written_all {
        eprintln!("wrote {}", path.display());
    }
    Ok(fleet.exit_code)
}

/// Writes the fleet summary files of `formats` to `out_dir` (atomically, as the cluster reports).
pub fn write_fleet(
    fleet: &FleetReport,
    members: &[Member],
    formats: &[Format],
    out_dir: &Path,
) -> Result<Vec<std::path::PathBuf>, Failure> {
    let io = |e: std::io::Error| Failure::Io(format!("cannot write the fleet report to {}: {e}", out_dir.display()));
    std::fs::create_dir_all(out_dir).map_err(io)?;
    let mut written = Vec::new();
    for format in formats {
        let (name, contents) = match format {
            Format::Terminal => continue,
            Format::Markdown => (FLEET_MARKDOWN, render::render_markdown(fleet)),
            Format::Json => (FLEET_JSON, render::render_json(fleet)),
            Format::Junit => (
                FLEET_JUNIT,
                render::render_junit(fleet, members).map_err(|e| Failure::Internal(format!("fleet JUnit: {e}")))?,
            ),
        };
        let path = out_dir.join(name);
        write_atomic(&path, contents.as_bytes()).map_err(io)?;
        written.push(path);
    }
    Ok(written)
}
