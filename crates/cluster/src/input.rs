//! A cluster as the input of a command: what `scan --cluster`, `pss --cluster` and
//! `netpol ... --cluster` read, as the file loader's [`Loaded`] (objects and diagnostics), so
//! the commands run the same engines on it as on files.

use std::collections::HashSet;
use std::sync::Mutex;

use kubevigil_checks::{Config, ObjectScan, PathsScan};
use kubevigil_model::Loaded;

use crate::snapshot::{Complete, ListPage, snapshot_pages};
use crate::{Connection, Error, Scope, SnapshotOptions, Target};

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
        let pages = Mutex::new(Vec::new());
        let (mut loaded, complete) =
            self.read(enabled, &|p| pages.lock().expect("pages lock").push(p))?;
        let pages = pages.into_inner().expect("pages lock");
        let pages = pages
            .into_iter()
            .map(|p| (p.list, p.attempt, p.page, p.objects))
            .collect();
        loaded.inventory.objects = complete.assemble(pages).into_iter().flatten().collect();
        Ok(loaded)
    }

    /// [`ClusterInput::load`] with each page of each list given to `on_page` as it arrives; the
    /// inventory is left empty, and what is returned says which pages count.
    fn read(
        &self,
        enabled: &dyn Fn(&str) -> bool,
        on_page: &(dyn Fn(ListPage) + Sync),
    ) -> Result<(Loaded, Complete), Error> {
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
            let (snap, complete) = snapshot_pages(&conn, &options, on_page).await?;
            tracing::info!(
                context = %snap.context,
                objects = snap.read.iter().map(|(_, _, n)| n).sum::<usize>(),
                kinds = snap.read.len(),
                relists = snap.relists,
                "cluster snapshot read"
            );
            let loaded = Loaded {
                diagnostics: snap.diagnostics(enabled),
                ..Default::default()
            };
            Ok((loaded, complete))
        })
    }

    /// What `kubevigil scan --cluster` reports: the snapshot through the same checks, engines,
    /// suppressions and baseline as files ([`kubevigil_checks::scan`]).
    ///
    /// Each page is checked as soon as it is read, on as many threads as there are cores
    /// while the next pages are read, and each object is dropped once checked unless a check
    /// over all objects reads its kind, as a file scan does.
    pub fn scan(
        &self,
        config: &Config,
        baseline: Option<&HashSet<String>>,
    ) -> Result<PathsScan, Error> {
        let scan = ObjectScan::new(config);
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (send, receive) = std::sync::mpsc::channel::<ListPage>();
        let receive = Mutex::new(receive);
        let (read, parts) = std::thread::scope(|threads| {
            let checkers: Vec<_> = (0..workers)
                .map(|_| {
                    threads.spawn(|| {
                        let mut parts = Vec::new();
                        loop {
                            let page = receive.lock().expect("pages lock").recv();
                            let Ok(p) = page else { break };
                            parts.push((p.list, p.attempt, p.page, scan.check(p.objects)));
                        }
                        parts
                    })
                })
                .collect();
            let send = Mutex::new(send);
            let read = self.read(&|id| config.is_enabled(id), &|p| {
                // The checkers outlive the sender: they stop when it is dropped.
                let _ = send.lock().expect("pages lock").send(p);
            });
            drop(send);
            let parts: Vec<_> = checkers
                .into_iter()
                .flat_map(|c| c.join().expect("check thread panicked"))
                .collect();
            (read, parts)
        });
        let (loaded, complete) = read?;
        let (objects, outcome) = scan.finish(complete.assemble(parts), baseline);
        Ok(PathsScan {
            loaded,
            objects,
            outcome,
        })
    }
}
