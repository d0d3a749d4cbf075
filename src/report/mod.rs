//! The report value and its renderers (terminal, Markdown, JSON, JUnit XML), each a pure
//! function of one immutable `Report`.

pub mod json;
pub mod junit;
pub(crate) mod layout;
pub mod markdown;
pub mod model;
mod styles;
pub mod terminal;
pub(crate) mod text;
pub mod write;

pub use json::{ParseReportError, parse_json, render_json, report_json_schema};
pub use junit::render_junit;
pub use markdown::render_markdown;
pub use model::*;
pub use terminal::{ColorChoice, Styles, render_terminal};
pub use write::{Format, write_reports};
