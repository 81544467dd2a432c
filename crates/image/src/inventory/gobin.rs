//! Go build information embedded in executables: the main module, its dependencies and the
//! toolchain version.
//!
//! Format: Go's `src/debug/buildinfo/buildinfo.go` (readRawBuildInfo) and
//! `src/runtime/debug/mod.go` (ParseBuildInfo), <https://github.com/golang/go>. A 32-byte
//! header starting `\xff Go buildinf:`, then the pointer size and a flags byte (0x1 big-endian,
//! 0x2 inline strings). Go 1.18+ (inline): two uvarint-length-prefixed strings, the toolchain
//! version and the module info. Before 1.18: two pointers to Go string headers
//! (`{data *byte, len int}`), read here through the section headers' addresses. The module
//! info is framed by two 16-byte sentinels; its lines are `path`, `mod`, `dep` and `=>` (a
//! replacement of the line above), tab-separated.
//!
//! Packages: each `dep` (a `=>` with a version replaces its path and version; a local
//! replacement, without version, keeps the original), the main module unless its version is
//! `(devel)`, and the toolchain as `stdlib` (`go1.21.3 X:boringcrypto` → `1.21.3`).

use super::elf::{Elf, Reader, slice};
use super::{InventoryError, package};
use crate::package::Package;

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER: usize = 32;
/// Longest module info read (the largest real ones are a few hundred KiB).
const MAX_STRING: u64 = 16 << 20;

pub(crate) fn packages(elf: &Elf<'_>, path: &str) -> Result<Vec<Package>, InventoryError> {
    let err = |m: String| InventoryError::new(path, format!("Go build info: {m}"));
    let (region, base) = match elf.section(".go.buildinfo") {
        Some(Ok(s)) => (s, true),
        Some(Err(e)) => return Err(err(e)),
        None => (elf.data, false),
    };
    let Some(at) = find_magic(region) else {
        return if base {
            Err(err("no header in .go.buildinfo".into()))
        } else {
            Ok(Vec::new())
        };
    };
    let header = region.get(at..).unwrap_or_default();
    let (version, modinfo) = read_strings(elf, header).map_err(err)?;
    Ok(parse_modinfo(&version, &modinfo, path))
}

