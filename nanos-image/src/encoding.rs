//! The two integer encodings of the TFS log.
//!
//! - Varints are big-endian base-128: the most significant 7-bit group
//!   first, bit 7 set on every byte but the last (300 = `0x82 0x2c`).
//! - A value header is one byte `immediate(1) | type(3) | extended(1) |
//!   length(3)` (TFS version 5), followed when `extended` is set by the rest
//!   of the length as a varint whose first group continues the 3 bits. TFS
//!   version 4 ("old encoding") has one type bit and 5 length bits.

use super::FormatError;

/// The longest varint of a 64-bit value.
pub const MAX_VARINT_BYTES: usize = 10;

pub fn push_varint(out: &mut Vec<u8>, value: u64) {
    let groups = (64 - value.leading_zeros()).div_ceil(7).max(1);
    for i in (0..groups).rev() {
        let group = ((value >> (i * 7)) & 0x7f) as u8;
        out.push(if i == 0 { group } else { group | 0x80 });
    }
}

/// Reads a varint at `*pos`; `base` is the absolute offset of `buf[0]`, for errors.
pub fn read_varint(buf: &[u8], pos: &mut usize, base: u64) -> Result<u64, FormatError> {
    let start = *pos;
    let mut value: u64 = 0;
    for _ in 0..MAX_VARINT_BYTES {
        let Some(&b) = buf.get(*pos) else {
            return Err(FormatError::at(base + start as u64, "varint runs past the end of its record"));
        };
        *pos += 1;
        if value >> 57 != 0 {
            return Err(FormatError::at(base + start as u64, "varint overflows 64 bits"));
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(FormatError::at(base + start as u64, format!("varint longer than {MAX_VARINT_BYTES} bytes")))
}

/// The next `len` bytes at `*pos` (advancing it), or `None` when fewer are left.
pub fn take<'a>(buf: &'a [u8], pos: &mut usize, len: u64) -> Option<&'a [u8]> {
    let end = usize::try_from(len).ok().and_then(|l| pos.checked_add(l)).filter(|&e| e <= buf.len())?;
    let bytes = &buf[*pos..end];
    *pos = end;
    Some(bytes)
}

pub const TYPE_BUFFER: u8 = 0;
pub const TYPE_TUPLE: u8 = 1;
pub const TYPE_VECTOR: u8 = 2;
pub const TYPE_INTEGER: u8 = 3;
pub const TYPE_STRING: u8 = 4;

/// A decoded value header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Immediate (the value follows) or a reference (to the dictionary).
    pub immediate: bool,
    pub kind: u8,
    /// An element count, a byte length, or a dictionary index.
    pub length: u64,
}

/// Header layout per TFS version: (length bits in the first byte, type bits).
fn layout(old_encoding: bool) -> (u32, u32) {
    if old_encoding {
        (5, 1)
    } else {
        (3, 3)
    }
}

pub fn push_header(out: &mut Vec<u8>, immediate: bool, kind: u8, length: u64) {
    let (imm_bits, _) = layout(false);
    let bits = 64 - length.leading_zeros();
    let words = if bits > imm_bits { (bits - imm_bits).div_ceil(7) } else { 0 };
    let high = if words == 0 { length } else { length >> (words * 7) };
    let mut first = (u8::from(immediate) << 7) | (kind << (imm_bits + 1)) | high as u8;
    if words != 0 {
        first |= 1 << imm_bits;
    }
    out.push(first);
    for i in (0..words).rev() {
        let group = ((length >> (i * 7)) & 0x7f) as u8;
        out.push(if i == 0 { group } else { group | 0x80 });
    }
}

pub fn read_header(buf: &[u8], pos: &mut usize, base: u64, old_encoding: bool) -> Result<Header, FormatError> {
    let start = *pos;
    let Some(&first) = buf.get(*pos) else {
        return Err(FormatError::at(base + start as u64, "value header runs past the end of its record"));
    };
    *pos += 1;
    let (imm_bits, type_bits) = layout(old_encoding);
    let kind = (first >> (imm_bits + 1)) & ((1 << type_bits) - 1);
    let mut length = u64::from(first & ((1 << imm_bits) - 1));
    if first & (1 << imm_bits) != 0 {
        let rest = read_varint(buf, pos, base)?;
        let groups = (*pos - start - 1) as u32;
        let wide = (u128::from(length) << (groups * 7)) | u128::from(rest);
        length =
            u64::try_from(wide).map_err(|_| FormatError::at(base + start as u64, "value length overflows 64 bits"))?;
    }
    Ok(Header { immediate: first >> 7 == 1, kind, length })
}
