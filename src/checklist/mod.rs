//! The checklist and the check catalog: parsing (`checklist.toml`, `checks/*.toml`), validation
//! into types that cannot be wrong, and diagnostics that point at the line.

pub mod diagnostic;
mod load;
pub mod model;
mod raw;
mod schema;
mod spanned;
mod validate;

pub use diagnostic::{DiagLevel, Diagnostic, SourceFile, did_you_mean};
pub use load::{
    BUILT_IN_CATALOG, BUILT_IN_CHECKLIST, BUILT_IN_ORIGIN, ChecklistSource, LoadOptions, Loaded, ParamOverride,
    catalog_dir_for, load, load_from_strs,
};
pub use model::*;
pub use schema::checklist_json_schema;
