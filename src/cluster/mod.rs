//! The cluster view: one read-only picture of the cluster (live API, manifest files, or both),
//! loaded once per audit and shared by every check.

pub mod field;
pub mod images;
pub mod kinds;
pub mod live;
pub mod manifests;
pub mod rbac;
pub mod view;
pub mod yaml;

pub use kinds::{Kind, Need, Scope};
pub use view::{ClusterView, Gap, KindData, object_ref};
