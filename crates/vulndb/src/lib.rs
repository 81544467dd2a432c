//! The local OSV database: records imported from osv.dev exports (JSON files, directories of
//! them, and the per-ecosystem `<Ecosystem>/all.zip` archives of
//! <https://google.github.io/osv.dev/data/#data-dumps>) into one SQLite file, and looked up by
//! package.
//!
//! Layout of `<dir>/osv.sqlite`:
//! - `records(id, modified_s, modified_ns, withdrawn, compressed, body)`: the record JSON as
//!   imported (raw DEFLATE when that saves at least a tenth), its `modified` time parsed;
//! - `packages(family, name, id)`: one row per affected package, `family` the ecosystem before
//!   its first `:` (`Debian:12` → `Debian`), `name` PEP 503-normalized for PyPI; the primary
//!   key is the lookup, so [`Db::candidates`] is one index range scan;
//! - `meta`: the import generation and the time of the last import;
//! - `image_scans(digest, reference, generation, scanned_at, summary)` and
//!   `image_refs(reference, digest)`: the summaries of images scanned, and
//!   `image_inventories(digest, inventory)`: their packages, raw DEFLATE compressed JSON, so
//!   that an import is matched without pulling the image again (see [`cache`]);
//! - `schema_version`.
//!
//! Everything imported is hostile input: a record is capped at
//! [`kubevigil_image::osv::MAX_RECORD_BYTES`] (a file's size, a zip entry's declared and actual
//! uncompressed size), an archive at [`MAX_ZIP_ENTRIES`] entries; a bad record is reported and
//! skipped, the rest imported.
#![forbid(unsafe_code)]

pub mod cache;

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use kubevigil_image::osv::{self, MAX_RECORD_BYTES, Record};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// The database file in the database directory.
pub const FILE_NAME: &str = "osv.sqlite";

/// The schema this code reads and writes.
const SCHEMA_VERSION: i64 = 1;

/// An archive with more entries than this is refused: osv.dev's largest per-ecosystem archive
/// holds under 100,000 records and the all-ecosystems one about half a million.
pub const MAX_ZIP_ENTRIES: usize = 2_000_000;

/// Directories deeper than this are not walked (a symlink loop is not followed anyway).
const MAX_DIR_DEPTH: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database schema version {found}, this build reads {SCHEMA_VERSION}")]
    SchemaVersion { found: i64 },
    #[error("stored record {id}: {message}")]
    Corrupt { id: String, message: String },
}

