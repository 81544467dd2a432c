//! Berkeley DB hash databases, read from their bytes (rpm's `Packages`, RHEL/CentOS ≤ 8,
//! Amazon Linux 2, older Fedora and SUSE).
//!
//! The on-disk format is Berkeley DB's `src/dbinc/db_page.h` and `src/dbinc/hash.h`:
//!
//! - Page 0 is the hash meta page (`HMETA33`): magic 0x061561 at 12 (its byte order is the
//!   file's), version at 16, page size at 20, `encrypt_alg` at 24, type `P_HASHMETA` (8) at 25,
//!   `metaflags` at 26 (`DBMETA_CHKSUM` 1: every page carries a checksum after its header),
//!   `last_pgno` at 32, `flags` at 48, `max_bucket` at 72 and `spares[32]` at 96.
//! - Every other page starts with the 26-byte `PAGE` header: `pgno` at 8, `next_pgno` at 16,
//!   `entries` (u16) at 20, `hf_offset` (u16) at 22, `type` at 25; then 6 bytes of checksum when
//!   `DBMETA_CHKSUM` is set. The index array (u16 offsets) follows.
//! - Bucket `b` starts at page `b + spares[log2(b + 1)]` (`BS_TO_PAGE`; `__db_log2` is the
//!   ceiling log2); its pages (`P_HASH` 13, or `P_HASH_UNSORTED` 2 before 4.6) chain through
//!   `next_pgno` (0 ends the chain). Their index entries come in (key, data) pairs; items lie
//!   back to back from the end of the page, item `i` ending where item `i - 1` starts
//!   (`LEN_HITEM`).
//! - An item is `H_KEYDATA` (1: type byte, then the bytes) or `H_OFFPAGE` (3: type, 3 unused
//!   bytes, first overflow page, total length). `H_DUPLICATE` (2) and `H_OFFDUP` (4) hold
//!   duplicates, which rpm's `Packages` never has: they are errors.
//! - An overflow page (`P_OVERFLOW` 7) holds `hf_offset` bytes (`OV_LEN`) after its header
//!   and chains through `next_pgno`.
//!
//! Hostile input: every page number is checked against `last_pgno`, the file must hold every
//! page up to `last_pgno`, and every page is read at most once (a second visit, whether a
//! cycle or two chains sharing a page, is an error), so the work is linear in the file size.
//! An overflow item's length is checked against the file size before anything is allocated.

use std::borrow::Cow;

const HASH_MAGIC: u32 = 0x0006_1561;
const BTREE_MAGIC: u32 = 0x0005_3162;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;
const H_KEYDATA: u8 = 1;
const H_DUPLICATE: u8 = 2;
const H_OFFPAGE: u8 = 3;
const H_OFFDUP: u8 = 4;
const DBMETA_CHKSUM: u8 = 0x01;
const DB_HASH_SUBDB: u32 = 0x02;
const SIZEOF_PAGE: usize = 26;
/// `SIZEOF_PAGE` + `PG_CHKSUM` (2 bytes of alignment, 4 of checksum).
const SIZEOF_PAGE_CHKSUM: usize = 32;
/// The meta page is at least this long (`DBMETASIZE`).
const META_SIZE: usize = 512;
/// Hash versions with the `HMETA33` layout: 7 (Berkeley DB 3.3) to 9 (5.x), 10 (6.x).
const VERSIONS: std::ops::RangeInclusive<u32> = 7..=10;

/// One (key, data) pair, or why it could not be read.
pub(crate) type Pair<'a> = Result<(Cow<'a, [u8]>, Cow<'a, [u8]>), String>;

/// An opened hash database: its meta page checked, its pages all present.
pub(crate) struct Hash<'a> {
    data: &'a [u8],
    big_endian: bool,
    pagesize: usize,
    /// `last_pgno + 1`.
    pages: u32,
    /// Page header length: where the index array (or overflow data) starts.
    overhead: usize,
    max_bucket: u32,
    spares: [u32; 32],
}

