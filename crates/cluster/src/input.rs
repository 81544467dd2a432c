//! A cluster as the input of a command: what `scan --cluster`, `pss --cluster` and
//! `netpol ... --cluster` read, as the file loader's [`Loaded`] (objects and diagnostics), so
//! the commands run the same engines on it as on files.

use std::collections::HashSet;

use kubevigil_checks::{Config, PathsScan};
use kubevigil_model::Loaded;

use crate::{Connection, Error, Scope, SnapshotOptions, Target, snapshot};

/// Which cluster, and which part of it.
#[derive(Debug, Clone, Default)]
pub struct ClusterInput {
    pub target: Target,
    pub scope: Scope,
}

impl ClusterInput {
    /// Connects and reads a snapshot, on a runtime of its own (one thread: the lists overlap
    /// while they wait on the network). Problems are diagnostics at `cluster <context>`:
    /// forbidden kinds warnings naming the checks that `enabled` runs and that read them,
    /// failed lists errors (the result is incomplete: exit code 2).
    pub fn load(&self, enabled: &dyn Fn(&str) -> bool) -> Result<Loaded, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Kubeconfig(format!("cannot start the client runtime: {e}")))?;
        runtime.block_on(async {
            let conn = Connection::connect(&self.target).await?;
            let options = SnapshotOptions {
                scope: self.scope.clone(),
                ..Default::default()
            };
            let snap = snapshot(&conn, &options).await?;
            tracing::info!(
                context = %snap.context,
                objects = snap.objects.len(),
                kinds = snap.read.len(),
                relists = snap.relists,
                "cluster snapshot read"
            );
            let diagnostics = snap.diagnostics(enabled);
            let mut loaded = Loaded {
                diagnostics,
                ..Default::default()
            };
            loaded.inventory.objects = snap.objects;
            Ok(loaded)
        })
    }

    /// What `kubevigil scan --cluster` reports: the snapshot through the same checks, engines,
    /// suppressions and baseline as files ([`kubevigil_checks::scan`]).
    pub fn scan(
        &self,
        config: &Config,
        baseline: Option<&HashSet<String>>,
    ) -> Result<PathsScan, Error> {
        let mut loaded = self.load(&|id| config.is_enabled(id))?;
        // Each object is dropped once checked unless a check over all objects reads its kind,
        // as a file scan does.
        let snapshot = std::mem::take(&mut loaded.inventory.objects);
        let (objects, outcome) = kubevigil_checks::scan_objects(snapshot, config, baseline);
        Ok(PathsScan {
            loaded,
            objects,
            outcome,
        })
    }
}
