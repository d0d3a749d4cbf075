//! The checklist and the check catalog: parsing (`checklist.toml`, `checks/*.toml`), validation
//! into types that cannot be wrong, and diagnostics that point at the line.

pub mod model;

pub use model::*;
