//! kgents-gate: a production-readiness checker and launch gate for Kubernetes.
//!
//! Data flows one way: checklist -> validated `Checklist`; sources -> cluster view;
//! engine runs the probes -> findings; `decide` -> immutable `Report`; renderers -> files.

pub mod app;
pub mod checklist;
pub mod cli;
pub mod cluster;
pub mod codes;
pub mod commands;
pub mod decide;
pub mod diff;
pub mod engine;
pub mod exit;
pub mod fleet;
pub mod hpa;
pub mod netpol;
pub mod outcome;
pub mod pdb;
pub mod podsec;
pub mod probe;
pub mod prometheus;
pub mod redact;
pub mod report;
pub mod rules;
pub mod scan;
pub mod secrets;
pub mod selector;
pub mod sign;
pub mod slo;
pub mod sources;
pub mod workload;