fn find_magic(data: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(rel) = data.get(from..)?.iter().position(|&b| b == 0xff) {
        let at = from + rel;
        if data.get(at..at + MAGIC.len()) == Some(MAGIC) && data.len() - at >= HEADER {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn uvarint(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((value, i + 1));
        }
    }
    None
}

fn read_strings(elf: &Elf<'_>, header: &[u8]) -> Result<(String, Vec<u8>), String> {
    let ptr_size = header.get(14).copied().unwrap_or(0);
    let flags = header.get(15).copied().unwrap_or(0);
    if flags & 0x2 != 0 {
        let mut rest = header.get(HEADER..).unwrap_or_default();
        let mut strings = Vec::new();
        for what in ["version", "module info"] {
            let (len, n) = uvarint(rest).ok_or(format!("bad {what} length"))?;
            if len > MAX_STRING {
                return Err(format!("{what} length {len} over the cap"));
            }
            let s = slice(rest, n as u64, len).ok_or(format!("{what} truncated"))?;
            strings.push(s);
            rest = rest.get(n + s.len()..).unwrap_or_default();
        }
        let [version, modinfo] = strings.as_slice() else {
            return Err("unreadable strings".into());
        };
        return Ok((
            String::from_utf8_lossy(version).into_owned(),
            modinfo.to_vec(),
        ));
    }
    // Before Go 1.18: pointers to string headers, in the binary's byte order.
    let is64 = match ptr_size {
        4 => false,
        8 => true,
        n => return Err(format!("pointer size {n}")),
    };
    let r = Reader {
        data: header,
        little: flags & 0x1 == 0,
    };
    let mut strings = Vec::new();
    for i in 0..2u64 {
        let ptr = r
            .word(16 + i * u64::from(ptr_size), is64)
            .ok_or("truncated header")?;
        let hdr = elf
            .at_address(ptr, 2 * u64::from(ptr_size))
            .ok_or(format!("string header at {ptr:#x} outside the file"))?;
        let h = Reader {
            data: hdr,
            little: r.little,
        };
        let (data, len) = (
            h.word(0, is64).ok_or("truncated string header")?,
            h.word(u64::from(ptr_size), is64)
                .ok_or("truncated string header")?,
        );
        if len > MAX_STRING {
            return Err(format!("string length {len} over the cap"));
        }
        let s = if len == 0 {
            &[][..]
        } else {
            elf.at_address(data, len)
                .ok_or(format!("string at {data:#x} outside the file"))?
        };
        strings.push(s);
    }
    let [version, modinfo] = strings.as_slice() else {
        return Err("unreadable strings".into());
    };
    Ok((
        String::from_utf8_lossy(version).into_owned(),
        modinfo.to_vec(),
    ))
}

fn parse_modinfo(version: &str, modinfo: &[u8], path: &str) -> Vec<Package> {
    let mut out = Vec::new();
    let go = version.split_whitespace().next().unwrap_or_default();
    if let Some(v) = go.strip_prefix("go").filter(|v| !v.is_empty()) {
        out.push(package("stdlib", v, "Go", path));
    }
    // The module info is framed by 16-byte sentinels, a newline before the closing one.
    let len = modinfo.len();
    let framed = len >= 33 && modinfo.get(len - 17) == Some(&b'\n');
    let Some(text) = framed.then(|| modinfo.get(16..len - 16)).flatten() else {
        return out;
    };
    let text = String::from_utf8_lossy(text);
    // Index in `out` of the module a following `=>` line replaces.
    let mut last: Option<usize> = None;
    for line in text.lines() {
        let mut fields = line.split('\t');
        let kind = fields.next().unwrap_or_default();
        let (mpath, mversion) = (
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default(),
        );
        let mversion = mversion.strip_prefix('v').unwrap_or(mversion);
        match kind {
            "mod" | "dep" => {
                last = None;
                if mpath.is_empty() || mversion.is_empty() || mversion == "(devel)" {
                    continue;
                }
                last = Some(out.len());
                out.push(package(mpath, mversion, "Go", path));
            }
            "=>" => {
                if let (Some(i), false) = (last.take(), mversion.is_empty())
                    && let Some(p) = out.get_mut(i)
                {
                    p.name = mpath.to_string();
                    p.version = mversion.to_string();
                }
            }
            _ => last = None,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modinfo(lines: &str) -> Vec<u8> {
        let mut m = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6".to_vec();
        m.extend_from_slice(lines.as_bytes());
        m.extend_from_slice(b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2");
        m
    }

    /// A Go 1.18+ blob at an ELF file's end (found by scanning, as without .go.buildinfo).
    fn blob(version: &str, info: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[8, 2]);
        b.resize(HEADER, 0);
        for s in [version.as_bytes(), info] {
            let mut n = s.len();
            loop {
                let byte = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    b.push(byte);
                    break;
                }
                b.push(byte | 0x80);
            }
            b.extend_from_slice(s);
        }
        b
    }

    fn elf_with(tail: &[u8]) -> Vec<u8> {
        let mut e = b"\x7fELF\x02\x01\x01".to_vec();
        e.resize(64, 0); // e_shoff = 0: no section headers
        e.extend_from_slice(tail);
        e
    }

    #[test]
    fn inline_build_info() {
        let info = modinfo(
            "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n\
             dep\tgolang.org/x/net\tv0.17.0\th1:x=\n\
             dep\tgithub.com/a/b\tv1.0.0\th1:y=\n=>\tgithub.com/fork/b\tv1.0.1\th1:z=\n\
             dep\tgithub.com/c/d\tv2.0.0+incompatible\n=>\t../local\t\t\n\
             build\t-compiler=gc\n",
        );
        let data = elf_with(&blob("go1.21.3 X:boringcrypto", &info));
        let elf = Elf::parse(&data).unwrap().unwrap();
        let got: Vec<(String, String)> = packages(&elf, "/app")
            .unwrap()
            .into_iter()
            .map(|p| (p.name, p.version))
            .collect();
        let want = [
            ("stdlib", "1.21.3"),
            ("golang.org/x/net", "0.17.0"),
            ("github.com/fork/b", "1.0.1"),
            ("github.com/c/d", "2.0.0+incompatible"),
        ];
        assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
    }

    #[test]
    fn hostile_build_info() {
        // A length over the cap, a truncated string, and a length varint that never ends.
        for tail in [
            {
                let mut b = blob("go1.22.0", b"");
                b.truncate(HEADER);
                b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
                b
            },
            {
                let mut b = blob("go1.22.0", &modinfo("dep\ta\tv1\n"));
                b.truncate(b.len() - 5);
                b
            },
            {
                let mut b = blob("", b"");
                b.truncate(HEADER);
                b.extend_from_slice(&[0x80; 12]);
                b
            },
        ] {
            let data = elf_with(&tail);
            let elf = Elf::parse(&data).unwrap().unwrap();
            assert!(packages(&elf, "/x").is_err());
        }
        // The pointer format with pointers to nowhere.
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[8, 0]);
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        let data = elf_with(&b);
        let elf = Elf::parse(&data).unwrap().unwrap();
        assert!(
            packages(&elf, "/x")
                .unwrap_err()
                .message
                .contains("outside the file")
        );
    }
}