impl<'a> Hash<'a> {
    pub(crate) fn open(data: &'a [u8]) -> Result<Self, String> {
        let meta = data
            .get(..META_SIZE)
            .ok_or_else(|| format!("{} bytes: too short for a meta page", data.len()))?;
        let raw = |at: usize| -> [u8; 4] { meta[at..at + 4].try_into().unwrap_or_default() };
        let big_endian = match (u32::from_le_bytes(raw(12)), u32::from_be_bytes(raw(12))) {
            (HASH_MAGIC, _) => false,
            (_, HASH_MAGIC) => true,
            (BTREE_MAGIC, _) | (_, BTREE_MAGIC) => {
                return Err("a Berkeley DB btree, not a hash database".into());
            }
            (m, _) => return Err(format!("not a Berkeley DB hash database (magic {m:#010x})")),
        };
        let u32_at = |at: usize| {
            if big_endian {
                u32::from_be_bytes(raw(at))
            } else {
                u32::from_le_bytes(raw(at))
            }
        };
        let version = u32_at(16);
        if !VERSIONS.contains(&version) {
            return Err(format!("hash version {version} not supported"));
        }
        let pagesize = u32_at(20);
        if !(512..=65536).contains(&pagesize) || !pagesize.is_power_of_two() {
            return Err(format!("page size {pagesize}"));
        }
        if meta[24] != 0 {
            return Err("encrypted database".into());
        }
        if meta[25] != P_HASHMETA {
            return Err(format!("meta page has type {}, not hash meta", meta[25]));
        }
        if u32_at(8) != 0 {
            return Err(format!("meta page numbered {}", u32_at(8)));
        }
        if u32_at(48) & DB_HASH_SUBDB != 0 {
            return Err("subdatabases not supported".into());
        }
        let overhead = if meta[26] & DBMETA_CHKSUM != 0 {
            SIZEOF_PAGE_CHKSUM
        } else {
            SIZEOF_PAGE
        };
        let last_pgno = u32_at(32);
        let pages = last_pgno
            .checked_add(1)
            .ok_or("last page number overflows")?;
        let needed = u64::from(pages) * u64::from(pagesize);
        if (data.len() as u64) < needed {
            return Err(format!(
                "truncated: {} bytes, but {pages} pages of {pagesize} bytes need {needed}",
                data.len()
            ));
        }
        let max_bucket = u32_at(72);
        if max_bucket >= last_pgno {
            return Err(format!(
                "{max_bucket} as highest bucket, but the last page is {last_pgno}"
            ));
        }
        let mut spares = [0; 32];
        for (i, s) in spares.iter_mut().enumerate() {
            *s = u32_at(96 + 4 * i);
        }
        Ok(Hash {
            data,
            big_endian,
            pagesize: pagesize as usize,
            pages,
            overhead,
            max_bucket,
            spares,
        })
    }

    /// Whether the file is big-endian (its integers, keys included when written natively).
    pub(crate) fn big_endian(&self) -> bool {
        self.big_endian
    }

