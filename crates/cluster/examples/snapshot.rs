//! Reads a snapshot of the cluster of the current kubeconfig context on one thread and prints
//! how many objects it read and how long it took (bench/cluster.sh).

use std::time::Instant;

use kubevigil_cluster::{Connection, SnapshotOptions, Target, snapshot};

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let started = Instant::now();
        let conn = Connection::connect(&Target::default())
            .await
            .expect("connect");
        let snap = snapshot(&conn, &SnapshotOptions::default())
            .await
            .expect("snapshot");
        assert!(snap.problems.is_empty(), "{:?}", snap.problems);
        println!(
            "{} objects in {:.3} s",
            snap.objects.len(),
            started.elapsed().as_secs_f64()
        );
    });
}
