//! kgents-gate: a production-readiness checker and launch gate for Kubernetes.
//!
//! Data flows one way: checklist -> validated `Checklist`; sources -> cluster view;
//! engine runs the probes -> findings; `decide` -> immutable `Report`; renderers -> files.

pub mod checklist;
pub mod exit;
pub mod outcome;
pub mod probe;
pub mod report;
pub mod secrets;
pub mod selector;
