//! The TFS log: a chain of extensions, each starting with a header
//! (`"NVMTFS"`, version varint, size-in-sectors varint; the first also the
//! 16-byte UUID and a NUL-terminated label) followed by records:
//!
//! | byte | record            | then                                       |
//! |------|-------------------|--------------------------------------------|
//! | 1    | end of log        |                                            |
//! | 2    | tuple available   | total length, segment length, segment     |
//! | 3    | tuple extended    | segment length, segment                    |
//! | 4    | end of segment    | (ignored)                                  |
//! | 5    | extension link    | sector, length in sectors: read on there   |
//!
//! A fresh filesystem (ops, Nanos mkfs) has a one-sector first extension
//! at sector 0 linking to a 512 KiB extension at sector 1; more extensions
//! are taken after the data written so far.

use std::collections::BTreeSet;

use super::encoding::{push_varint, read_varint, take, MAX_VARINT_BYTES};
use super::tuple::{Decoder, Value};
use super::{read_bytes, Disk, FormatError, SECTOR};

pub const MAGIC: &[u8; 6] = b"NVMTFS";
pub const VERSION: u64 = 5;
pub const OLD_VERSION: u64 = 4;
pub const INITIAL_EXTENSION_BYTES: u64 = SECTOR;
pub const EXTENSION_BYTES: u64 = 1024 * SECTOR;
pub const UUID_BYTES: usize = 16;
/// Nanos reads at most 32 bytes of label, its NUL included.
pub const MAX_LABEL_BYTES: usize = 31;

pub const END_OF_LOG: u8 = 1;
pub const TUPLE_AVAILABLE: u8 = 2;
pub const TUPLE_EXTENDED: u8 = 3;
pub const END_OF_SEGMENT: u8 = 4;
pub const EXTENSION_LINK: u8 = 5;

const LINK_BYTES: usize = 1 + 2 * MAX_VARINT_BYTES;
const TUPLE_AVAILABLE_HEADER_BYTES: usize = 1 + 2 * MAX_VARINT_BYTES;
const TUPLE_AVAILABLE_MIN_BYTES: usize = TUPLE_AVAILABLE_HEADER_BYTES + 32;
/// Nanos refuses to stage more than this for one tuple.
pub const MAX_TUPLE_BYTES: u64 = 32 << 20;

/// One extension as written: where it starts in the filesystem, and all of
/// its bytes (zero-padded to its size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

fn extension_header(size: u64, first: Option<(&[u8; UUID_BYTES], &str)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(size as usize);
    out.extend_from_slice(MAGIC);
    push_varint(&mut out, VERSION);
    push_varint(&mut out, size / SECTOR);
    if let Some((uuid, label)) = first {
        out.extend_from_slice(uuid);
        out.extend_from_slice(label.as_bytes());
        out.push(0);
    }
    out
}

fn push_link(buf: &mut Vec<u8>, offset: u64, size: u64) {
    buf.push(EXTENSION_LINK);
    push_varint(buf, offset / SECTOR);
    push_varint(buf, size / SECTOR);
}

/// Writes one tuple record the way ops does: the initial extension at 0
/// linking to the first at `INITIAL_EXTENSION_BYTES`, further extensions
/// taken at `*next_free` (then advanced), never past `limit`.
pub fn write_log(
    uuid: &[u8; UUID_BYTES],
    label: &str,
    record: &[u8],
    next_free: &mut u64,
    limit: Option<u64>,
) -> Result<Vec<Extension>, String> {
    assert!(label.len() <= MAX_LABEL_BYTES, "labels are checked by the caller");
    let mut initial = extension_header(INITIAL_EXTENSION_BYTES, Some((uuid, label)));
    push_link(&mut initial, INITIAL_EXTENSION_BYTES, EXTENSION_BYTES);
    let mut done = vec![Extension { offset: 0, bytes: initial }];
    let mut current = Extension { offset: INITIAL_EXTENSION_BYTES, bytes: extension_header(EXTENSION_BYTES, None) };
    let mut rest = record;
    let mut written = 0;
    while !rest.is_empty() {
        let mut available = EXTENSION_BYTES as usize - current.bytes.len();
        if available < TUPLE_AVAILABLE_MIN_BYTES + LINK_BYTES {
            let offset = *next_free;
            if limit.is_some_and(|l| offset + EXTENSION_BYTES > l) {
                return Err(format!(
                    "the filesystem is full: its log needs another {EXTENSION_BYTES} bytes at offset {offset}"
                ));
            }
            *next_free += EXTENSION_BYTES;
            push_link(&mut current.bytes, offset, EXTENSION_BYTES);
            done.push(std::mem::replace(
                &mut current,
                Extension { offset, bytes: extension_header(EXTENSION_BYTES, None) },
            ));
            available = EXTENSION_BYTES as usize - current.bytes.len();
        }
        let length = (available - LINK_BYTES - TUPLE_AVAILABLE_HEADER_BYTES).min(rest.len());
        if written == 0 {
            current.bytes.push(TUPLE_AVAILABLE);
            push_varint(&mut current.bytes, rest.len() as u64);
        } else {
            current.bytes.push(TUPLE_EXTENDED);
        }
        push_varint(&mut current.bytes, length as u64);
        current.bytes.extend_from_slice(&rest[..length]);
        rest = &rest[length..];
        written += length;
    }
    current.bytes.push(END_OF_LOG);
    done.push(current);
    for ext in &mut done {
        let size = if ext.offset == 0 { INITIAL_EXTENSION_BYTES } else { EXTENSION_BYTES };
        ext.bytes.resize(size as usize, 0);
    }
    Ok(done)
}

