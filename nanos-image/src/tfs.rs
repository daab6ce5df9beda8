//! A whole TFS filesystem: placement of file data and the log that
//! describes it.
//!
//! Writing follows ops's order, made deterministic: the one-sector initial
//! log extension and the first 512 KiB extension come first, then each
//! file's data, sector-aligned, in sorted path order (depth first), then
//! any further log extensions. A directory is `{children:{...}}`, a file
//! `{extents:{0:{allocated, length, offset}}, filelength}` with sizes in
//! sectors written as strings, as ops writes them. The UUID is a digest of
//! the label, the encoded tree and every file's bytes: no randomness.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::tlog::{self, Log, EXTENSION_BYTES, INITIAL_EXTENSION_BYTES, MAX_LABEL_BYTES, UUID_BYTES};
use super::tuple::{Encoder, Value};
use super::{Disk, FormatError, SECTOR};

/// A directory tree to write.
#[derive(Debug, Clone)]
pub enum Node {
    Dir(BTreeMap<String, Node>),
    File(Source),
}

/// Where a file's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    Host(PathBuf),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
pub struct FsSpec {
    pub label: String,
    /// A fixed filesystem size (the boot filesystem's 12 MiB); `None`: as
    /// large as the contents.
    pub size: Option<u64>,
    /// The root tuple's entries besides `children` (the image manifest).
    pub meta: BTreeMap<String, Value>,
    pub tree: BTreeMap<String, Node>,
}

#[derive(Debug, Clone)]
pub struct WrittenFs {
    pub uuid: [u8; UUID_BYTES],
    /// Bytes the filesystem occupies (its partition size).
    pub size: u64,
}

/// Inserts a file at an absolute guest path, creating directories.
pub fn insert(tree: &mut BTreeMap<String, Node>, path: &str, node: Node) -> Result<()> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if !path.starts_with('/') || parts.is_empty() || parts.iter().any(|p| *p == "." || *p == "..") {
        bail!("guest path {path:?} must be absolute and must not contain '.' or '..'");
    }
    let (name, dirs) = parts.split_last().expect("not empty");
    let mut dir = tree;
    for d in dirs {
        match dir.entry(d.to_string()).or_insert_with(|| Node::Dir(BTreeMap::new())) {
            Node::Dir(children) => dir = children,
            Node::File(_) => bail!("guest path {path:?}: {d:?} is a file, not a directory"),
        }
    }
    match (dir.get(*name), &node) {
        (Some(Node::Dir(existing)), Node::Dir(_)) if existing.is_empty() => {}
        (Some(Node::Dir(_)), Node::Dir(_)) => return Ok(()),
        (Some(_), _) => bail!("guest path {path:?} is given twice"),
        (None, _) => {}
    }
    dir.insert(name.to_string(), node);
    Ok(())
}

struct Placer<'a> {
    out: &'a File,
    base: u64,
    allocated: u64,
    limit: Option<u64>,
    hasher: blake3::Hasher,
    progress: &'a dyn Fn(u64),
}

/// Copies `reader` into `out` at `at` while a second thread hashes the
/// same chunks: reading and writing chunk i+1 overlaps hashing chunk i.
/// Returns the bytes copied.
fn copy_and_hash(reader: &mut dyn Read, out: &File, at: u64, hasher: &mut blake3::Hasher) -> std::io::Result<u64> {
    const CHUNK: usize = 1 << 20;
    std::thread::scope(|s| {
        let (to_hasher, hashing) = std::sync::mpsc::sync_channel::<Vec<u8>>(1);
        let (to_reader, free) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        for _ in 0..2 {
            to_reader.send(vec![0u8; CHUNK]).expect("room for two buffers");
        }
        let hasher_thread = s.spawn(move || {
            for chunk in hashing {
                hasher.update(&chunk);
                if to_reader.send(chunk).is_err() {
                    break;
                }
            }
        });
        let mut done = 0u64;
        let result = loop {
            let mut buf = free.recv().expect("the hasher returns every buffer");
            buf.resize(CHUNK, 0);
            let n = match reader.read(&mut buf) {
                Ok(0) => break Ok(done),
                Ok(n) => n,
                Err(e) => break Err(e),
            };
            buf.truncate(n);
            if let Err(e) = out.write_all_at(&buf, at + done) {
                break Err(e);
            }
            done += n as u64;
            to_hasher.send(buf).expect("the hasher runs until the channel closes");
        };
        drop(to_hasher);
        hasher_thread.join().expect("hashing does not panic");
        result
    })
}

