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