/// What a log says: the filesystem's identity and its final root tuple.
#[derive(Debug, Clone)]
pub struct Log {
    pub version: u64,
    pub uuid: [u8; UUID_BYTES],
    pub label: String,
    /// (offset in the filesystem, bytes) of every extension, in chain order.
    pub extensions: Vec<(u64, u64)>,
    pub root: Value,
}

/// Reads the log of the filesystem at `base` (`size` bytes) of `disk`.
pub fn read_log(disk: &dyn Disk, base: u64, size: u64) -> Result<Log, FormatError> {
    let mut decoder = Decoder::default();
    let mut visited = BTreeSet::new();
    let (mut offset, mut length) = (0u64, INITIAL_EXTENSION_BYTES);
    let mut identity: Option<Identity> = None;
    let mut extensions = Vec::new();
    let mut pending = PendingTuple::default();
    loop {
        let abs = base + offset;
        if offset.checked_add(length).is_none_or(|end| end > size) {
            return Err(FormatError::at(
                abs,
                format!("log extension of {length} bytes at filesystem offset {offset} lies outside the {size}-byte filesystem"),
            ));
        }
        if !visited.insert(offset) {
            return Err(FormatError::at(abs, "log extensions link in a cycle"));
        }
        extensions.push((offset, length));
        let buf = read_bytes(disk, abs, length)?;
        let (pos, old) = read_extension_header(&buf, abs, length, &mut identity)?;
        let extension = ExtensionBytes { buf: &buf, abs, size, old };
        match extension.read_records(pos, &mut decoder, &mut pending)? {
            Next::EndOfLog => break,
            Next::Link { offset: next, length: next_length } => (offset, length) = (next, next_length),
        }
    }
    if pending.remain > 0 {
        return Err(FormatError::at(
            pending.at,
            format!("the log ends with {} bytes of a tuple missing", pending.remain),
        ));
    }
    let (version, uuid, label) = identity.expect("the first extension sets it");
    let root = decoder.root(base)?;
    Ok(Log { version, uuid, label, extensions, root })
}

/// The filesystem's version, UUID and label, from its first log extension.
type Identity = (u64, [u8; UUID_BYTES], String);

/// Checks a log extension's header (magic, version, size) and, in the first
/// one, reads the filesystem's identity. Returns where its records start
/// and whether it is the old (version 4) format.
fn read_extension_header(
    buf: &[u8],
    abs: u64,
    length: u64,
    identity: &mut Option<Identity>,
) -> Result<(usize, bool), FormatError> {
    let mut pos = 0usize;
    if buf.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
        return Err(FormatError::at(abs, "no TFS magic \"NVMTFS\" here: not a Nanos filesystem (log extension)"));
    }
    pos += MAGIC.len();
    let version = read_varint(buf, &mut pos, abs)?;
    if version != VERSION && version != OLD_VERSION {
        return Err(FormatError::at(abs + 6, format!("TFS version {version}; this reader knows 4 and 5")));
    }
    let sectors_at = abs + pos as u64;
    let sectors = read_varint(buf, &mut pos, abs)?;
    if sectors * SECTOR != length {
        return Err(FormatError::at(
            sectors_at,
            format!("log extension says it is {sectors} sectors, but was linked as {} sectors", length / SECTOR),
        ));
    }
    if identity.is_none() {
        let uuid: [u8; UUID_BYTES] = buf
            .get(pos..pos + UUID_BYTES)
            .and_then(|u| u.try_into().ok())
            .ok_or_else(|| FormatError::at(abs + pos as u64, "first log extension too short for its UUID"))?;
        pos += UUID_BYTES;
        let label_end =
            buf[pos..].iter().take(MAX_LABEL_BYTES + 1).position(|&b| b == 0).ok_or_else(|| {
                FormatError::at(abs + pos as u64, "volume label is not NUL-terminated within 32 bytes")
            })?;
        let label = String::from_utf8_lossy(&buf[pos..pos + label_end]).into_owned();
        pos += label_end + 1;
        *identity = Some((version, uuid, label));
    }
    Ok((pos, version == OLD_VERSION))
}

