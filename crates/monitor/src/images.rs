//! The images the cluster runs, scanned for vulnerabilities and kept scanned: every
//! `interval`, each image a workload names is resolved to its digest (one manifest request);
//! an image whose digest is new, or whose last scan was matched at an older generation of the
//! vulnerability database (after `kubevigil db import`), is pulled and scanned again. Summaries
//! go into the table that the `image-vulnerable` check reads, so the next evaluation of the
//! workloads reports them and the history tells the sinks what appeared.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kubevigil_checks::ImageScanTable;
use kubevigil_oci::scan::{ScanOptions, Target};

use crate::dashboard::LiveObjects;

#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// The vulnerability database directory.
    pub db_dir: PathBuf,
    pub interval: Duration,
    pub scan: ScanOptions,
}

/// The images the workloads held name.
fn images_of(live: &LiveObjects) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(store) = live.latest() else {
        return out;
    };
    for o in store.objects() {
        let Some(pod) = kubevigil_model::pod_template(o) else {
            continue;
        };
        for c in pod.containers() {
            if let Some(image) = c.value.get("image").and_then(|v| v.as_str()) {
                out.insert(image.to_string());
            }
        }
    }
    out
}

/// Runs until `stop` is set, on the calling thread (it blocks on the network).
pub fn run(
    options: ImageOptions,
    live: Arc<LiveObjects>,
    table: Arc<ImageScanTable>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    // image -> (digest, generation) of its last scan.
    let mut scanned: BTreeMap<String, (String, u64)> = BTreeMap::new();
    loop {
        if let Err(e) = pass(&options, &live, &table, &mut scanned) {
            tracing::error!(error = %e, "image scanning failed");
        }
        let deadline = std::time::Instant::now() + options.interval;
        while std::time::Instant::now() < deadline {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn pass(
    options: &ImageOptions,
    live: &LiveObjects,
    table: &ImageScanTable,
    scanned: &mut BTreeMap<String, (String, u64)>,
) -> Result<(), kubevigil_vulndb::DbError> {
    let db = kubevigil_vulndb::Db::open(&options.db_dir)?;
    let generation = db.stats()?.generation;
    let images = images_of(live);
    table.retain(|i| images.contains(i));
    scanned.retain(|i, _| images.contains(i));
    for image in &images {
        let digest = match kubevigil_oci::resolve(image, &options.scan.pull) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(image = %kubevigil_model::Escaped(image), error = %e, "image not resolved");
                continue;
            }
        };
        if scanned.get(image) == Some(&(digest.clone(), generation)) {
            continue;
        }
        let cached = db
            .scan_of_digest(&digest)?
            .filter(|c| c.generation == generation);
        let summary = match cached {
            Some(c) => c.summary,
            None => match kubevigil_oci::scan::scan(
                &Target::Reference(image.clone()),
                &options.scan,
                &db,
            ) {
                Ok(s) => {
                    tracing::info!(
                        image = %kubevigil_model::Escaped(image),
                        %digest,
                        vulnerabilities = s.summary.total(),
                        critical = s.summary.critical,
                        "image scanned"
                    );
                    s.summary
                }
                Err(e) => {
                    tracing::warn!(image = %kubevigil_model::Escaped(image), error = %e, "image not scanned");
                    continue;
                }
            },
        };
        table.insert(image.clone(), summary);
        scanned.insert(image.clone(), (digest, generation));
    }
    Ok(())
}
