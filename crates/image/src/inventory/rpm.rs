//! rpm's database of installed packages.
//!
//! The sqlite backend (`rpmdb.sqlite`, rpm ≥ 4.16; rpm `lib/backend/sqlite.c`): table
//! `Packages(hnum INTEGER PRIMARY KEY, blob BLOB)`, each blob a header image as rpm's
//! `headerExport` writes it and `headerImport`/`hdrblobInit` (rpm `lib/header.c`) read it:
//! big-endian `il` (index entries) and `dl` (data bytes), `il` 16-byte entries
//! `{tag, type, offset, count}`, then the data store. Tags (rpm `include/rpm/rpmtag.h`):
//! NAME 1000, VERSION 1001, RELEASE 1002, EPOCH 1003 (INT32), SOURCERPM 1044. The version is
//! `[epoch:]version-release`; the source is the source RPM's name without
//! `-version-release.src.rpm`. `gpg-pubkey` entries (imported signing keys) are not packages.
//!
//! The database is opened from its bytes with `sqlite3_deserialize` (read-only, in memory: no
//! file is written). A database left in WAL mode is read as a rollback-journal one (header
//! bytes 18-19, <https://www.sqlite.org/fileformat2.html#the_database_header>): the WAL file
//! itself is not read.
//!
//! The Berkeley DB backend (`Packages`, RHEL/CentOS ≤ 8, Amazon Linux 2; rpm
//! `lib/backend/db3.c`) is a hash database ([`super::bdb`]) of the same header blobs, keyed by
//! the 4-byte header instance number; key 0 holds rpm's next instance number, not a header.
//! rpm's own ndb format (`Packages.db`) is not read.

use super::{Found, InventoryError};
use crate::package::Package;

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_SOURCERPM: u32 = 1044;
const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_I18NSTRING: u32 = 9;
/// rpm's own limits (`hdrchkTags`, `hdrchkData` in lib/header.c).
const MAX_TAGS: u32 = 0xffff;
const MAX_DATA: u32 = 0x0fff_ffff;

pub(crate) fn parse_bdb(data: &[u8], path: &str, ecosystem: &str) -> Found {
    let mut packages = Vec::new();
    let mut errors = Vec::new();
    let walk = super::bdb::Hash::open(data).and_then(|hash| {
        let big_endian = hash.big_endian();
        hash.each(|pair| {
            let (key, blob) = match pair {
                Ok(pair) => pair,
                Err(e) => {
                    errors.push(InventoryError::new(path, format!("rpmdb Berkeley DB: {e}")));
                    return;
                }
            };
            // rpm writes the instance number in the machine's (and so the database's) order.
            let hnum = match <[u8; 4]>::try_from(key.as_ref()) {
                Ok(k) if big_endian => u32::from_be_bytes(k).to_string(),
                Ok(k) => u32::from_le_bytes(k).to_string(),
                Err(_) => format!("key of {} bytes", key.len()),
            };
            if key.as_ref() == [0; 4] {
                return;
            }
            match header(&blob) {
                Ok(Some(p)) => packages.push(Package {
                    ecosystem: ecosystem.to_string(),
                    path: path.to_string(),
                    ..p
                }),
                Ok(None) => {}
                Err(e) => errors.push(InventoryError::new(path, format!("header {hnum}: {e}"))),
            }
        })
    });
    if let Err(e) = walk {
        errors.push(InventoryError::new(path, format!("rpmdb Berkeley DB: {e}")));
    }
    (packages, errors)
}

pub(crate) fn parse_sqlite(data: &[u8], path: &str, ecosystem: &str) -> Found {
    let mut packages = Vec::new();
    let mut errors = Vec::new();
    match blobs(data) {
        Ok(blobs) => {
            for (hnum, blob) in blobs {
                match header(&blob) {
                    Ok(Some(p)) => packages.push(Package {
                        ecosystem: ecosystem.to_string(),
                        path: path.to_string(),
                        ..p
                    }),
                    Ok(None) => {}
                    Err(e) => errors.push(InventoryError::new(path, format!("header {hnum}: {e}"))),
                }
            }
        }
        Err(e) => errors.push(InventoryError::new(path, format!("rpmdb sqlite: {e}"))),
    }
    (packages, errors)
}

