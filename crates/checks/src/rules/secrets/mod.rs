//! Secrets hygiene (issue 17 point 4): Secrets nothing references, encryption at rest.

pub mod encryption_config_weak;
pub mod secret_not_rotated;
pub mod secret_unreferenced;
