//! Reading any Nanos image back (ours, ops's, or a bare filesystem from
//! Nanos's mkfs): partitions, each filesystem's manifest and files, and a
//! content digest.
//!
//! The content digest is the sha256 of a canonical JSON document holding,
//! per filesystem (boot, root): the root tuple without `children` (the
//! manifest), and every path with its kind, size and the sha256 of its
//! bytes. UUIDs, labels' placement, extents and log layout are left out,
//! so two builds of the same inputs agree even when ops built them.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::mbr::{self, TYPE_LINUX};
use super::tfs::{self, EntryKind};
use super::tlog::MAGIC;
use super::tuple::Value;
use super::{image::uuid_string, read_bytes, Disk, FormatError};

#[derive(Debug, Clone, Serialize)]
pub struct Inspected {
    /// "partitioned" (a bootable image) or "filesystem" (a bare TFS).
    pub layout: String,
    pub size: u64,
    pub partitions: Vec<PartitionReport>,
    pub filesystems: Vec<FsReport>,
    pub content_digest: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionReport {
    pub index: usize,
    pub kind: String,
    pub active: bool,
    pub offset: u64,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FsReport {
    pub role: String,
    pub offset: u64,
    pub size: u64,
    pub tfs_version: u64,
    pub uuid: String,
    pub label: String,
    pub log_extensions: usize,
    /// The root tuple without `children`: program, arguments, environment...
    pub manifest: serde_json::Value,
    pub files: Vec<FileReport>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileReport {
    pub path: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

pub fn inspect(disk: &dyn Disk) -> Result<Inspected, FormatError> {
    let size = disk.len();
    let head = read_bytes(disk, 0, 512.min(size))?;
    let mut partitions = Vec::new();
    let mut filesystems = Vec::new();
    let layout;
    if head.starts_with(MAGIC) {
        layout = "filesystem";
        filesystems.push(filesystem(disk, "root", 0, size)?);
    } else {
        layout = "partitioned";
        let sector: [u8; 512] = head
            .as_slice()
            .try_into()
            .map_err(|_| FormatError::at(0, format!("{size} bytes: too short for a boot record or a filesystem")))?;
        if !mbr::has_signature(&sector) {
            return Err(FormatError::at(
                0,
                "neither a boot record (no 55 AA signature) nor a TFS filesystem (no \"NVMTFS\"): not a Nanos image",
            ));
        }
        for index in 0..4 {
            let p = mbr::partition(&sector, index);
            if p.sectors == 0 {
                continue;
            }
            partitions.push(PartitionReport {
                index,
                kind: format!("{:#04x}", p.kind),
                active: p.active,
                offset: p.offset(),
                size: p.size(),
            });
        }
        let (boot, root) = mbr::boot_and_root(&sector);
        for (role, p, index) in [("boot", boot, 0usize), ("root", root, 1)] {
            let entry_at = (mbr::PARTITION_TABLE + index * mbr::PARTITION_ENTRY_BYTES) as u64;
            if p.kind != TYPE_LINUX || p.sectors == 0 {
                return Err(FormatError::at(
                    entry_at,
                    format!("the {role} partition entry has type {:#04x} and {} sectors; a Nanos image has a 0x83 partition here", p.kind, p.sectors),
                ));
            }
            if p.offset() + p.size() > size {
                return Err(FormatError::at(
                    entry_at,
                    format!(
                        "the {role} partition ends at byte {}, past the end of the {size}-byte image",
                        p.offset() + p.size()
                    ),
                ));
            }
            filesystems.push(filesystem(disk, role, p.offset(), p.size())?);
        }
    }
    let canonical = serde_json::json!({
        "filesystems": filesystems.iter().map(|f| serde_json::json!({
            "role": f.role, "manifest": f.manifest, "files": f.files,
        })).collect::<Vec<_>>(),
    });
    let content_digest = hex::encode(Sha256::digest(serde_json::to_vec(&canonical).expect("json")));
    Ok(Inspected { layout: layout.into(), size, partitions, filesystems, content_digest })
}

/// The root filesystem of a partitioned Nanos image (ops-built or ours).
pub fn root_filesystem(disk: &dyn Disk) -> Result<tfs::Tfs, FormatError> {
    let head = read_bytes(disk, 0, 512.min(disk.len()))?;
    let sector: [u8; 512] =
        head.as_slice().try_into().map_err(|_| FormatError::at(0, "too short for a boot record: not a Nanos image"))?;
    if !mbr::has_signature(&sector) {
        return Err(FormatError::at(0, "no boot record (55 AA signature): not a Nanos image"));
    }
    let (_, root) = mbr::boot_and_root(&sector);
    if root.kind != TYPE_LINUX || root.sectors == 0 || root.offset() + root.size() > disk.len() {
        return Err(FormatError::at(0, "no root partition that fits the image: not a Nanos image"));
    }
    tfs::read(disk, root.offset(), root.size())
}

fn filesystem(disk: &dyn Disk, role: &str, offset: u64, size: u64) -> Result<FsReport, FormatError> {
    let fs = tfs::read(disk, offset, size)?;
    let mut manifest = fs.log.root.as_tuple().cloned().unwrap_or_default();
    manifest.remove("children");
    let mut files = Vec::new();
    for (path, kind, node) in fs.entries() {
        files.push(match kind {
            EntryKind::Dir => FileReport { path, kind: "dir".into(), size: None, sha256: None, target: None },
            EntryKind::Symlink { target } => {
                FileReport { path, kind: "symlink".into(), size: None, sha256: None, target: Some(target) }
            }
            EntryKind::File { .. } => {
                let mut hasher = Sha256::new();
                let mut length = 0u64;
                fs.read_file(disk, &path, node, &mut |bytes| {
                    hasher.update(bytes);
                    length += bytes.len() as u64;
                })?;
                FileReport {
                    path,
                    kind: "file".into(),
                    size: Some(length),
                    sha256: Some(hex::encode(hasher.finalize())),
                    target: None,
                }
            }
            EntryKind::Other => FileReport { path, kind: "other".into(), size: None, sha256: None, target: None },
        });
    }
    Ok(FsReport {
        role: role.into(),
        offset,
        size,
        tfs_version: fs.log.version,
        uuid: uuid_string(&fs.log.uuid),
        label: fs.log.label.clone(),
        log_extensions: fs.log.extensions.len(),
        manifest: Value::Tuple(manifest).to_json(),
        files,
    })
}
