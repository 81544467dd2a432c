//! The registry of built-in checks: one module per check, documentation beside it.

pub mod exposure;
pub mod image_ref;
pub mod images;

use crate::Check;

/// Every built-in check. Add new checks here.
pub static ALL: &[&dyn Check] = &[
    &images::image_tag_latest::ImageTagLatest,
    &exposure::service_external_ips::ServiceExternalIps,
];
