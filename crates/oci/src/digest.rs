//! Content digests (<https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests>):
//! parsed strictly, since a digest also names a file (`blobs/<alg>/<hex>`) and a URL path.

use std::fmt;
use std::io::{self, Read};

use sha2::{Digest as _, Sha256, Sha512};

use crate::SourceError;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Digest {
    pub algorithm: &'static str,
    pub hex: String,
}

impl Digest {
    /// `sha256:<64 hex>` or `sha512:<128 hex>`, lowercase: anything else could name a path
    /// outside `blobs/`.
    pub fn parse(s: &str) -> Result<Digest, SourceError> {
        let bad = |reason: &str| SourceError::invalid(format!("digest {s:?}"), reason);
        let (alg, hex) = s.split_once(':').ok_or_else(|| bad("no algorithm"))?;
        let (algorithm, len) = match alg {
            "sha256" => ("sha256", 64),
            "sha512" => ("sha512", 128),
            _ => return Err(bad("unsupported algorithm (sha256 and sha512 are)")),
        };
        if hex.len() != len || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad("not lowercase hex of the algorithm's length"));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }

    pub fn hasher(&self) -> Hasher {
        Hasher::new(self.algorithm)
    }

    pub fn of(data: &[u8]) -> Digest {
        let mut h = Hasher::new("sha256");
        h.update(data);
        h.finish()
    }

    /// An error unless `data` hashes to this digest.
    pub fn verify(&self, what: &str, data: &[u8]) -> Result<(), SourceError> {
        let mut h = self.hasher();
        h.update(data);
        self.check(what, h.finish())
    }

    pub fn check(&self, what: &str, actual: Digest) -> Result<(), SourceError> {
        if actual == *self {
            Ok(())
        } else {
            Err(SourceError::Digest {
                what: what.to_string(),
                expected: self.to_string(),
                actual: actual.to_string(),
            })
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

pub(crate) enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub fn new(algorithm: &str) -> Hasher {
        if algorithm == "sha512" {
            Hasher::Sha512(Sha512::new())
        } else {
            Hasher::Sha256(Sha256::new())
        }
    }
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }
    pub fn finish(self) -> Digest {
        let (algorithm, bytes) = match self {
            Hasher::Sha256(h) => ("sha256", h.finalize().to_vec()),
            Hasher::Sha512(h) => ("sha512", h.finalize().to_vec()),
        };
        let hex = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Digest { algorithm, hex }
    }
}

/// Hashes and counts what is read through it, refusing to read past `limit` bytes (the
/// descriptor's size, or a cap).
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    pub count: u64,
    limit: u64,
    label: &'static str,
}

impl<R: Read> HashingReader<R> {
    /// `algorithm` `None`: count only. `label` names the limit in its error.
    pub fn new(inner: R, algorithm: Option<&str>, limit: u64, label: &'static str) -> Self {
        HashingReader {
            inner,
            hasher: algorithm.map(Hasher::new),
            count: 0,
            limit,
            label,
        }
    }
    pub fn finish(&mut self) -> Digest {
        self.hasher
            .take()
            .unwrap_or_else(|| Hasher::new("sha256"))
            .finish()
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte past the limit is asked for so that "more than allowed" is seen.
        let room = self.limit.saturating_sub(self.count).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.count += n as u64;
        if self.count > self.limit {
            return Err(io::Error::other(LimitExceeded(self.limit, self.label)));
        }
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// The io error a capped reader returns, recognised by [`limit_of`].
#[derive(Debug)]
pub(crate) struct LimitExceeded(pub u64, pub &'static str);

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} over {} bytes", self.1, self.0)
    }
}
impl std::error::Error for LimitExceeded {}

/// The limit when `e` (or an error it wraps, as the tar and decompression crates do) is a
/// [`LimitExceeded`].
pub(crate) fn limit_of(e: &io::Error) -> Option<(u64, &'static str)> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|e| e as _);
    while let Some(err) = cur {
        if let Some(l) = err.downcast_ref::<LimitExceeded>() {
            return Some((l.0, l.1));
        }
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if let Some(inner) = io.get_ref() {
                cur = Some(inner as _);
                continue;
            }
        }
        cur = err.source();
    }
    None
}

/// Reads all of `r` (at most `limit` bytes) into memory.
pub(crate) fn read_capped(
    mut r: impl Read,
    what: &str,
    limit: u64,
) -> Result<Vec<u8>, SourceError> {
    let mut out = Vec::new();
    (&mut r)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| match limit_of(&e) {
            Some((limit, _)) => SourceError::TooLarge {
                what: what.to_string(),
                limit,
            },
            None => SourceError::io(what, e),
        })?;
    if out.len() as u64 > limit {
        return Err(SourceError::TooLarge {
            what: what.to_string(),
            limit,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_strict() {
        let d = Digest::of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        for bad in [
            "sha256:../../etc/passwd",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hashing_reader_caps() {
        let mut r = HashingReader::new(&[0u8; 10][..], Some("sha256"), 5, "test");
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(limit_of(&e), Some((5, "test")));
    }
}
