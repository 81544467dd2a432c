//! A bounds-checked reader of ELF section headers, 32- and 64-bit, either byte order: only
//! what [`super::gobin`] and [`super::cargo`] need (find a section by name, map a virtual
//! address to file bytes).
//!
//! Format: the System V gABI, "Sections" and "ELF Header",
//! <https://refspecs.linuxfoundation.org/elf/gabi4+/ch4.eheader.html> and
//! <https://refspecs.linuxfoundation.org/elf/gabi4+/ch4.sheader.html>.

const SHT_NOBITS: u32 = 8;
const SHN_XINDEX: u32 = 0xffff;

#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub name: String,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
    pub nobits: bool,
}

#[derive(Debug)]
pub(crate) struct Elf<'a> {
    pub data: &'a [u8],
    pub sections: Vec<Section>,
}

pub(crate) struct Reader<'a> {
    pub data: &'a [u8],
    pub little: bool,
}

impl Reader<'_> {
    pub fn bytes<const N: usize>(&self, at: u64) -> Option<[u8; N]> {
        let at = usize::try_from(at).ok()?;
        self.data.get(at..at.checked_add(N)?)?.try_into().ok()
    }
    pub fn u16(&self, at: u64) -> Option<u16> {
        let b = self.bytes::<2>(at)?;
        Some(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }
    pub fn u32(&self, at: u64) -> Option<u32> {
        let b = self.bytes::<4>(at)?;
        Some(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    pub fn u64(&self, at: u64) -> Option<u64> {
        let b = self.bytes::<8>(at)?;
        Some(if self.little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }
    /// A 4- or 8-byte word.
    pub fn word(&self, at: u64, is64: bool) -> Option<u64> {
        if is64 {
            self.u64(at)
        } else {
            self.u32(at).map(u64::from)
        }
    }
}

/// `data[offset..offset + len]`, `None` when out of bounds.
pub(crate) fn slice(data: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    data.get(start..end)
}

impl<'a> Elf<'a> {
    /// `Ok(None)` when `data` is not ELF; an error when it is and its headers are broken.
    pub fn parse(data: &'a [u8]) -> Result<Option<Elf<'a>>, String> {
        if data.get(..4) != Some(b"\x7fELF") {
            return Ok(None);
        }
        let is64 = match data.get(4) {
            Some(1) => false,
            Some(2) => true,
            other => return Err(format!("unknown ELF class {other:?}")),
        };
        let little = match data.get(5) {
            Some(1) => true,
            Some(2) => false,
            other => return Err(format!("unknown ELF data encoding {other:?}")),
        };
        let r = Reader { data, little };
        let truncated = || "truncated ELF header".to_string();
        let (shoff, shentsize, shnum, shstrndx) = if is64 {
            (
                r.u64(0x28).ok_or_else(truncated)?,
                r.u16(0x3a).ok_or_else(truncated)?,
                r.u16(0x3c).ok_or_else(truncated)?,
                r.u16(0x3e).ok_or_else(truncated)?,
            )
        } else {
            (
                u64::from(r.u32(0x20).ok_or_else(truncated)?),
                r.u16(0x2e).ok_or_else(truncated)?,
                r.u16(0x30).ok_or_else(truncated)?,
                r.u16(0x32).ok_or_else(truncated)?,
            )
        };
        let mut elf = Elf {
            data,
            sections: Vec::new(),
        };
        if shoff == 0 {
            return Ok(Some(elf)); // no section headers (stripped of them): nothing to find
        }
        let entsize = u64::from(shentsize);
        if entsize < if is64 { 64 } else { 40 } {
            return Err(format!("section header size {shentsize} too small"));
        }
        let header = |i: u64| -> Result<(u32, u32, u64, u64, u64, u32), String> {
            let at = i
                .checked_mul(entsize)
                .and_then(|o| o.checked_add(shoff))
                .ok_or("section header offset overflows")?;
            let bad = || format!("section header {i} at {at} is outside the file");
            let name = r.u32(at).ok_or_else(bad)?;
            let kind = r.u32(at + 4).ok_or_else(bad)?;
            Ok(if is64 {
                (
                    name,
                    kind,
                    r.u64(at + 16).ok_or_else(bad)?,
                    r.u64(at + 24).ok_or_else(bad)?,
                    r.u64(at + 32).ok_or_else(bad)?,
                    r.u32(at + 40).ok_or_else(bad)?,
                )
            } else {
                (
                    name,
                    kind,
                    u64::from(r.u32(at + 12).ok_or_else(bad)?),
                    u64::from(r.u32(at + 16).ok_or_else(bad)?),
                    u64::from(r.u32(at + 20).ok_or_else(bad)?),
                    r.u32(at + 24).ok_or_else(bad)?,
                )
            })
        };
        // Over 0xff00 sections: the real count and string table index are in section 0.
        let first = header(0)?;
        let count = if shnum == 0 {
            first.4
        } else {
            u64::from(shnum)
        };
        let strndx = if u32::from(shstrndx) == SHN_XINDEX {
            u64::from(first.5)
        } else {
            u64::from(shstrndx)
        };
        let table_end = count
            .checked_mul(entsize)
            .and_then(|n| n.checked_add(shoff));
        if table_end.is_none_or(|end| end > data.len() as u64) {
            return Err(format!(
                "{count} section headers at {shoff} do not fit in the file"
            ));
        }
        let (_, _, _, str_off, str_size, _) = header(strndx)?;
        let names = slice(data, str_off, str_size).unwrap_or_default();
        for i in 0..count {
            let (name, kind, addr, offset, size, _) = header(i)?;
            let name = usize::try_from(name)
                .ok()
                .and_then(|n| names.get(n..))
                .map(|s| {
                    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
                    String::from_utf8_lossy(s.get(..end).unwrap_or_default()).into_owned()
                })
                .unwrap_or_default();
            elf.sections.push(Section {
                name,
                addr,
                offset,
                size,
                nobits: kind == SHT_NOBITS,
            });
        }
        Ok(Some(elf))
    }

    /// The file bytes of the section `name`: `None` when there is none, an error when its
    /// offset and size lie outside the file.
    pub fn section(&self, name: &str) -> Option<Result<&'a [u8], String>> {
        let s = self.sections.iter().find(|s| s.name == name)?;
        if s.nobits {
            return Some(Ok(&[]));
        }
        Some(slice(self.data, s.offset, s.size).ok_or_else(|| {
            format!(
                "section {name} ({} bytes at {}) lies outside the file",
                s.size, s.offset
            )
        }))
    }

    /// Up to `len` file bytes at virtual address `addr` (within one section).
    pub fn at_address(&self, addr: u64, len: u64) -> Option<&'a [u8]> {
        let s = self
            .sections
            .iter()
            .find(|s| !s.nobits && s.addr != 0 && addr >= s.addr && addr - s.addr < s.size)?;
        let within = addr - s.addr;
        if len > s.size - within {
            return None;
        }
        slice(self.data, s.offset.checked_add(within)?, len)
    }
}
