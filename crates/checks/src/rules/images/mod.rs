pub mod image_not_pinned_by_digest;
pub mod image_pull_policy_mutable_tag;
pub mod image_registry_not_allowed;
pub mod image_tag_latest;
pub mod image_vulnerable;
