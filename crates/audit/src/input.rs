//! Opening audit log inputs: files, gzip-compressed files (detected by their magic bytes, not
//! their name) and stdin (`-`). The only module of this crate that touches the file system.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

/// Read buffer size: large enough that line splitting rarely crosses a refill.
const BUF_SIZE: usize = 256 * 1024;

/// Opens `path` (or stdin for `-`) for [`crate::EventReader`], decompressing gzip transparently.
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    if path.as_os_str() == "-" {
        return from_reader(io::stdin());
    }
    from_reader(File::open(path)?)
}

/// Wraps any reader, decompressing it when it starts with the gzip magic bytes `1f 8b`.
pub fn from_reader<R: Read + Send + 'static>(r: R) -> io::Result<Box<dyn BufRead + Send>> {
    let mut br = BufReader::with_capacity(BUF_SIZE, r);
    let head = br.fill_buf()?;
    if head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        Ok(Box::new(BufReader::with_capacity(
            BUF_SIZE,
            MultiGzDecoder::new(br),
        )))
    } else {
        Ok(Box::new(br))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_is_detected_by_magic() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"{\"auditID\":\"z\"}\n").unwrap();
        let gz = enc.finish().unwrap();
        let mut r = crate::EventReader::new("x.log", from_reader(io::Cursor::new(gz)).unwrap());
        let (_, ev) = r.next_event().unwrap().unwrap();
        assert_eq!(ev.audit_id(), "z");
        let mut plain = crate::EventReader::new(
            "y",
            from_reader(io::Cursor::new(b"{\"auditID\":\"p\"}".to_vec())).unwrap(),
        );
        assert_eq!(plain.next_event().unwrap().unwrap().1.audit_id(), "p");
    }
}
