//! The `kgents-gate` binary: install the crypto provider, set up logging, run, map to an exit code.

use clap::Parser;

/// Allocation is a large part of reading big clusters; mimalloc does it several times faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // rustls needs one process-wide crypto provider; ring is the one every TLS client here uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Like other Unix tools, end quietly when stdout is a closed pipe (`kgents-gate list | head`)
    // instead of panicking on the failed write. Reports are written before anything is printed.
    // SAFETY: setting a signal disposition to SIG_DFL at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = kgents_gate::cli::Cli::parse();
    init_tracing(cli.verbose);
    let code = match kgents_gate::app::run(cli) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {}", kgents_gate::redact::redact_text(&failure.to_string()));
            failure.code()
        }
    };
    std::process::exit(code);
}

/// Logs go to stderr; `-v` raises the level, `RUST_LOG` overrides it.
fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("kgents_gate={level}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| kgents_gate::redact::RedactingWriter::new(std::io::stderr()))
        .with_target(false)
        .init();
}
