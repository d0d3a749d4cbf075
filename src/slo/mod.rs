//! Service-level objectives against a running Prometheus (`prometheus-slo`): PromQL objectives
//! with bounds, warning thresholds, key objectives, weights and Keptn's total score, repeated
//! samples, range lookback, and regression against the values an earlier report recorded.

pub mod baseline;
pub mod judge;
pub mod params;

pub use baseline::Baseline;
pub use params::SloParams;

#[cfg(test)]
mod tests;
