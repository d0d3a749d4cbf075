//! The single-purpose commands beside `audit` (`pdb`, ...): each parses its own arguments,
//! reads its sources, prints, and returns an exit code.

pub mod netpol;
pub mod pdb;
pub mod rules;
pub mod secrets;

/// A failure that ends a command with a message and an exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure { code: crate::exit::USAGE, message: message.into() }
    }
}

/// A runtime for commands that talk to the network.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start the async runtime: {e}")))
}

/// Reads the cluster view a command needs: manifests alone (a pre-deploy look, no cluster
/// contacted) or the live cluster. Source problems are printed and end the command (exit 2).
pub fn read_view(
    source: &crate::cli::SourceArgs,
    needs: &[crate::cluster::Need],
    timeout: std::time::Duration,
) -> Result<crate::sources::LoadedView, Failure> {
    // Manifests alone: a pre-deploy look, no cluster contacted.
    let opts = source_options(source, !source.manifests.is_empty(), timeout)?;
    let rt = runtime()?;
    let deadline = timeout.max(std::time::Duration::from_secs(1));
    rt.block_on(crate::sources::load_view(needs, &opts, deadline)).map_err(|error| {
        // Manifest errors name the file and line, never the content.
        for line in error.details() {
            eprintln!("error: {line}");
        }
        Failure::usage(error.summary())
    })
}

/// Validated source options from the command line: where objects come from and how to reach
/// the cluster.
pub fn source_options(
    source: &crate::cli::SourceArgs,
    offline: bool,
    read_timeout: std::time::Duration,
) -> Result<crate::sources::SourceOptions, Failure> {
    let connect_timeout = crate::probe::params::parse_duration(&source.connect_timeout)
        .map_err(|e| Failure::usage(format!("--connect-timeout: {e}")))?;
    if source.page_size == 0 {
        return Err(Failure::usage("--page-size must be at least 1"));
    }
    Ok(crate::sources::SourceOptions {
        live: crate::cluster::live::LiveOptions {
            kubeconfig: source.kubeconfig.clone(),
            context: source.context.clone(),
            connect_timeout,
            read_timeout,
            page_size: source.page_size,
        },
        manifests: source.manifests.clone(),
        manifest_namespace: source.manifest_namespace.clone(),
        offline,
    })
}
