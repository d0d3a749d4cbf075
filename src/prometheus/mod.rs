//! Talking to a running Prometheus, shared by every check that reads one (alert rules, SLOs):
//! the `prometheus_url` and credential parameters, the HTTP API client and its typed answers.

pub mod api;
pub mod auth;
pub mod client;
pub mod exposition;
pub mod params;
pub mod promql;
pub mod scrape;

pub use auth::{Auth, AuthSpec, Secret};
pub use client::{PromApiError, PrometheusClient, PrometheusEndpoint};
pub use params::{PrometheusParams, PrometheusRead};
