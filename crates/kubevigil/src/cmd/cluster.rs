//! `kubevigil cluster`: what reading a cluster needs.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(clap::Subcommand)]
enum ClusterCommand {
    /// Print the read-only ClusterRole (and a ClusterRoleBinding to fill in) that
    /// `--cluster` needs: get, list and watch on the kinds kubevigil reads.
    Role {
        /// The name of the ClusterRole and of the binding.
        #[arg(long, default_value = "kubevigil-reader")]
        name: String,
    },
}

pub fn run(args: ClusterArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ClusterCommand::Role { name } => {
            let text = kubevigil_cluster::cluster_role_yaml(&name);
            crate::cli::write_with(None, |out| out.write_all(text.as_bytes()))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
