//! The images the cluster runs, scanned for vulnerabilities and kept scanned: every
//! `interval`, each image a workload names is resolved to its digest (one manifest request);
//! an image whose digest is new, or whose last scan was matched at an older generation of the
//! vulnerability database (after `kubevigil db import`), is pulled and scanned again. Summaries
//! go into the table that the `image-vulnerable` check reads, and the workloads that run a
//! rescanned image are handed to the evaluation again (as if they had changed), so their
//! findings follow at once and the history tells the sinks what appeared.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kubevigil_checks::ImageScanTable;
use kubevigil_oci::scan::{Came, ScanOptions};
use kubevigil_telemetry::CounterVec;

use kubevigil_cluster::ObjectEvent;

use crate::dashboard::LiveObjects;

#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// The vulnerability database directory.
    pub db_dir: PathBuf,
    pub interval: Duration,
    pub scan: ScanOptions,
}

/// The images the workloads held name, each with the image pull secrets of the workloads that
/// run it (their own and their service account's).
fn images_of(live: &LiveObjects) -> BTreeMap<String, BTreeSet<(String, String)>> {
    let mut out: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    let Some(store) = live.latest() else {
        return out;
    };
    for o in store.objects() {
        let Some(pod) = kubevigil_model::pod_template(o) else {
            continue;
        };
        let secrets = kubevigil_cluster::pull_secret_refs(o, |namespace, name| {
            store.get(&kubevigil_model::ObjectKey {
                group: String::new(),
                kind: "ServiceAccount".into(),
                namespace: Some(namespace.into()),
                name: name.into(),
            })
        });
        for c in pod.containers() {
            if let Some(image) = c.value.get("image").and_then(|v| v.as_str()) {
                out.entry(image.to_string())
                    .or_default()
                    .extend(secrets.iter().cloned());
            }
        }
    }
    out
}

/// The credentials of `secrets`, read from the cluster.
fn pull_secrets(
    conn: &kubevigil_cluster::Connection,
    secrets: Vec<(String, String)>,
) -> std::collections::HashMap<(String, String), kubevigil_oci::Credentials> {
    if secrets.is_empty() {
        return Default::default();
    }
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => kubevigil_oci::Credentials::of_pull_secrets(
            rt.block_on(kubevigil_cluster::pull_secrets(conn, &secrets)),
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the image pull secrets");
            Default::default()
        }
    }
}

/// Runs on the calling thread (it blocks on the network) until the watches that feed the
/// evaluation are gone (a weak sender: the scanner never keeps the evaluation alive). The first
/// pass waits for the first read of the cluster.
pub fn run(
    options: ImageOptions,
    conn: kubevigil_cluster::Connection,
    live: Arc<LiveObjects>,
    table: Arc<ImageScanTable>,
    counted: &CounterVec<&'static str>,
    evaluation: tokio::sync::mpsc::WeakSender<ObjectEvent>,
) {
    let gone = || evaluation.upgrade().is_none_or(|s| s.is_closed());
    // image -> (digest, generation) of its last scan.
    let mut scanned: BTreeMap<String, (String, u64)> = BTreeMap::new();
    while live.latest().is_none() {
        if gone() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    loop {
        match pass(&options, &conn, &live, &table, counted, &mut scanned) {
            Ok(changed) => {
                for o in workloads_running(&live, &changed) {
                    let Some(sender) = evaluation.upgrade() else {
                        return;
                    };
                    if sender.blocking_send(ObjectEvent::Applied(o)).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %kubevigil_model::Escaped(&e.to_string()), "image scanning failed")
            }
        }
        let deadline = std::time::Instant::now() + options.interval;
        while std::time::Instant::now() < deadline {
            if gone() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The workloads held that name one of `images`.
fn workloads_running(
    live: &LiveObjects,
    images: &BTreeSet<String>,
) -> Vec<kubevigil_model::Object> {
    let Some(store) = live.latest().filter(|_| !images.is_empty()) else {
        return Vec::new();
    };
    store
        .objects()
        .filter(|o| {
            kubevigil_model::pod_template(o).is_some_and(|pod| {
                pod.containers().any(|c| {
                    c.value
                        .get("image")
                        .and_then(|v| v.as_str())
                        .is_some_and(|i| images.contains(i))
                })
            })
        })
        .cloned()
        .collect()
}

/// One round: returns the images whose summary changed.
fn pass(
    options: &ImageOptions,
    conn: &kubevigil_cluster::Connection,
    live: &LiveObjects,
    table: &ImageScanTable,
    counted: &CounterVec<&'static str>,
    scanned: &mut BTreeMap<String, (String, u64)>,
) -> Result<BTreeSet<String>, kubevigil_vulndb::DbError> {
    let mut changed = BTreeSet::new();
    let db = kubevigil_vulndb::Db::open(&options.db_dir)?;
    let generation = db.generation()?;
    let images = images_of(live);
    table.retain(|i| images.contains_key(i));
    scanned.retain(|i, _| images.contains_key(i));
    let wanted: BTreeSet<(String, String)> = images.values().flatten().cloned().collect();
    let secrets = pull_secrets(conn, wanted.into_iter().collect());
    for (image, refs) in &images {
        // The pull secrets of the workloads that run the image win over the docker config.
        let mut scan = options.scan.clone();
        for r in refs {
            if let Some(c) = secrets.get(r) {
                scan.pull.credentials.merge(c.clone());
            }
        }
        // A digest and database as at the last look: nothing to do, not even a cache read.
        let digest = match kubevigil_oci::resolve(image, &scan.pull) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(image = %kubevigil_model::Escaped(image), error = %kubevigil_model::Escaped(&e.to_string()), "image not resolved");
                counted.inc("failed");
                continue;
            }
        };
        if scanned.get(image) == Some(&(digest.clone(), generation)) {
            counted.inc("unchanged");
            continue;
        }
        let found = match kubevigil_oci::scan::scan_digest(image, digest, &scan, &db, generation) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(image = %kubevigil_model::Escaped(image), error = %kubevigil_model::Escaped(&e.to_string()), "image not scanned");
                counted.inc("failed");
                continue;
            }
        };
        let (result, told) = match found.came {
            Came::Cached => ("cached", None),
            Came::Rematched => (
                "rematched",
                Some("image matched again against the imported database"),
            ),
            Came::Scanned => ("scanned", Some("image scanned")),
        };
        if let Some(told) = told {
            tracing::info!(
                image = %kubevigil_model::Escaped(image),
                digest = %found.digest,
                vulnerabilities = found.summary.total(),
                critical = found.summary.critical,
                "{told}"
            );
        }
        counted.inc(result);
        let (digest, summary) = (found.digest, found.summary);
        if table.get(image).as_ref() != Some(&summary) {
            changed.insert(image.clone());
        }
        table.insert(image.clone(), summary);
        scanned.insert(image.clone(), (digest, generation));
    }
    Ok(changed)
}
