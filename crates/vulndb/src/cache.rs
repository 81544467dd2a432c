//! Image scans kept for later: the [`ImageSummary`] of every image scanned, by manifest digest,
//! with the database generation it was matched at, and the digest each reference was last seen
//! at. `kubevigil image scan` and `scan --images` write it; `scan --images` and the monitor
//! skip an image whose digest was scanned at the current generation; the admission webhook
//! judges images by it without pulling anything. The packages found in each image are kept
//! too ([`Inventory`]): after an import, an image already scanned is matched again from them,
//! without pulling it (what an air-gapped cluster's registry bandwidth and a monitor that
//! rescans every image after each import need).

use kubevigil_image::package::{Os, Package};
use kubevigil_image::summary::ImageSummary;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{Db, DbError};

/// What a scan found in an image: enough to match it again against another generation of the
/// database, exactly as a fresh scan would.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    pub os: Option<Os>,
    pub packages: Vec<Package>,
}

/// The stored form: every field of a package, the source version included (which the scan's
/// JSON contract leaves out).
#[derive(Serialize, Deserialize)]
struct StoredInventory {
    os: Option<Os>,
    packages: Vec<StoredPackage>,
}

/// name, version, ecosystem, source, path, source version.
type StoredPackage = (
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
);

/// A stored inventory inflating past this is corrupt (the largest images list a few thousand
/// packages, well under a MiB of JSON).
const MAX_INVENTORY_BYTES: usize = 64 << 20;

/// A cached scan: the summary and the database generation it was matched at.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedScan {
    pub summary: ImageSummary,
    pub generation: u64,
    /// Seconds since the Unix epoch.
    pub scanned_at: i64,
}

impl Db {
    /// Records a scan of the image `summary.digest` (nothing without a digest: an SBOM or a
    /// root filesystem names no image), and that `summary.reference` points at it.
    pub fn record_scan(&self, summary: &ImageSummary, generation: u64) -> Result<(), DbError> {
        let Some(digest) = &summary.digest else {
            return Ok(());
        };
        let json = serde_json::to_string(summary).map_err(|e| DbError::Corrupt {
            id: digest.clone(),
            message: e.to_string(),
        })?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.conn.execute(
            "INSERT INTO image_scans (digest, reference, generation, scanned_at, summary)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (digest) DO UPDATE SET reference = excluded.reference,
               generation = excluded.generation, scanned_at = excluded.scanned_at,
               summary = excluded.summary",
            params![
                digest,
                summary.reference,
                i64::try_from(generation).unwrap_or(i64::MAX),
                now,
                json
            ],
        )?;
        self.conn.execute(
            "INSERT INTO image_refs (reference, digest) VALUES (?1, ?2)
             ON CONFLICT (reference) DO UPDATE SET digest = excluded.digest",
            params![summary.reference, digest],
        )?;
        Ok(())
    }