/// One record (or file, or archive) that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub file: PathBuf,
    /// The entry inside a zip archive.
    pub entry: Option<String>,
    /// The record id, when the record got far enough to tell.
    pub id: Option<String>,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(entry) = &self.entry {
            write!(f, "!{entry}")?;
        }
        if let Some(id) = &self.id {
            write!(f, ": {id}")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Records stored: new, or replacing an older (or equally old but different) version.
    pub imported: usize,
    /// Records already stored as they are, or older than the stored version.
    pub unchanged: usize,
    pub errors: Vec<ImportError>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DbStats {
    pub records: u64,
    pub withdrawn: u64,
    /// Records per ecosystem family (`Debian`, `npm`, ...); a record naming packages of two
    /// families counts in both.
    pub families: BTreeMap<String, u64>,
    /// Seconds since the Unix epoch of the last import, if any.
    pub last_import: Option<i64>,
    /// Bumped by every import that stored something: a cache of match results keyed by it
    /// stays valid while it does not move.
    pub generation: u64,
}

pub struct Db {
    conn: Connection,
}

impl Db {
    /// Opens `<dir>/osv.sqlite`, creating the directory and the database when missing.
    pub fn open(dir: &Path) -> Result<Db, DbError> {
        std::fs::create_dir_all(dir).map_err(|source| DbError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let conn = Connection::open(dir.join(FILE_NAME))?;
        // WAL: a scan can read while an import writes. NORMAL is durable at checkpoints, and a
        // lost import is redone from the same files.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS records (
                 id TEXT NOT NULL UNIQUE,
                 modified_s INTEGER NOT NULL,
                 modified_ns INTEGER NOT NULL,
                 withdrawn INTEGER NOT NULL,
                 compressed INTEGER NOT NULL,
                 body BLOB NOT NULL
             );
             CREATE TABLE IF NOT EXISTS packages (
                 family TEXT NOT NULL,
                 name TEXT NOT NULL,
                 id TEXT NOT NULL,
                 PRIMARY KEY (family, name, id)
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS packages_by_id ON packages (id);
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS image_scans (
                 digest TEXT PRIMARY KEY NOT NULL,
                 reference TEXT NOT NULL,
                 generation INTEGER NOT NULL,
                 scanned_at INTEGER NOT NULL,
                 summary TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS image_refs (
                 reference TEXT PRIMARY KEY NOT NULL,
                 digest TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS image_inventories (
                 digest TEXT PRIMARY KEY NOT NULL,
                 inventory BLOB NOT NULL
             );",
        )?;
        let found: Option<i64> = conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .optional()?;
        match found {
            None => {
                conn.execute(
                    "INSERT INTO schema_version (version) VALUES (?1)",
                    [SCHEMA_VERSION],
                )?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(found) => return Err(DbError::SchemaVersion { found }),
        }
        Ok(Db { conn })
    }

    /// Opens an existing `<dir>/osv.sqlite` read-only, for readers that must not create or
    /// change it (the admission webhook): [`DbError::Io`] (`NotFound`) when the file is missing,
    /// [`DbError::SchemaVersion`] when another build wrote it. Writes by other processes
    /// (`kubevigil image scan`) are seen by the next query.
    pub fn open_existing(dir: &Path) -> Result<Db, DbError> {
        let path = dir.join(FILE_NAME);
        if !path.is_file() {
            return Err(DbError::Io {
                path,
                source: io::Error::new(io::ErrorKind::NotFound, "no such database file"),
            });
        }
        let conn = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(1))?;
        let found: Option<i64> = conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .optional()?;
        match found {
            Some(SCHEMA_VERSION) => Ok(Db { conn }),
            Some(found) => Err(DbError::SchemaVersion { found }),
            None => Err(DbError::SchemaVersion { found: 0 }),
        }
    }

    /// Imports directories (every `*.json` and `*.zip` below them), single `.json` files and
    /// `.zip` archives, in one transaction. A stored record is replaced only by one whose
    /// `modified` is not older; withdrawn records are stored and flagged.
    pub fn import(&mut self, paths: &[PathBuf]) -> Result<ImportReport, DbError> {
        let mut report = ImportReport::default();
        let tx = self.conn.transaction()?;
        {
            let mut importer = Importer {
                tx: &tx,
                report: &mut report,
            };
            for path in paths {
                importer.path(path, 0)?;
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        set_meta(&tx, "last_import", now)?;
        if report.imported > 0 {
            let generation = get_meta(&tx, "generation")?.unwrap_or(0);
            set_meta(&tx, "generation", generation.saturating_add(1))?;
        }
        tx.commit()?;
        // A large import leaves a WAL as big as the database; fold it back now rather than at
        // the last connection's close. Best effort: a concurrent reader may hold it.
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        Ok(report)
    }

    /// Every stored record with an affected package of `ecosystem`'s family and `name`
    /// (PyPI names normalized), withdrawn ones included, parsed. Ordered by id.
    pub fn candidates(&self, ecosystem: &str, name: &str) -> Result<Vec<Record>, DbError> {
        // The index keeps ids sorted within a (family, name): no sort step.
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.id, r.compressed, r.body FROM packages p JOIN records r ON r.id = p.id
             WHERE p.family = ?1 AND p.name = ?2 ORDER BY p.id",
        )?;
        let family = osv::family(ecosystem);
        let name = osv::normalize_name(ecosystem, name);
        let rows = stmt.query_map(params![family, name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, compressed, body) = row?;
            let corrupt = |message: String| DbError::Corrupt {
                id: id.clone(),
                message,
            };
            let json = if compressed {
                inflate(&body).map_err(|e| corrupt(e.to_string()))?
            } else {
                body
            };
            out.push(osv::parse(&json).map_err(|e| corrupt(e.to_string()))?);
        }
        Ok(out)
    }

    /// The import generation alone (see [`DbStats::generation`]): one row read, for the scans
    /// that check their cache against it.
    pub fn generation(&self) -> Result<u64, DbError> {
        Ok(get_meta(&self.conn, "generation")?
            .and_then(|g| u64::try_from(g).ok())
            .unwrap_or(0))
    }

    pub fn stats(&self) -> Result<DbStats, DbError> {
        let (records, withdrawn): (i64, i64) = self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(withdrawn), 0) FROM records",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut families = BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT family, COUNT(DISTINCT id) FROM packages GROUP BY family")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (family, count) = row?;
            families.insert(family, u64::try_from(count).unwrap_or(0));
        }
        let tx_free = &self.conn;
        Ok(DbStats {
            records: u64::try_from(records).unwrap_or(0),
            withdrawn: u64::try_from(withdrawn).unwrap_or(0),
            families,
            last_import: get_meta(tx_free, "last_import")?,
            generation: self.generation()?,
        })
    }
}

fn get_meta(conn: &Connection, key: &str) -> Result<Option<i64>, DbError> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: i64) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