impl Placer<'_> {
    /// Writes one file's bytes at the next free sector; returns its tuple.
    fn file(&mut self, path: &str, source: &Source) -> Result<Value> {
        let (len, mut reader): (u64, Box<dyn Read>) = match source {
            Source::Bytes(b) => (b.len() as u64, Box::new(std::io::Cursor::new(b.clone()))),
            Source::Host(p) => {
                let f = File::open(p).with_context(|| format!("cannot open {} (for {path})", p.display()))?;
                (f.metadata()?.len(), Box::new(f))
            }
        };
        let mut file = BTreeMap::from([("filelength".to_string(), Value::str(len.to_string()))]);
        let mut extents = BTreeMap::new();
        if len > 0 {
            let sectors = len.div_ceil(SECTOR);
            let offset = self.allocated;
            if let Some(limit) = self.limit {
                if offset + sectors * SECTOR > limit {
                    bail!(
                        "{path} ({len} bytes) does not fit: the filesystem is {limit} bytes and {offset} are used before it; raise the declared size or leave the file out"
                    );
                }
            }
            let copied = copy_and_hash(reader.as_mut(), self.out, self.base + offset, &mut self.hasher)
                .with_context(|| format!("cannot copy the source of {path} into the image"))?;
            if copied != len {
                bail!("the source of {path} changed size while it was being written ({copied} of {len} bytes)");
            }
            (self.progress)(len);
            self.allocated += sectors * SECTOR;
            extents.insert(
                "0".to_string(),
                Value::tuple([
                    ("allocated", Value::str(sectors.to_string())),
                    ("length", Value::str(sectors.to_string())),
                    ("offset", Value::str((offset / SECTOR).to_string())),
                ]),
            );
        }
        self.hasher.update(path.as_bytes());
        self.hasher.update(&len.to_le_bytes());
        file.insert("extents".to_string(), Value::Tuple(extents));
        Ok(Value::Tuple(file))
    }

    fn dir(&mut self, prefix: &str, children: &BTreeMap<String, Node>) -> Result<Value> {
        let mut tuple = BTreeMap::new();
        for (name, node) in children {
            let path = format!("{prefix}/{name}");
            let value = match node {
                Node::Dir(sub) => self.dir(&path, sub)?,
                Node::File(source) => self.file(&path, source)?,
            };
            tuple.insert(name.clone(), value);
        }
        Ok(Value::tuple([("children", Value::Tuple(tuple))]))
    }
}

/// Total bytes of the files in a tree (for progress bars).
pub fn data_bytes(tree: &BTreeMap<String, Node>) -> Result<u64> {
    let mut total = 0;
    for node in tree.values() {
        total += match node {
            Node::Dir(sub) => data_bytes(sub)?,
            Node::File(Source::Bytes(b)) => b.len() as u64,
            Node::File(Source::Host(p)) => {
                std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?.len()
            }
        };
    }
    Ok(total)
}

/// Writes the filesystem at `base` in `out` (which must be zero there).
pub fn write(out: &File, base: u64, spec: &FsSpec, progress: &dyn Fn(u64)) -> Result<WrittenFs> {
    if spec.label.len() > MAX_LABEL_BYTES {
        bail!("volume label {:?} is longer than {MAX_LABEL_BYTES} bytes", spec.label);
    }
    let first_data = INITIAL_EXTENSION_BYTES + EXTENSION_BYTES;
    if let Some(limit) = spec.size {
        if limit < first_data {
            bail!("a {limit}-byte filesystem cannot hold even its log ({first_data} bytes)");
        }
    }
    let mut placer = Placer {
        out,
        base,
        allocated: first_data,
        limit: spec.size,
        hasher: blake3::Hasher::new_derive_key("header-chain-gevulot nanos tfs uuid v1"),
        progress,
    };
    let Value::Tuple(mut root) = placer.dir("", &spec.tree)? else { unreachable!("dir gives a tuple") };
    root.extend(spec.meta.clone());
    let mut encoder = Encoder::default();
    encoder.encode(&Value::Tuple(root));
    placer.hasher.update(spec.label.as_bytes());
    placer.hasher.update(&[0]);
    placer.hasher.update(&encoder.out);
    let mut uuid = [0u8; UUID_BYTES];
    uuid.copy_from_slice(&placer.hasher.finalize().as_bytes()[..UUID_BYTES]);
    // RFC 9562 version 8 (custom) and variant bits: derived, not random.
    uuid[6] = (uuid[6] & 0x0f) | 0x80;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    let mut next_free = placer.allocated;
    let extensions =
        tlog::write_log(&uuid, &spec.label, &encoder.out, &mut next_free, spec.size).map_err(anyhow::Error::msg)?;
    for ext in &extensions {
        out.write_all_at(&ext.bytes, base + ext.offset).context("cannot write the image")?;
    }
    Ok(WrittenFs { uuid, size: spec.size.unwrap_or(next_free) })
}

/// A filesystem read back.
#[derive(Debug, Clone)]
pub struct Tfs {
    pub base: u64,
    pub size: u64,
    pub log: Log,
}

