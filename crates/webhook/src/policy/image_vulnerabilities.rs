//! Image vulnerability policy: refuses images whose cached scan (`kubevigil image scan`, kept in
//! the local vulnerability database by digest) has vulnerabilities at or above a severity.
//!
//! Judges the requests the image policy judges, the same containers ([`judged_images`]: Pods
//! and pod templates, on update only images that changed). Nothing is pulled or scanned at
//! admission: an image is looked up with `Db::scan_of_reference` — by its digest when the
//! reference is pinned (`name@sha256:...`), else by the digest the reference was last scanned
//! at. The database is opened read-only once and held behind a mutex (a rusqlite connection is
//! not `Sync`); a lookup is one or two primary-key reads, tens of microseconds, so requests
//! queue on it for no longer than that. Scans recorded while the webhook runs are seen by the
//! next lookup.
//!
//! An image never scanned (or whose scan is older than `maxAge`) is judged by `unscanned`:
//! `allow` (silently), `warn` (a warning, never a denial), `deny` (a violation, as a vulnerable
//! image: denied in `enforce` mode). A database error is logged and handled as an unscanned
//! image, except that it is never silent: with `unscanned: allow` it still gives a warning
//! (fail open); only `unscanned: deny` turns it into a denial (fail closed).
//!
//! This is the one policy that reads something at admission (the database file); the others
//! are pure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kubevigil_image::osv::Severity;
use kubevigil_vulndb::Db;
use kubevigil_vulndb::cache::CachedScan;

use super::image::judged_images;
use super::{Decision, Mode};
use crate::review::{AdmissionRequest, Status};

/// What to do with an image the database has no (recent enough) scan of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unscanned {
    #[default]
    Allow,
    Warn,
    Deny,
}

impl Unscanned {
    pub fn parse(s: &str) -> Option<Unscanned> {
        match s {
            "allow" => Some(Unscanned::Allow),
            "warn" => Some(Unscanned::Warn),
            "deny" => Some(Unscanned::Deny),
            _ => None,
        }
    }
}