fn inflate(body: &[u8]) -> io::Result<Vec<u8>> {
    inflate_capped(body, MAX_RECORD_BYTES)
}

/// Inflates at most `cap` bytes: a corrupted blob must not inflate without bound.
fn inflate_capped(body: &[u8], cap: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    DeflateDecoder::new(body)
        .take(cap as u64 + 1)
        .read_to_end(&mut out)?;
    if out.len() > cap {
        return Err(io::Error::other(format!("inflates past {} MiB", cap >> 20)));
    }
    Ok(out)
}

fn deflate(json: &[u8]) -> Option<Vec<u8>> {
    let out = deflate_always(json)?;
    // Worth it only if it saves a tenth: small records barely shrink and cost an inflate.
    (out.len() < json.len() - json.len() / 10).then_some(out)
}

fn deflate_always(json: &[u8]) -> Option<Vec<u8>> {
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
    enc.write_all(json).ok()?;
    enc.finish().ok()
}

struct Importer<'a, 'c> {
    tx: &'a Transaction<'c>,
    report: &'a mut ImportReport,
}

impl Importer<'_, '_> {
    fn error(&mut self, file: &Path, entry: Option<&str>, id: Option<String>, message: String) {
        self.report.errors.push(ImportError {
            file: file.to_path_buf(),
            entry: entry.map(str::to_string),
            id,
            message,
        });
    }