pub fn read(disk: &dyn Disk, base: u64, size: u64) -> Result<Tfs, FormatError> {
    Ok(Tfs { base, size, log: tlog::read_log(disk, base, size)? })
}

/// One entry of a filesystem's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File { length: u64 },
    Symlink { target: String },
    Other,
}

impl Tfs {
    /// Every path under the root, sorted, with its tuple.
    pub fn entries(&self) -> Vec<(String, EntryKind, &Value)> {
        let mut out = Vec::new();
        fn walk<'a>(prefix: &str, dir: &'a Value, out: &mut Vec<(String, EntryKind, &'a Value)>) {
            let Some(children) = dir.as_tuple().and_then(|t| t.get("children")).and_then(Value::as_tuple) else {
                return;
            };
            for (name, node) in children {
                if name == "." || name == ".." {
                    continue;
                }
                let path = format!("{prefix}/{name}");
                let t = node.as_tuple();
                let kind = if t.is_some_and(|t| t.contains_key("children")) {
                    EntryKind::Dir
                } else if let Some(target) = t.and_then(|t| t.get("linktarget")).and_then(Value::text) {
                    EntryKind::Symlink { target }
                } else if t.is_some_and(|t| t.contains_key("extents")) {
                    EntryKind::File { length: t.and_then(|t| t.get("filelength")).and_then(Value::as_u64).unwrap_or(0) }
                } else {
                    EntryKind::Other
                };
                let is_dir = kind == EntryKind::Dir;
                out.push((path.clone(), kind, node));
                if is_dir {
                    walk(&path, node, out);
                }
            }
        }
        walk("", &self.log.root, &mut out);
        out
    }

    /// Streams a file's bytes (holes and uninitialised extents as zeros).
    pub fn read_file(
        &self,
        disk: &dyn Disk,
        path: &str,
        file: &Value,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), FormatError> {
        let err = |m: String| FormatError::at(self.base, format!("{path}: {m}"));
        let t = file.as_tuple().ok_or_else(|| err("not a file".into()))?;
        let length = match t.get("filelength") {
            None => 0,
            Some(v) => v.as_u64().ok_or_else(|| err(format!("filelength {:?} is not a number", v.text())))?,
        };
        if length > self.size {
            return Err(err(format!("filelength {length} exceeds the {}-byte filesystem", self.size)));
        }
        let extents = t.get("extents").and_then(Value::as_tuple).ok_or_else(|| err("has no extents".into()))?;
        let mut list = Vec::new();
        for (key, ext) in extents {
            let field = |name: &str| -> Result<u64, FormatError> {
                ext.as_tuple()
                    .and_then(|e| e.get(name))
                    .and_then(Value::as_u64)
                    .ok_or_else(|| err(format!("extent {key} has no numeric {name}")))
            };
            let file_sector: u64 = key.parse().map_err(|_| err(format!("extent key {key:?} is not a number")))?;
            let uninited = ext.as_tuple().is_some_and(|e| e.contains_key("uninited"));
            list.push((file_sector, field("length")?, field("offset")?, uninited));
        }
        list.sort();
        let zeros = vec![0u8; 1 << 16];
        let emit_zeros = |mut n: u64, sink: &mut dyn FnMut(&[u8])| {
            while n > 0 {
                let k = n.min(zeros.len() as u64);
                sink(&zeros[..k as usize]);
                n -= k;
            }
        };
        let mut pos = 0u64;
        for (file_sector, sectors, disk_sector, uninited) in list {
            let (start, bytes) = file_sector
                .checked_mul(SECTOR)
                .zip(sectors.checked_mul(SECTOR))
                .ok_or_else(|| err("extent overflows".into()))?;
            let disk_off =
                disk_sector.checked_mul(SECTOR).filter(|o| o.checked_add(bytes).is_some_and(|e| e <= self.size));
            let Some(disk_off) = disk_off else {
                return Err(err(format!(
                    "extent at sector {disk_sector} ({sectors} sectors) lies outside the filesystem"
                )));
            };
            if start < pos {
                return Err(err(format!("extents overlap at file byte {start}")));
            }
            if start >= length {
                break;
            }
            emit_zeros(start - pos, sink);
            let take = bytes.min(length - start);
            if uninited {
                emit_zeros(take, sink);
            } else {
                let mut done = 0;
                let mut buf = vec![0u8; (1 << 20).min(take as usize)];
                while done < take {
                    let k = (take - done).min(buf.len() as u64) as usize;
                    disk.read_at(self.base + disk_off + done, &mut buf[..k]).map_err(|e| {
                        FormatError::at(self.base + disk_off + done, format!("{path}: cannot read: {e}"))
                    })?;
                    sink(&buf[..k]);
                    done += k as u64;
                }
            }
            pos = start + take;
        }
        emit_zeros(length - pos, sink);
        Ok(())
    }
}
