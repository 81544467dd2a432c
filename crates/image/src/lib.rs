//! Image security without I/O. An image (or an SBOM) becomes a [`tree::Tree`] of the files that
//! matter, the tree an inventory of [`package::Package`]s, and each package is matched against
//! OSV records with the version ordering of its ecosystem.
#![forbid(unsafe_code)]

pub mod cvss;
mod cvss4_table;
pub mod export;
pub mod inventory;
pub mod osv;
pub mod package;
pub mod purl;
pub mod report;
pub mod sbom;
pub mod summary;
pub mod tree;
pub mod version;
