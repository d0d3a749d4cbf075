//! The `kgents-gate` binary: install the crypto provider, set up logging, run, map to an exit code.

use clap::Parser;

/// Allocation is a large part of reading big clusters; mimalloc does it several times faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (the version libmimalloc-sys builds by
/// default; its crate exports no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // Freed memory goes back to the OS after 10 ms by default: reading a big cluster frees and
    // allocates hundreds of MB in waves, and the kernel then zeroed the same huge pages again
    // and again (a third of the CPU time of a 50,000-pod audit). A second keeps them for reuse.
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000);
    }
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
