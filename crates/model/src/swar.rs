//! Eight bytes at a time ("SIMD within a register"): the primitives the JSON scanners of the
//! audit reader and the Sigma engine search strings and brackets with.

/// `0x01` in every byte.
pub const ONES: u64 = 0x0101_0101_0101_0101;
/// `0x80` in every byte.
pub const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit set in every byte of `v` that is zero (the lowest flagged byte is exact; bytes
/// above it may be false positives, so only `trailing_zeros` of the result is used).
#[inline(always)]
pub fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// The eight bytes of `b` from `i`, little-endian (the first byte is the lowest).
#[inline(always)]
pub fn word(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

/// High bit set in every byte of `v` equal to `byte` (as [`zero_bytes`]: the lowest is exact).
#[inline(always)]
pub fn bytes_equal(v: u64, byte: u8) -> u64 {
    zero_bytes(v ^ (ONES * u64::from(byte)))
}