/// A tuple whose bytes are still arriving in `TUPLE_EXTENDED` records
/// (possibly in later extensions).
#[derive(Default)]
struct PendingTuple {
    bytes: Vec<u8>,
    /// Where its first record is: offsets inside the tuple count from there.
    at: u64,
    remain: u64,
}

/// What follows a log extension's records.
enum Next {
    EndOfLog,
    Link { offset: u64, length: u64 },
}

/// One log extension's bytes, where they are, and its format.
struct ExtensionBytes<'a> {
    buf: &'a [u8],
    abs: u64,
    size: u64,
    old: bool,
}

impl ExtensionBytes<'_> {
    /// Reads records from `pos` to the end of the log or a link, handing
    /// each whole tuple to `decoder`.
    fn read_records(
        &self,
        mut pos: usize,
        decoder: &mut Decoder,
        pending: &mut PendingTuple,
    ) -> Result<Next, FormatError> {
        let (buf, abs) = (self.buf, self.abs);
        loop {
            let record_at = abs + pos as u64;
            let Some(&record) = buf.get(pos) else {
                return Err(FormatError::at(record_at, "log extension ends without an end-of-log record or a link"));
            };
            pos += 1;
            match record {
                END_OF_LOG => return Ok(Next::EndOfLog),
                END_OF_SEGMENT => {}
                EXTENSION_LINK => {
                    let sector = read_varint(buf, &mut pos, abs)?;
                    let sectors = read_varint(buf, &mut pos, abs)?;
                    if sectors == 0 || sectors > self.size / SECTOR || sector > self.size / SECTOR {
                        return Err(FormatError::at(
                            record_at,
                            format!("link to a log extension of {sectors} sectors at sector {sector}: outside the filesystem"),
                        ));
                    }
                    return Ok(Next::Link { offset: sector * SECTOR, length: sectors * SECTOR });
                }
                TUPLE_AVAILABLE => self.tuple_available(&mut pos, record_at, decoder, pending)?,
                TUPLE_EXTENDED => self.tuple_extended(&mut pos, record_at, decoder, pending)?,
                other => return Err(FormatError::at(record_at, format!("unknown log record type {other}"))),
            }
        }
    }

    /// A tuple's first (or only) segment.
    fn tuple_available(
        &self,
        pos: &mut usize,
        record_at: u64,
        decoder: &mut Decoder,
        pending: &mut PendingTuple,
    ) -> Result<(), FormatError> {
        if pending.remain > 0 {
            return Err(FormatError::at(
                record_at,
                format!("tuple-available record while {} bytes of the previous tuple are missing", pending.remain),
            ));
        }
        let total = read_varint(self.buf, pos, self.abs)?;
        let segment = read_varint(self.buf, pos, self.abs)?;
        if segment > total || total > MAX_TUPLE_BYTES {
            return Err(FormatError::at(
                record_at,
                format!(
                    "tuple-available record with segment {segment} of total {total} bytes (at most {MAX_TUPLE_BYTES})"
                ),
            ));
        }
        let bytes = take_segment(self.buf, pos, segment, self.abs, record_at)?;
        if segment == total {
            decoder.record(bytes, self.abs + (*pos - bytes.len()) as u64, self.old)?;
        } else {
            pending.bytes.clear();
            pending.bytes.extend_from_slice(bytes);
            pending.at = record_at;
            pending.remain = total - segment;
        }
        Ok(())
    }

    /// More of the pending tuple; the tuple is decoded when it is whole.
    fn tuple_extended(
        &self,
        pos: &mut usize,
        record_at: u64,
        decoder: &mut Decoder,
        pending: &mut PendingTuple,
    ) -> Result<(), FormatError> {
        let segment = read_varint(self.buf, pos, self.abs)?;
        if segment > pending.remain {
            return Err(FormatError::at(
                record_at,
                format!("tuple-extended record of {segment} bytes, but only {} are missing", pending.remain),
            ));
        }
        let bytes = take_segment(self.buf, pos, segment, self.abs, record_at)?;
        pending.bytes.extend_from_slice(bytes);
        pending.remain -= segment;
        if pending.remain == 0 {
            decoder.record(&pending.bytes, pending.at, self.old)?;
        }
        Ok(())
    }
}

fn take_segment<'a>(
    buf: &'a [u8],
    pos: &mut usize,
    len: u64,
    abs: u64,
    record_at: u64,
) -> Result<&'a [u8], FormatError> {
    take(buf, pos, len).ok_or_else(|| {
        FormatError::at(
            record_at,
            format!(
                "record segment of {len} bytes runs past the end of its log extension (which ends at byte {})",
                abs + buf.len() as u64
            ),
        )
    })
}