    /// Keeps the packages found in the image `digest`, replacing what was kept for it.
    pub fn record_inventory(&self, digest: &str, inventory: &Inventory) -> Result<(), DbError> {
        let stored = StoredInventory {
            os: inventory.os.clone(),
            packages: inventory
                .packages
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        p.version.clone(),
                        p.ecosystem.clone(),
                        p.source.clone(),
                        p.path.clone(),
                        p.source_version.clone(),
                    )
                })
                .collect(),
        };
        let corrupt = |message: String| DbError::Corrupt {
            id: digest.to_string(),
            message,
        };
        let json = serde_json::to_vec(&stored).map_err(|e| corrupt(e.to_string()))?;
        let blob = crate::deflate_always(&json).ok_or_else(|| corrupt("not compressed".into()))?;
        self.conn.execute(
            "INSERT INTO image_inventories (digest, inventory) VALUES (?1, ?2)
             ON CONFLICT (digest) DO UPDATE SET inventory = excluded.inventory",
            params![digest, blob],
        )?;
        Ok(())
    }

    /// The packages kept for the image `digest`, if any.
    pub fn inventory_of(&self, digest: &str) -> Result<Option<Inventory>, DbError> {
        let blob: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT inventory FROM image_inventories WHERE digest = ?1",
                [digest],
                |r| r.get(0),
            )
            .optional()?;
        let Some(blob) = blob else {
            return Ok(None);
        };
        let corrupt = |message: String| DbError::Corrupt {
            id: digest.to_string(),
            message,
        };
        let json = crate::inflate_capped(&blob, MAX_INVENTORY_BYTES)
            .map_err(|e| corrupt(format!("stored inventory: {e}")))?;
        let stored: StoredInventory =
            serde_json::from_slice(&json).map_err(|e| corrupt(format!("stored inventory: {e}")))?;
        Ok(Some(Inventory {
            os: stored.os,
            packages: stored
                .packages
                .into_iter()
                .map(
                    |(name, version, ecosystem, source, path, source_version)| Package {
                        name,
                        version,
                        ecosystem,
                        source,
                        path,
                        source_version,
                    },
                )
                .collect(),
        }))
    }

    /// The scan of an image digest, if there is one.
    pub fn scan_of_digest(&self, digest: &str) -> Result<Option<CachedScan>, DbError> {
        let row: Option<(i64, i64, String)> = self
            .conn
            .query_row(
                "SELECT generation, scanned_at, summary FROM image_scans WHERE digest = ?1",
                [digest],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(generation, scanned_at, json)| {
            let summary = serde_json::from_str(&json).map_err(|e| DbError::Corrupt {
                id: digest.to_string(),
                message: e.to_string(),
            })?;
            Ok(CachedScan {
                summary,
                generation: u64::try_from(generation).unwrap_or(0),
                scanned_at,
            })
        })
        .transpose()
    }

    /// The scan of an image reference as written in a manifest: by its digest when it is
    /// pinned (`name@sha256:...`), else by the digest the reference was last scanned at.
    pub fn scan_of_reference(&self, reference: &str) -> Result<Option<CachedScan>, DbError> {
        if let Some((_, digest)) = reference.rsplit_once('@') {
            return self.scan_of_digest(digest);
        }
        let digest: Option<String> = self
            .conn
            .query_row(
                "SELECT digest FROM image_refs WHERE reference = ?1",
                [reference],
                |r| r.get(0),
            )
            .optional()?;
        match digest {
            Some(d) => self.scan_of_digest(&d),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(reference: &str, digest: Option<&str>, critical: usize) -> ImageSummary {
        ImageSummary {
            reference: reference.into(),
            digest: digest.map(str::to_string),
            created: Some("2025-06-01T10:00:00Z".into()),
            base_image: Some("debian:12".into()),
            critical,
            high: 0,
            medium: 0,
            low: 0,
            unknown: 0,
            fixable: critical,
            top: Vec::new(),
        }
    }

    #[test]
    fn scans_are_found_by_digest_and_by_reference() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        let d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
        db.record_scan(&summary("shop/web:1.4", Some(d1), 2), 3)
            .unwrap();
        let got = db.scan_of_reference("shop/web:1.4").unwrap().unwrap();
        assert_eq!((got.summary.critical, got.generation), (2, 3));
        assert_eq!(
            db.scan_of_reference(&format!("shop/web@{d1}"))
                .unwrap()
                .unwrap()
                .summary
                .critical,
            2
        );
        // The tag moved: the reference now names the new digest; the old scan stays by digest.
        db.record_scan(&summary("shop/web:1.4", Some(d2), 0), 4)
            .unwrap();
        assert_eq!(
            db.scan_of_reference("shop/web:1.4")
                .unwrap()
                .unwrap()
                .summary
                .critical,
            0
        );
        assert_eq!(db.scan_of_digest(d1).unwrap().unwrap().summary.critical, 2);
        assert!(db.scan_of_reference("shop/other:1").unwrap().is_none());
        // Without a digest (an SBOM): nothing to key it by, nothing stored.
        db.record_scan(&summary("sbom.json", None, 1), 4).unwrap();
        assert!(db.scan_of_reference("sbom.json").unwrap().is_none());
        // Kept across connections.
        drop(db);
        let db = Db::open(dir.path()).unwrap();
        assert!(db.scan_of_digest(d2).unwrap().is_some());
        // Read-only, as the admission webhook opens it: sees later writes, creates nothing.
        let reader = Db::open_existing(dir.path()).unwrap();
        assert!(reader.scan_of_reference("shop/new:1").unwrap().is_none());
        let d3 = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
        db.record_scan(&summary("shop/new:1", Some(d3), 1), 5)
            .unwrap();
        assert!(reader.scan_of_reference("shop/new:1").unwrap().is_some());
        assert!(reader.record_scan(&summary("x:1", Some(d3), 1), 5).is_err());
        let missing = dir.path().join("nothing-here");
        assert!(matches!(
            Db::open_existing(&missing),
            Err(DbError::Io { .. })
        ));
        assert!(!missing.exists());
    }

    #[test]
    fn inventories_are_kept_whole_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let digest = "sha256:4444444444444444444444444444444444444444444444444444444444444444";
        assert_eq!(db.inventory_of(digest).unwrap(), None);
        let package = |name: &str, source: Option<(&str, &str)>| Package {
            name: name.into(),
            version: "3.0.11-1~deb12u2".into(),
            ecosystem: "Debian:12".into(),
            source: source.map(|(s, _)| s.to_string()),
            path: "/var/lib/dpkg/status".into(),
            source_version: source.map(|(_, v)| v.to_string()),
        };
        let inventory = Inventory {
            os: Some(Os {
                family: "debian".into(),
                version: "12".into(),
            }),
            packages: vec![
                package("libssl3", Some(("openssl", "3.0.11-1~deb12u1"))),
                package("openssl", None),
            ],
        };
        db.record_inventory(digest, &inventory).unwrap();
        // The source version, which the scan's JSON leaves out, is kept: advisories are
        // matched on it.
        assert_eq!(db.inventory_of(digest).unwrap(), Some(inventory.clone()));
        let fewer = Inventory {
            os: None,
            packages: vec![package("zlib1g", None)],
        };
        db.record_inventory(digest, &fewer).unwrap();
        assert_eq!(db.inventory_of(digest).unwrap(), Some(fewer));
        // A damaged row is an error naming the digest, not a panic or an empty image.
        db.conn
            .execute(
                "UPDATE image_inventories SET inventory = ?1",
                [b"not deflate".to_vec()],
            )
            .unwrap();
        let e = db.inventory_of(digest).unwrap_err().to_string();
        assert!(e.contains(digest), "{e}");
    }
}
