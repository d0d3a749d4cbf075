//! The `kgents-gate` binary: install the crypto provider, set up logging, run, map to an exit code.

fn main() {
    // rustls needs one process-wide crypto provider; ring is the one every TLS client here uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::process::exit(kgents_gate::exit::USAGE);
}