fn blobs(data: &[u8]) -> Result<Vec<(i64, Vec<u8>)>, String> {
    use rusqlite::{Connection, MAIN_DB, OpenFlags};
    let mut bytes = data.to_vec();
    if bytes.get(..16) != Some(b"SQLite format 3\0") {
        return Err("not an sqlite database".into());
    }
    // WAL mode (2) cannot be read from memory: read it as a rollback-journal database (1).
    for i in [18, 19] {
        if let Some(b @ 2) = bytes.get_mut(i) {
            *b = 1;
        }
    }
    let sql = |e: rusqlite::Error| e.to_string();
    let mut conn = Connection::open_in_memory_with_flags(
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    let len = bytes.len();
    conn.deserialize_read_exact(MAIN_DB, bytes.as_slice(), len, true)
        .map_err(sql)?;
    // Only a real table is read: a hostile view could compute without end.
    let kind: String = conn
        .query_row(
            "SELECT type FROM sqlite_master WHERE name = 'Packages'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| format!("no Packages table ({e})"))?;
    if kind != "table" {
        return Err(format!("Packages is a {kind}, not a table"));
    }
    let mut stmt = conn
        .prepare("SELECT hnum, blob FROM Packages")
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        data.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// The package a header blob describes; `None` for a `gpg-pubkey`.
pub(crate) fn header(blob: &[u8]) -> Result<Option<Package>, String> {
    let il = be32(blob, 0).ok_or("truncated header")?;
    let dl = be32(blob, 4).ok_or("truncated header")?;
    if il == 0 || il > MAX_TAGS {
        return Err(format!("{il} index entries"));
    }
    if dl > MAX_DATA {
        return Err(format!("{dl} data bytes"));
    }
    let store_at = 8 + il as usize * 16;
    let store = blob.get(store_at..store_at + dl as usize).ok_or_else(|| {
        format!(
            "{il} entries and {dl} data bytes exceed the blob ({} bytes)",
            blob.len()
        )
    })?;
    let (mut name, mut version, mut release, mut epoch, mut sourcerpm) =
        (None, None, None, None, None);
    for i in 0..il as usize {
        let at = 8 + i * 16;
        let (Some(tag), Some(kind), Some(offset)) =
            (be32(blob, at), be32(blob, at + 4), be32(blob, at + 8))
        else {
            return Err(format!("truncated index entry {i}"));
        };
        let string = || -> Result<String, String> {
            if kind != TYPE_STRING && kind != TYPE_I18NSTRING {
                return Err(format!("tag {tag} has type {kind}, not a string"));
            }
            let s = store
                .get(offset as usize..)
                .ok_or(format!("tag {tag} offset {offset} outside the data"))?;
            let end = s
                .iter()
                .position(|&b| b == 0)
                .ok_or(format!("tag {tag} string not terminated"))?;
            Ok(String::from_utf8_lossy(s.get(..end).unwrap_or_default()).into_owned())
        };
        match tag {
            TAG_NAME => name = Some(string()?),
            TAG_VERSION => version = Some(string()?),
            TAG_RELEASE => release = Some(string()?),
            TAG_SOURCERPM => sourcerpm = Some(string()?),
            TAG_EPOCH => {
                if kind != TYPE_INT32 {
                    return Err(format!("EPOCH has type {kind}"));
                }
                epoch = Some(be32(store, offset as usize).ok_or("EPOCH outside the data")?);
            }
            _ => {}
        }
    }
    let (Some(name), Some(version)) = (name, version) else {
        return Err("no NAME or no VERSION".into());
    };
    if name == "gpg-pubkey" {
        return Ok(None);
    }
    let mut full = match epoch {
        Some(e) => format!("{e}:{version}"),
        None => version,
    };
    if let Some(r) = release.filter(|r| !r.is_empty()) {
        full = format!("{full}-{r}");
    }
    Ok(Some(Package {
        name,
        version: full,
        ecosystem: String::new(),
        source: sourcerpm.as_deref().and_then(source_name),
        path: String::new(),
        source_version: None,
    }))
}

/// `bash-5.1.8-6.el9.src.rpm` → `bash`.
fn source_name(srpm: &str) -> Option<String> {
    let base = srpm
        .strip_suffix(".src.rpm")
        .or_else(|| srpm.strip_suffix(".nosrc.rpm"))?;
    let (rest, _release) = base.rsplit_once('-')?;
    let (name, _version) = rest.rsplit_once('-')?;
    Some(name.to_string()).filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header blob from (tag, type, data) entries, as rpm's headerExport lays it out.
    pub(crate) fn blob(entries: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut store = Vec::new();
        for (tag, kind, data) in entries {
            while *kind == TYPE_INT32 && store.len() % 4 != 0 {
                store.push(0);
            }
            for v in [*tag, *kind, store.len() as u32, 1] {
                index.extend_from_slice(&v.to_be_bytes());
            }
            store.extend_from_slice(data);
        }
        let mut b = (entries.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(&(store.len() as u32).to_be_bytes());
        b.extend(index);
        b.extend(store);
        b
    }

    fn s(v: &str) -> Vec<u8> {
        let mut b = v.as_bytes().to_vec();
        b.push(0);
        b
    }

    #[test]
    fn header_fields() {
        let b = blob(&[
            (TAG_NAME, TYPE_STRING, s("openssl-libs")),
            (TAG_VERSION, TYPE_STRING, s("3.0.7")),
            (TAG_RELEASE, TYPE_STRING, s("25.el9_3")),
            (TAG_EPOCH, TYPE_INT32, 1u32.to_be_bytes().to_vec()),
            (
                TAG_SOURCERPM,
                TYPE_STRING,
                s("openssl-3.0.7-25.el9_3.src.rpm"),
            ),
        ]);
        let p = header(&b).unwrap().unwrap();
        assert_eq!(p.name, "openssl-libs");
        assert_eq!(p.version, "1:3.0.7-25.el9_3");
        assert_eq!(p.source.as_deref(), Some("openssl"));
        let key = blob(&[
            (TAG_NAME, TYPE_STRING, s("gpg-pubkey")),
            (TAG_VERSION, TYPE_STRING, s("1")),
        ]);
        assert_eq!(header(&key).unwrap(), None);
    }

    #[test]
    fn hostile_headers() {
        let good = blob(&[
            (TAG_NAME, TYPE_STRING, s("a")),
            (TAG_VERSION, TYPE_STRING, s("1")),
        ]);
        // Every truncation fails cleanly.
        for n in 0..good.len() {
            assert!(header(&good[..n]).is_err(), "truncated to {n}");
        }
        // Huge counts, offsets past the data, an unterminated string, a wrong type.
        let mut huge = good.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(header(&huge).unwrap_err().contains("index entries"));
        let mut huge = good.clone();
        huge[4..8].copy_from_slice(&0x0fff_fff0u32.to_be_bytes());
        assert!(header(&huge).unwrap_err().contains("exceed"));
        let mut off = good.clone();
        off[16..20].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        assert!(header(&off).unwrap_err().contains("outside"));
        let unterminated = blob(&[
            (TAG_VERSION, TYPE_STRING, s("1")),
            (TAG_NAME, TYPE_STRING, b"abc".to_vec()),
        ]);
        assert!(
            header(&unterminated)
                .unwrap_err()
                .contains("not terminated")
        );
        let typed = blob(&[(TAG_NAME, TYPE_INT32, vec![0; 4])]);
        assert!(header(&typed).is_err());
        // Not sqlite at all, and a truncated sqlite file: errors naming the path.
        let (p, e) = parse_sqlite(b"garbage", "/var/lib/rpm/rpmdb.sqlite", "Red Hat");
        assert!(p.is_empty());
        assert_eq!(e[0].path, "/var/lib/rpm/rpmdb.sqlite");
        let mut trunc = b"SQLite format 3\0".to_vec();
        trunc.extend_from_slice(&[0x10, 0, 1, 1, 0, 64, 32, 32]);
        trunc.resize(200, 0);
        let (p, e) = parse_sqlite(&trunc, "/r", "Red Hat");
        assert!(p.is_empty() && e.len() == 1, "{e:?}");
        let (p, e) = parse_bdb(b"", "/var/lib/rpm/Packages", "Red Hat");
        assert!(p.is_empty());
        assert_eq!(e[0].path, "/var/lib/rpm/Packages");
        assert!(e[0].message.contains("too short"), "{e:?}");
    }
}
