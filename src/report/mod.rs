//! The report value and its renderers (terminal, Markdown, JSON, JUnit XML), each a pure
//! function of one immutable `Report`.

pub mod model;

pub use model::*;
