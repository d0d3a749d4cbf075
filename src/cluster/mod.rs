//! The cluster view: one read-only picture of the cluster (live API, manifest files, or both),
//! loaded once per audit and shared by every check.

pub mod kinds;
pub mod manifests;

pub use kinds::{Kind, Need, Scope};