/// Parses `maxAge`: a whole number of days (`30d`), hours (`12h`) or minutes (`90m`), in seconds.
pub fn parse_max_age(s: &str) -> Option<i64> {
    let unit = match s.chars().last()? {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        _ => return None,
    };
    let n: i64 = s[..s.len() - 1].parse().ok().filter(|n| *n > 0)?;
    n.checked_mul(unit)
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "imageVulnerabilities.database: {dir} holds no {file} (create it with `kubevigil db import`, then record scans with `kubevigil image scan`)"
    )]
    Missing { dir: String, file: &'static str },
    #[error("imageVulnerabilities.database: {0}")]
    Db(#[from] kubevigil_vulndb::DbError),
}

pub struct ImageVulnerabilityPolicy {
    /// Vulnerabilities of this severity or worse make an image a violation.
    pub deny_at_or_above: Severity,
    pub unscanned: Unscanned,
    /// Seconds: a scan recorded longer ago counts as no scan.
    pub max_age: Option<i64>,
    database: PathBuf,
    db: Mutex<Db>,
}

impl std::fmt::Debug for ImageVulnerabilityPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageVulnerabilityPolicy")
            .field("deny_at_or_above", &self.deny_at_or_above)
            .field("unscanned", &self.unscanned)
            .field("max_age", &self.max_age)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// What the database says about one image.
enum Lookup {
    Scanned(CachedScan),
    /// Never scanned, or the scan is older than `maxAge` (its age in days).
    Unscanned(Option<i64>),
    Failed(String),
}

impl ImageVulnerabilityPolicy {
    /// Opens the database directory `database` (it must hold `osv.sqlite`; it is opened
    /// read-only and never created).
    pub fn open(
        database: &Path,
        deny_at_or_above: Severity,
        unscanned: Unscanned,
        max_age: Option<i64>,
    ) -> Result<ImageVulnerabilityPolicy, OpenError> {
        if !database.join(kubevigil_vulndb::FILE_NAME).is_file() {
            return Err(OpenError::Missing {
                dir: database.display().to_string(),
                file: kubevigil_vulndb::FILE_NAME,
            });
        }
        let db = Db::open_existing(database)?;
        Ok(ImageVulnerabilityPolicy {
            deny_at_or_above,
            unscanned,
            max_age,
            database: database.to_path_buf(),
            db: Mutex::new(db),
        })
    }

    fn lookup(&self, image: &str, now_s: i64) -> Lookup {
        let found = {
            // A panic while the lock was held cannot leave the connection half-used.
            let db = self.db.lock().unwrap_or_else(|e| e.into_inner());
            db.scan_of_reference(image)
        };
        match found {
            Ok(Some(scan)) => match self.max_age {
                Some(max) if now_s.saturating_sub(scan.scanned_at) > max => Lookup::Unscanned(
                    Some(now_s.saturating_sub(scan.scanned_at).div_euclid(86_400)),
                ),
                _ => Lookup::Scanned(scan),
            },
            Ok(None) => Lookup::Unscanned(None),
            Err(e) => {
                // The image comes from the request: escaped, as all text bound for a terminal.
                tracing::warn!(image = %kubevigil_model::Escaped(image), database = %self.database.display(),
                    error = %kubevigil_model::Escaped(&e.to_string()),
                    "image vulnerabilities: database lookup failed");
                Lookup::Failed(e.to_string())
            }
        }
    }

    /// Judges a request; `now_ms` is the wall clock (milliseconds since the epoch) image and
    /// scan ages are counted from. `mode` is applied here too, because `unscanned: warn` and
    /// database failures are notices (warnings, or audit annotations in `audit` mode) whatever
    /// the mode; violations are left as a denial for [`Decision::with_mode`].
    pub fn validate(&self, req: &AdmissionRequest, mode: Mode, now_ms: i64) -> Decision {
        let Some(judged) = judged_images(req) else {
            return Decision::skip();
        };
        let now_s = now_ms.div_euclid(1000);
        // One lookup per distinct image: a pod may repeat one image in many containers.
        let mut found: BTreeMap<&str, Lookup> = BTreeMap::new();
        for (_, image) in &judged {
            if !found.contains_key(image) {
                found.insert(image, self.lookup(image, now_s));
            }
        }
        let mut violations = Vec::new();
        let mut notices = Vec::new();
        for (container, image) in judged {
            let what = format!("container {container:?}: image {image:?}");
            let unscanned = match &found[image] {
                Lookup::Scanned(scan) => {
                    if scan.summary.at_least(self.deny_at_or_above) > 0 {
                        violations.push(format!(
                            "{what} has {}",
                            scan.summary.describe(Some(now_ms))
                        ));
                    }
                    continue;
                }
                Lookup::Unscanned(None) => format!("{what} has not been scanned"),
                &Lookup::Unscanned(Some(days)) => {
                    format!("{what} was last scanned {days} days ago (maxAge exceeded)")
                }
                Lookup::Failed(e) => {
                    let message = format!("{what} could not be looked up: {e}");
                    match self.unscanned {
                        Unscanned::Deny => violations.push(message),
                        Unscanned::Allow | Unscanned::Warn => {
                            notices.push(format!("{message}; admitted"));
                        }
                    }
                    continue;
                }
            };
            match self.unscanned {
                Unscanned::Allow => {}
                Unscanned::Warn => notices.push(unscanned),
                Unscanned::Deny => violations.push(unscanned),
            }
        }
        let mut d = if violations.is_empty() {
            Decision::allow()
        } else {
            Decision::deny(Status::forbidden(
                &req.resource,
                &req.name,
                &format!("image vulnerabilities: {}", violations.join("; ")),
            ))
        };
        if !notices.is_empty() {
            let notice = format!("image vulnerabilities: {}", notices.join("; "));
            match mode {
                Mode::Audit => {
                    d = d.annotate("image-vulnerabilities-notice", notice);
                }
                Mode::Enforce | Mode::Warn => d.warnings.push(notice),
            }
        }
        d
    }
}
