//! The single-purpose commands beside `audit` (`pdb`, ...): each parses its own arguments,
//! reads its sources, prints, and returns an exit code.

pub mod explain;
pub mod merge;
pub mod netpol;
pub mod pdb;
pub mod rules;
pub mod secrets;
pub mod verify;

/// Why a command could not do its job, as one typed error that carries its exit code
/// (src/exit.rs): the user's input is wrong (2), or the gate itself failed (4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// A bad flag or argument.
    #[error("{0}")]
    Usage(String),
    /// The checklist or catalog is invalid (the diagnostics were printed).
    #[error("{0}")]
    Checklist(String),
    /// Manifests that cannot be read, a kubeconfig that cannot be used.
    #[error("{0}")]
    Source(String),
    /// A signing key or allowed-signers file that cannot be used: unreadable, not an OpenSSH key,
    /// an unsupported type, encrypted without a passphrase, a malformed line.
    #[error("{0}")]
    Key(String),
    /// A report whose signature is missing or does not verify, where one is required
    /// (`diff --require-signed`).
    #[error("{0}")]
    Signature(String),
    /// Reading or writing a file the command needs failed (reports, inputs).
    #[error("{0}")]
    Io(String),
    /// The gate itself could not run (a bug, or the runtime could not start).
    #[error("{0}")]
    Internal(String),
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure::Usage(message.into())
    }

    pub fn code(&self) -> i32 {
        match self {
            Failure::Usage(_)
            | Failure::Checklist(_)
            | Failure::Source(_)
            | Failure::Key(_)
            | Failure::Signature(_) => crate::exit::USAGE,
            Failure::Io(_) | Failure::Internal(_) => crate::exit::ERROR,
        }
    }
}

/// A runtime for commands that talk to the network.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    built(tokio::runtime::Builder::new_multi_thread())
}

fn built(mut builder: tokio::runtime::Builder) -> Result<tokio::runtime::Runtime, Failure> {
    builder.enable_all().build().map_err(|e| Failure::Internal(format!("cannot start the async runtime: {e}")))
}

/// Reads the cluster view a command needs: manifests alone (a pre-deploy look, no cluster
/// contacted) or the live cluster. Source problems are printed and end the command (exit 2).
pub fn read_view(
    source: &crate::cli::SourceArgs,
    needs: &[crate::cluster::Need],
    timeout: std::time::Duration,
) -> Result<crate::sources::LoadedView, Failure> {
    // Manifests alone: a pre-deploy look, no cluster contacted. A cluster named beside them would
    // be silently unread, so the mix is refused.
    if !source.manifests.is_empty() && (source.kubeconfig.is_some() || !source.context.is_empty()) {
        return Err(Failure::usage(
            "--manifests reads files only; drop --kubeconfig/--context, or drop --manifests to read the cluster",
        ));
    }
    let opts = source_options(source, !source.manifests.is_empty(), timeout)?;
    // Files alone need no worker threads (the loader uses the cores itself where the files are
    // big enough): a command on a few manifests then starts as fast as the process does.
    let rt = if opts.offline { built(tokio::runtime::Builder::new_current_thread())? } else { runtime()? };
    let deadline = timeout.max(std::time::Duration::from_secs(1));
    rt.block_on(crate::sources::load_view(needs, &opts, deadline)).map_err(|error| {
        // Manifest errors name the file and line, never the content.
        for line in error.details() {
            eprintln!("error: {}", crate::redact::redact_text(&line));
        }
        Failure::Source(error.summary())
    })
}

/// Validated source options from the command line: where objects come from and how to reach
/// the cluster.
pub fn source_options(
    source: &crate::cli::SourceArgs,
    offline: bool,
    read_timeout: std::time::Duration,
) -> Result<crate::sources::SourceOptions, Failure> {
    let connect_timeout = source.connect_timeout;
    if source.context.len() > 1 {
        return Err(Failure::usage(format!(
            "--context is given {} times; only `audit` reads several contexts (a fleet audit, docs/fleet.md)",
            source.context.len()
        )));
    }
    if source.page_size == 0 {
        return Err(Failure::usage("--page-size must be at least 1"));
    }
    Ok(crate::sources::SourceOptions {
        live: crate::cluster::live::LiveOptions {
            kubeconfig: source.kubeconfig.clone(),
            context: source.context.first().cloned(),
            connect_timeout,
            read_timeout,
            page_size: source.page_size,
        },
        manifests: source.manifests.clone(),
        manifest_namespace: source.manifest_namespace.clone(),
        offline,
    })
}
