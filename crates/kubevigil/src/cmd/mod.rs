//! One module per subcommand.
pub mod checks;
pub mod scan;
pub mod netpol;
pub mod audit;
pub mod pss;
