//! One module per subcommand.
pub mod audit;
pub mod checks;
pub mod cluster;
pub mod detect;
pub mod events;
pub mod falco;
pub mod history;
pub mod hubble;
pub mod image;
pub mod logs;
pub mod monitor;
pub mod netpol;
pub mod pss;
pub mod rbac;
pub mod resources;
pub mod scan;
pub mod webhook;
