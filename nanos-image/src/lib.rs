//! Nanos disk images, written and read without ops: the same bytes for
//! the same inputs on any machine (no timestamps, no random UUIDs, files in
//! path order), so anyone can rebuild an image and compare digests.
//!
//! The small API: describe the root filesystem ([`FsSpec`]: a tree of files
//! and directories plus the root tuple's entries, from which Nanos reads its
//! program, arguments, environment and mounts), name the release's `boot.img` and
//! `kernel.img` ([`ImageSpec`]), [`write_image`]; read any image back with
//! [`inspect`] (partitions, manifest, every file with its size and sha256,
//! and a content digest). Readers return [`FormatError`] (what and at which
//! byte), never panic, on any input.
//!
//! ```
//! use std::collections::BTreeMap;
//! use nanos_image::{inspect, write_image, FsSpec, ImageSpec, Node, Source, Value};
//!
//! let dir = tempfile::tempdir()?;
//! // A real image takes boot.img and kernel.img from a Nanos release; the
//! // test double has a valid boot record and nothing to boot.
//! std::fs::write(dir.path().join("boot.img"), nanos_image::mbr::boot_image_test_double(4))?;
//! std::fs::write(dir.path().join("kernel.img"), b"a kernel")?;
//! std::fs::write(dir.path().join("hello"), b"\x7fELF...")?;
//!
//! let mut tree = BTreeMap::new();
//! nanos_image::tfs::insert(&mut tree, "/hello", Node::File(Source::Host(dir.path().join("hello"))))?;
//! let root = FsSpec {
//!     label: String::new(),
//!     size: None, // as large as the contents
//!     meta: BTreeMap::from([
//!         ("program".to_string(), Value::str("/hello")),
//!         ("arguments".to_string(), Value::Vector(vec![Value::str("hello")])),
//!     ]),
//!     tree,
//! };
//! let spec = ImageSpec { boot: dir.path().join("boot.img"), kernel: dir.path().join("kernel.img"), root };
//! let image = dir.path().join("hello.img");
//! write_image(&spec, &image, &|_bytes_written| {})?;
//!
//! let report = inspect(&std::fs::File::open(&image)?)?;
//! assert_eq!(report.filesystems[1].manifest["program"], "/hello");
//! assert!(report.filesystems[1].files.iter().any(|f| f.path == "/hello" && f.size == Some(7)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The byte formats were read from the public sources of NanoVMs ops
//! (`fs/tfs.go`, `fs/mkfs.go`, `lepton/image.go`, 2026) and Nanos
//! (`tools/mkfs.c`, `src/fs/tlog.c`, `src/runtime/tuple.c`,
//! `src/runtime/storage.h`, `src/kernel/region.h`, kernel b9c3671); this is
//! our own code. Layers, bottom up:
//!
//! - [`encoding`]: big-endian base-128 varints and value headers.
//! - [`tuple`]: values (tuples, vectors, strings...), the interning encoder
//!   ops uses, and a decoder for any log (references, updates, deletions).
//! - [`tlog`]: the TFS log: extensions, records, links.
//! - [`tfs`]: a whole filesystem: file placement plus the log (writer), the
//!   decoded tree and file contents (reader).
//! - [`mbr`]: the boot record: the stage1 region record and partitions.
//! - [`image`]: a bootable image (boot.img, kernel log gap, boot filesystem,
//!   root filesystem, partitions) and its manifest, the way ops lays it out.
//! - [`inspect`]: any image back: partitions, manifest, files, content digest.

pub mod encoding;
pub mod image;
pub mod inspect;
pub mod mbr;
pub mod tfs;
pub mod tlog;
pub mod tuple;

pub use image::{write_image, ImageSpec, WrittenImage};
pub use inspect::{inspect, Inspected};
pub use tfs::{FsSpec, Node, Source};
pub use tuple::Value;

use std::fmt;

pub const SECTOR: u64 = 512;

/// A malformed image: what is wrong and where (a byte offset in the image
/// file, or in a tuple record when the record spans log extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub offset: u64,
    pub message: String,
}

impl FormatError {
    pub fn at(offset: u64, message: impl Into<String>) -> Self {
        Self { offset, message: message.into() }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for FormatError {}

/// Random access to an image: a file, or bytes in memory (tests, fuzzing).
pub trait Disk {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl Disk for std::fs::File {
    fn len(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

impl Disk for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).ok().filter(|&s| s <= self.as_slice().len());
        match start.and_then(|s| self.get(s..s.checked_add(buf.len())?)) {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "read past the end of the image")),
        }
    }
}

/// Reads `len` bytes at `offset`, as a format error when they are not there.
pub fn read_bytes(disk: &dyn Disk, offset: u64, len: u64) -> Result<Vec<u8>, FormatError> {
    let end = offset.checked_add(len).filter(|&e| e <= disk.len());
    if end.is_none() {
        return Err(FormatError::at(
            offset,
            format!("needs {len} bytes here, but the image is only {} bytes long", disk.len()),
        ));
    }
    let mut buf = vec![0u8; len as usize];
    disk.read_at(offset, &mut buf).map_err(|e| FormatError::at(offset, format!("cannot read {len} bytes: {e}")))?;
    Ok(buf)
}