    fn path(&mut self, path: &Path, depth: usize) -> Result<(), DbError> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                self.error(path, None, None, e.to_string());
                return Ok(());
            }
        };
        // A symlinked directory found in a walk is not followed (loops); one named by the
        // caller is.
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if meta.is_dir() && is_link && depth > 0 {
            return Ok(());
        }
        if meta.is_dir() {
            if depth >= MAX_DIR_DEPTH {
                self.error(path, None, None, "directory nested too deep".into());
                return Ok(());
            }
            let entries = match std::fs::read_dir(path) {
                Ok(entries) => entries,
                Err(e) => {
                    self.error(path, None, None, e.to_string());
                    return Ok(());
                }
            };
            let mut children: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
            children.sort(); // deterministic: the same tree imports in the same order
            for child in children {
                let is_dir = std::fs::metadata(&child).is_ok_and(|m| m.is_dir());
                if is_dir || has_extension(&child, "json") || has_extension(&child, "zip") {
                    self.path(&child, depth + 1)?;
                }
            }
        } else if has_extension(path, "zip") {
            self.zip(path)?;
        } else if meta.is_file() {
            match read_capped(File::open(path), meta.len()) {
                Ok(bytes) => self.record(path, None, &bytes)?,
                Err(message) => self.error(path, None, None, message),
            }
        }
        Ok(())
    }

    fn zip(&mut self, path: &Path) -> Result<(), DbError> {
        let archive = File::open(path)
            .map_err(|e| e.to_string())
            .and_then(|f| zip::ZipArchive::new(io::BufReader::new(f)).map_err(|e| e.to_string()));
        let mut archive = match archive {
            Ok(a) => a,
            Err(message) => {
                self.error(
                    path,
                    None,
                    None,
                    format!("not a readable zip archive: {message}"),
                );
                return Ok(());
            }
        };
        if archive.len() > MAX_ZIP_ENTRIES {
            let message = format!("{} entries, over the {MAX_ZIP_ENTRIES} cap", archive.len());
            self.error(path, None, None, message);
            return Ok(());
        }
        for i in 0..archive.len() {
            let (name, bytes) = match archive.by_index(i) {
                Ok(file) => {
                    let name = file.name().to_string();
                    if file.is_dir() || !name.to_ascii_lowercase().ends_with(".json") {
                        continue;
                    }
                    let declared = file.size();
                    (name, read_capped(Ok(file), declared))
                }
                Err(e) => (format!("#{i}"), Err(e.to_string())),
            };
            match bytes {
                Ok(bytes) => self.record(path, Some(&name), &bytes)?,
                Err(message) => self.error(path, Some(&name), None, message),
            }
        }
        Ok(())
    }

    fn record(&mut self, file: &Path, entry: Option<&str>, bytes: &[u8]) -> Result<(), DbError> {
        let record = match osv::parse(bytes) {
            Ok(r) => r,
            Err(e) => {
                let id = e.id().map(str::to_string).or_else(|| sniff_id(bytes));
                self.error(file, entry, id, e.to_string());
                return Ok(());
            }
        };
        // parse() validated `modified`.
        let (secs, nanos) = osv::timestamp(&record.modified).unwrap_or((0, 0));
        let stored: Option<(i64, i64, bool, Vec<u8>)> = self
            .tx
            .prepare_cached(
                "SELECT modified_s, modified_ns, compressed, body FROM records WHERE id = ?1",
            )?
            .query_row([&record.id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        if let Some((s, ns, compressed, body)) = stored {
            let new = (secs, i64::from(nanos));
            if new < (s, ns) {
                self.report.unchanged += 1;
                return Ok(());
            }
            if new == (s, ns) {
                let same = if compressed {
                    inflate(&body).is_ok_and(|old| old == bytes)
                } else {
                    body == bytes
                };
                if same {
                    self.report.unchanged += 1;
                    return Ok(());
                }
            }
        }
        let (compressed, body) = match deflate(bytes) {
            Some(small) => (true, small),
            None => (false, bytes.to_vec()),
        };
        self.tx
            .prepare_cached(
                "INSERT INTO records (id, modified_s, modified_ns, withdrawn, compressed, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET modified_s = excluded.modified_s,
                   modified_ns = excluded.modified_ns, withdrawn = excluded.withdrawn,
                   compressed = excluded.compressed, body = excluded.body",
            )?
            .execute(params![
                record.id,
                secs,
                i64::from(nanos),
                record.withdrawn.is_some(),
                compressed,
                body
            ])?;
        self.tx
            .prepare_cached("DELETE FROM packages WHERE id = ?1")?
            .execute([&record.id])?;
        let mut insert = self.tx.prepare_cached(
            "INSERT OR IGNORE INTO packages (family, name, id) VALUES (?1, ?2, ?3)",
        )?;
        for package in record.affected.iter().filter_map(|a| a.package.as_ref()) {
            let family = osv::family(&package.ecosystem);
            let name = osv::normalize_name(&package.ecosystem, &package.name);
            insert.execute(params![family, name, record.id])?;
        }
        self.report.imported += 1;
        Ok(())
    }
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// Reads a record's bytes, refusing more than the cap whatever the size claimed beforehand
/// (a zip header can lie about its uncompressed size).
fn read_capped<R: Read>(reader: io::Result<R>, claimed: u64) -> Result<Vec<u8>, String> {
    let cap = MAX_RECORD_BYTES as u64;
    if claimed > cap {
        return Err(format!("{claimed} bytes, over the {cap} byte record cap"));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(claimed).unwrap_or(0));
    reader
        .and_then(|r| r.take(cap + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > cap {
        return Err(format!("over the {cap} byte record cap"));
    }
    Ok(bytes)
}

/// The `id` of a record that failed to parse, for the error message, if it is readable.
fn sniff_id(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: String,
    }
    let id = serde_json::from_slice::<IdOnly>(bytes).ok()?.id;
    // An id is short; a hostile one is not echoed whole into a report.
    Some(id.chars().take(128).collect())
}
