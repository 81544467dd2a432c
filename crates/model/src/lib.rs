//! kubevigil's object model: the inventory of Kubernetes objects with source spans, the
//! pod-template accessor shared by every workload check, and the finding model.
//!
//! Pure: the only I/O is in [`load`], which reads files and stdin into an [`Inventory`].

pub mod finding;
pub mod json_skip;
mod libyaml;
pub mod load;
pub mod object;
pub mod span;
pub mod store;
pub mod swar;
pub mod text;
pub mod time;
pub mod workload;
pub mod yaml;

pub use finding::{Finding, Location, ObjectRef, Ref, Reference, Severity};
pub use load::{DiagLevel, Diagnostic, Identity, LoadOptions, Loaded, load_paths};
pub use object::{Inventory, Object, ObjectKey, Objects, Origin, Source};
pub use span::{FieldPath, Pos, Seg, SpanNode, Spans};
pub use store::{Change, Store};
pub use text::{Escaped, escape_controls};
pub use workload::{
    ContainerKind, ContainerRef, PodTemplate, container_list, is_cluster_scoped_kind,
    is_workload_kind, pod_template, pod_template_value, spec_containers, workload_kind_of_resource,
};