    fn u16(&self, page: &[u8], at: usize) -> Option<u16> {
        let b: [u8; 2] = page.get(at..at + 2)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32(&self, page: &[u8], at: usize) -> Option<u32> {
        let b: [u8; 4] = page.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    /// Page `pgno`, claimed: a page read twice is an error (a cycle, or a shared page).
    fn claim(&self, pgno: u32, seen: &mut [bool]) -> Result<&'a [u8], String> {
        if pgno == 0 {
            return Err("page 0 (the meta page) referenced".into());
        }
        if pgno >= self.pages {
            return Err(format!(
                "page {pgno} beyond the last page {}",
                self.pages - 1
            ));
        }
        let slot = seen
            .get_mut(pgno as usize)
            .ok_or_else(|| format!("page {pgno} beyond the file"))?;
        if *slot {
            return Err(format!("page {pgno} reached twice (a cycle)"));
        }
        *slot = true;
        let start = pgno as usize * self.pagesize;
        let page = self
            .data
            .get(start..start + self.pagesize)
            .ok_or_else(|| format!("page {pgno} beyond the file"))?;
        if self.u32(page, 8) != Some(pgno) {
            return Err(format!(
                "page {pgno} is numbered {}",
                self.u32(page, 8).unwrap_or_default()
            ));
        }
        Ok(page)
    }

    /// Every (key, data) pair, bucket by bucket. A pair that cannot be read is handed over as
    /// an error and the walk goes on; an unreadable bucket page ends it with an error.
    pub(crate) fn each(&self, mut f: impl FnMut(Pair<'a>)) -> Result<(), String> {
        let mut seen = vec![false; self.pages as usize];
        for bucket in 0..=self.max_bucket {
            let log2 = (u64::from(bucket) + 1).next_power_of_two().trailing_zeros() as usize;
            let spare = *self
                .spares
                .get(log2)
                .ok_or_else(|| format!("bucket {bucket} has no spares entry"))?;
            let first = u64::from(bucket) + u64::from(spare);
            let mut pgno =
                u32::try_from(first).map_err(|_| format!("bucket {bucket} at page {first}"))?;
            loop {
                let page = self
                    .claim(pgno, &mut seen)
                    .map_err(|e| format!("bucket {bucket}: {e}"))?;
                let kind = page[25];
                if kind != P_HASH && kind != P_HASH_UNSORTED {
                    return Err(format!(
                        "bucket {bucket}: page {pgno} has type {kind}, not a hash page"
                    ));
                }
                self.pairs(page, pgno, &mut seen, &mut f)?;
                pgno = self.u32(page, 16).unwrap_or_default();
                if pgno == 0 {
                    break;
                }
            }
        }
        Ok(())
    }

    fn pairs(
        &self,
        page: &'a [u8],
        pgno: u32,
        seen: &mut [bool],
        f: &mut impl FnMut(Pair<'a>),
    ) -> Result<(), String> {
        let entries = usize::from(self.u16(page, 20).unwrap_or_default());
        if entries % 2 != 0 {
            return Err(format!("page {pgno}: {entries} entries, not pairs"));
        }
        let index_end = self.overhead + 2 * entries;
        if index_end > self.pagesize {
            return Err(format!("page {pgno}: {entries} entries overflow the page"));
        }
        // Item i spans from its offset to the previous item's (the page end for item 0).
        let mut end = self.pagesize;
        let mut item = |i: usize| -> Result<&'a [u8], String> {
            let at = usize::from(self.u16(page, self.overhead + 2 * i).unwrap_or_default());
            if at < index_end || at >= end {
                return Err(format!(
                    "page {pgno}: item {i} at {at} outside {index_end}..{end}"
                ));
            }
            let bytes = page
                .get(at..end)
                .ok_or_else(|| format!("page {pgno}: item {i} outside the page"))?;
            end = at;
            Ok(bytes)
        };
        for i in (0..entries).step_by(2) {
            let key = item(i)?;
            let data = item(i + 1)?;
            let pair = self
                .resolve(key, seen)
                .map_err(|e| format!("key: {e}"))
                .and_then(|k| Ok((k, self.resolve(data, seen)?)));
            f(pair);
        }
        Ok(())
    }

    /// The bytes an item stands for: on the page, or gathered from its overflow pages.
    fn resolve(&self, item: &'a [u8], seen: &mut [bool]) -> Result<Cow<'a, [u8]>, String> {
        match item.first().copied() {
            Some(H_KEYDATA) => Ok(Cow::Borrowed(item.get(1..).unwrap_or_default())),
            Some(H_OFFPAGE) => {
                let (Some(first), Some(tlen)) = (self.u32(item, 4), self.u32(item, 8)) else {
                    return Err("truncated off-page item".into());
                };
                self.overflow(first, tlen as usize, seen).map(Cow::Owned)
            }
            Some(H_DUPLICATE | H_OFFDUP) => Err("duplicate items (not expected here)".into()),
            t => Err(format!("item type {}", t.unwrap_or_default())),
        }
    }

    fn overflow(&self, first: u32, tlen: usize, seen: &mut [bool]) -> Result<Vec<u8>, String> {
        if tlen > self.data.len() {
            return Err(format!(
                "off-page item of {tlen} bytes, larger than the file"
            ));
        }
        let mut out = Vec::with_capacity(tlen);
        let mut pgno = first;
        loop {
            let page = self.claim(pgno, seen)?;
            if page[25] != P_OVERFLOW {
                return Err(format!("page {pgno} has type {}, not overflow", page[25]));
            }
            let len = usize::from(self.u16(page, 22).unwrap_or_default());
            let bytes = page
                .get(self.overhead..self.overhead + len)
                .ok_or_else(|| format!("overflow page {pgno} holds {len} bytes"))?;
            if out.len() + bytes.len() > tlen {
                return Err(format!(
                    "overflow chain longer than the item's {tlen} bytes"
                ));
            }
            out.extend_from_slice(bytes);
            pgno = self.u32(page, 16).unwrap_or_default();
            if pgno == 0 {
                break;
            }
        }
        if out.len() != tlen {
            return Err(format!(
                "overflow chain holds {} of the item's {tlen} bytes",
                out.len()
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A hash database as Berkeley DB lays it out: meta page, one bucket page (chained to
    /// further bucket pages when full), values longer than `big` on overflow pages of
    /// `pagesize`.
    pub(crate) fn build(
        big_endian: bool,
        pagesize: usize,
        chksum: bool,
        big: usize,
        pairs: &[(Vec<u8>, Vec<u8>)],
    ) -> Vec<u8> {
        let overhead = if chksum { 32 } else { 26 };
        let u16b = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u32b = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let new_page = |pgno: usize, kind: u8| {
            let mut p = vec![0; pagesize];
            p[8..12].copy_from_slice(&u32b(pgno as u32));
            p[25] = kind;
            p
        };
        let mut pages: Vec<Vec<u8>> = vec![vec![0; pagesize], new_page(1, P_HASH)];
        let mut bucket = 1;
        let mut hoff = pagesize;
        let mut entries = 0usize;
        for (k, v) in pairs {
            let mut items = Vec::new();
            for bytes in [k, v] {
                if bytes.len() <= big {
                    let mut item = vec![H_KEYDATA];
                    item.extend_from_slice(bytes);
                    items.push(item);
                    continue;
                }
                let first = pages.len();
                let chunks: Vec<&[u8]> = bytes.chunks(pagesize - overhead).collect();
                for (n, chunk) in chunks.iter().enumerate() {
                    let pgno = pages.len();
                    let mut p = new_page(pgno, P_OVERFLOW);
                    if n + 1 < chunks.len() {
                        p[16..20].copy_from_slice(&u32b(pgno as u32 + 1));
                    }
                    p[20..22].copy_from_slice(&u16b(1));
                    p[22..24].copy_from_slice(&u16b(chunk.len() as u16));
                    p[overhead..overhead + chunk.len()].copy_from_slice(chunk);
                    pages.push(p);
                }
                let mut item = vec![H_OFFPAGE, 0, 0, 0];
                item.extend_from_slice(&u32b(first as u32));
                item.extend_from_slice(&u32b(bytes.len() as u32));
                items.push(item);
            }
            let need: usize = items.iter().map(|i| i.len() + 2).sum();
            if hoff < overhead + 2 * entries + need {
                let pgno = pages.len();
                pages[bucket][16..20].copy_from_slice(&u32b(pgno as u32));
                pages.push(new_page(pgno, P_HASH));
                bucket = pgno;
                hoff = pagesize;
                entries = 0;
            }
            for item in items {
                hoff -= item.len();
                let p = &mut pages[bucket];
                p[hoff..hoff + item.len()].copy_from_slice(&item);
                let at = overhead + 2 * entries;
                p[at..at + 2].copy_from_slice(&u16b(hoff as u16));
                entries += 1;
                p[20..22].copy_from_slice(&u16b(entries as u16));
                p[22..24].copy_from_slice(&u16b(hoff as u16));
            }
        }
        let last = pages.len() as u32 - 1;
        let meta = &mut pages[0];
        meta[12..16].copy_from_slice(&u32b(HASH_MAGIC));
        meta[16..20].copy_from_slice(&u32b(9));
        meta[20..24].copy_from_slice(&u32b(pagesize as u32));
        meta[25] = P_HASHMETA;
        meta[26] = u8::from(chksum);
        meta[32..36].copy_from_slice(&u32b(last));
        // One bucket (0), at page 1: spares[log2(1) = 0] = 1.
        meta[96..100].copy_from_slice(&u32b(1));
        pages.concat()
    }

    type Owned = Result<(Vec<u8>, Vec<u8>), String>;

    fn read_all(data: &[u8]) -> Result<Vec<Owned>, String> {
        let hash = Hash::open(data)?;
        let mut out = Vec::new();
        hash.each(|p| out.push(p.map(|(k, v)| (k.into_owned(), v.into_owned()))))?;
        Ok(out)
    }

    fn sample() -> Vec<(Vec<u8>, Vec<u8>)> {
        vec![
            (vec![0; 4], vec![3, 0, 0, 0]),
            (vec![1, 0, 0, 0], b"small".to_vec()),
            (vec![2, 0, 0, 0], (0..1400u32).map(|i| i as u8).collect()),
        ]
    }

    #[test]
    fn reads_what_it_built_in_every_layout() {
        for big_endian in [false, true] {
            for chksum in [false, true] {
                for pagesize in [512, 4096, 65536] {
                    let data = build(big_endian, pagesize, chksum, 100, &sample());
                    let got = read_all(&data).unwrap();
                    let got: Vec<_> = got.into_iter().map(Result::unwrap).collect();
                    assert_eq!(got, sample(), "{big_endian} {chksum} {pagesize}");
                    assert_eq!(Hash::open(&data).unwrap().big_endian(), big_endian);
                }
            }
        }
    }

    /// Page `n` of a built 512-byte-page file.
    fn page(data: &mut [u8], n: usize) -> &mut [u8] {
        &mut data[n * 512..(n + 1) * 512]
    }

    #[test]
    fn hostile_files() {
        let good = build(false, 512, false, 100, &sample());
        // Pages: 0 meta, 1 bucket, 2..=4 the 1400-byte value's overflow chain.
        assert_eq!(good.len(), 5 * 512);
        // Every truncation: an error, never a panic; at a page boundary, "truncated".
        for n in 0..good.len() {
            let r = read_all(&good[..n]);
            assert!(r.is_err(), "truncated to {n}");
            if n % 512 == 0 && n >= 512 {
                assert!(r.unwrap_err().contains("truncated"), "{n}");
            }
        }
        // Bad magic, a btree, an unknown version, a bad page size, encryption.
        let mut bad = good.clone();
        bad[12] ^= 0xff;
        assert!(read_all(&bad).unwrap_err().contains("magic"));
        bad[12..16].copy_from_slice(&BTREE_MAGIC.to_le_bytes());
        assert!(read_all(&bad).unwrap_err().contains("btree"));
        let mut bad = good.clone();
        bad[16..20].copy_from_slice(&99u32.to_le_bytes());
        assert!(read_all(&bad).unwrap_err().contains("version"));
        let mut bad = good.clone();
        bad[20..24].copy_from_slice(&1000u32.to_le_bytes());
        assert!(read_all(&bad).unwrap_err().contains("page size"));
        let mut bad = good.clone();
        bad[24] = 1;
        assert!(read_all(&bad).unwrap_err().contains("encrypted"));
        // last_pgno beyond the file.
        let mut bad = good.clone();
        bad[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read_all(&bad).is_err());
        bad[32..36].copy_from_slice(&1000u32.to_le_bytes());
        assert!(read_all(&bad).unwrap_err().contains("truncated"));

        // A cyclic overflow chain (last page back to the first; a page to itself): that pair
        // fails, the others are read.
        for target in [2u32, 4] {
            let mut bad = good.clone();
            page(&mut bad, 4)[16..20].copy_from_slice(&target.to_le_bytes());
            let got = read_all(&bad).unwrap();
            assert_eq!(got.len(), 3);
            assert!(got[0].is_ok() && got[1].is_ok());
            let e = got[2].as_ref().unwrap_err();
            assert!(e.contains("twice") || e.contains("longer"), "{e}");
        }
        // Overflow page numbers beyond the file: in the item, in the chain.
        let mut bad = good.clone();
        let item = usize::from(u16::from_le_bytes([
            page(&mut bad, 1)[36],
            page(&mut bad, 1)[37],
        ]));
        assert_eq!(page(&mut bad, 1)[item], H_OFFPAGE);
        page(&mut bad, 1)[item + 4..item + 8].copy_from_slice(&4000u32.to_le_bytes());
        assert!(
            read_all(&bad).unwrap()[2]
                .as_ref()
                .unwrap_err()
                .contains("beyond")
        );
        let mut bad = good.clone();
        page(&mut bad, 3)[16..20].copy_from_slice(&7u32.to_le_bytes());
        assert!(
            read_all(&bad).unwrap()[2]
                .as_ref()
                .unwrap_err()
                .contains("beyond")
        );
        // An item length larger than the file, and one that does not match the chain.
        let mut bad = good.clone();
        page(&mut bad, 1)[item + 8..item + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            read_all(&bad).unwrap()[2]
                .as_ref()
                .unwrap_err()
                .contains("larger")
        );
        let mut bad = good.clone();
        page(&mut bad, 1)[item + 8..item + 12].copy_from_slice(&1399u32.to_le_bytes());
        assert!(read_all(&bad).unwrap()[2].is_err());
        let mut bad = good.clone();
        page(&mut bad, 1)[item + 8..item + 12].copy_from_slice(&1401u32.to_le_bytes());
        assert!(read_all(&bad).unwrap()[2].is_err());
        // Overflow data length past the page.
        let mut bad = good.clone();
        page(&mut bad, 2)[22..24].copy_from_slice(&600u16.to_le_bytes());
        assert!(read_all(&bad).unwrap()[2].is_err());
        // A bucket page chained to itself, or to an overflow page already read; a bucket at an
        // overflow page.
        for target in [1u32, 2] {
            let mut bad = good.clone();
            page(&mut bad, 1)[16..20].copy_from_slice(&target.to_le_bytes());
            assert!(read_all(&bad).unwrap_err().contains("twice"));
        }
        let mut bad = good.clone();
        bad[96..100].copy_from_slice(&2u32.to_le_bytes());
        assert!(read_all(&bad).unwrap_err().contains("not a hash page"));
        // More buckets than pages; a bucket whose spare points past the file.
        let mut bad = good.clone();
        bad[72..76].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read_all(&bad).is_err());
        let mut bad = good.clone();
        bad[96..100].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read_all(&bad).unwrap_err().contains("beyond"));
        // Odd entry counts, index offsets inside the index or out of order, a wrong page number.
        let mut bad = good.clone();
        page(&mut bad, 1)[20..22].copy_from_slice(&5u16.to_le_bytes());
        assert!(read_all(&bad).unwrap_err().contains("pairs"));
        let mut bad = good.clone();
        page(&mut bad, 1)[20..22].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(read_all(&bad).is_err());
        let mut bad = good.clone();
        page(&mut bad, 1)[26..28].copy_from_slice(&10u16.to_le_bytes());
        assert!(read_all(&bad).unwrap_err().contains("outside"));
        let mut bad = good.clone();
        page(&mut bad, 1)[28..30].copy_from_slice(&511u16.to_le_bytes());
        assert!(read_all(&bad).unwrap_err().contains("outside"));
        let mut bad = good.clone();
        page(&mut bad, 3)[8..12].copy_from_slice(&9u32.to_le_bytes());
        assert!(
            read_all(&bad).unwrap()[2]
                .as_ref()
                .unwrap_err()
                .contains("numbered")
        );
        // Duplicates and unknown item types.
        for t in [H_DUPLICATE, H_OFFDUP, 0, 9] {
            let mut bad = good.clone();
            page(&mut bad, 1)[item] = t;
            assert!(read_all(&bad).unwrap()[2].is_err());
        }

        // Every byte of every page set to a few values: Ok or Err, never a panic; the work
        // stays linear (each page is read at most once).
        for at in 0..good.len() {
            for v in [0u8, 1, 2, 0x7f, 0xff] {
                let mut bad = good.clone();
                bad[at] = v;
                let _ = read_all(&bad);
            }
        }
    }
}
