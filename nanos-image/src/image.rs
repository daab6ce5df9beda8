//! A bootable Nanos image, laid out as ops lays it out (x86_64, BIOS):
//!
//! ```text
//! 0                      boot.img: stage1 (boot record) + stage2
//! len(boot.img)          4 KiB kernel log dump area (zeros)
//! P = 512+stage2+4096    boot filesystem, 12 MiB: /kernel
//! P + 12 MiB             root filesystem, to the end of the file
//! ```
//!
//! The boot record's partition entries 0 (boot) and 1 (root) are filled
//! in, both type 0x83 and active. Everything is written to `NAME.partial`
//! and renamed into place only when complete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::mbr::{self, Partition, BOOTFS_BYTES, KLOG_DUMP_BYTES, TYPE_LINUX};
use super::tfs::{self, FsSpec, Node, Source};
use super::tlog::{EXTENSION_BYTES, INITIAL_EXTENSION_BYTES, UUID_BYTES};
use super::SECTOR;

#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// The Nanos release's boot.img (stage1 + stage2).
    pub boot: PathBuf,
    /// The Nanos release's kernel.img.
    pub kernel: PathBuf,
    pub root: FsSpec,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct WrittenImage {
    pub size: u64,
    pub boot_fs: FsPlacement,
    pub root_fs: FsPlacement,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FsPlacement {
    pub offset: u64,
    pub size: u64,
    pub uuid: String,
}

pub fn uuid_string(u: &[u8; UUID_BYTES]) -> String {
    let h = hex::encode(u);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Reads and checks boot.img: a boot record whose region record accounts
/// for exactly the bytes that follow it.
pub fn read_boot_image(path: &Path) -> Result<(Vec<u8>, u64)> {
    let boot = std::fs::read(path).with_context(|| format!("cannot read the boot image {}", path.display()))?;
    let Some(sector) = boot.get(..512) else {
        bail!("boot image {} is {} bytes: too short to be a Nanos boot.img", path.display(), boot.len());
    };
    let sector: &[u8; 512] = sector.try_into().expect("512 bytes");
    let first = mbr::first_partition_offset(sector).map_err(|e| {
        anyhow::anyhow!("boot image {}: {e}; give the boot.img of the pinned Nanos release", path.display())
    })?;
    if boot.len() as u64 + KLOG_DUMP_BYTES != first {
        bail!(
            "boot image {} is {} bytes, but its boot record says stage2 is {} bytes (so {} in all): it is damaged or not a Nanos boot.img",
            path.display(),
            boot.len(),
            mbr::region(sector).length,
            first - KLOG_DUMP_BYTES
        );
    }
    Ok((boot, first))
}

/// Writes the image to `out` (through `out.partial`).
pub fn write_image(spec: &ImageSpec, out: &Path, progress: &dyn Fn(u64)) -> Result<WrittenImage> {
    let partial = partial_path(out);
    let written = write_image_to(spec, &partial, progress)?;
    std::fs::rename(&partial, out).with_context(|| format!("cannot move the image to {}", out.display()))?;
    Ok(written)
}

/// Where an image is written before it is checked and renamed into place.
pub fn partial_path(out: &Path) -> std::path::PathBuf {
    out.with_extension("img.partial")
}

/// Writes the image to `partial` only (removed again on failure); the
/// caller checks it and renames it into place.
pub fn write_image_to(spec: &ImageSpec, partial: &Path, progress: &dyn Fn(u64)) -> Result<WrittenImage> {
    let (boot, boot_fs_offset) = read_boot_image(&spec.boot)?;
    let kernel_len = std::fs::metadata(&spec.kernel)
        .with_context(|| format!("cannot read the kernel {}", spec.kernel.display()))?
        .len();
    let room = BOOTFS_BYTES - INITIAL_EXTENSION_BYTES - EXTENSION_BYTES;
    if kernel_len > room {
        bail!(
            "kernel {} is {kernel_len} bytes; the 12 MiB boot filesystem holds at most {room}: is it really a Nanos kernel.img?",
            spec.kernel.display()
        );
    }
    if let Some(dir) = partial.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let result = (|| -> Result<WrittenImage> {
        use std::os::unix::fs::FileExt;
        file.write_all_at(&boot, 0)?;
        let boot_spec = FsSpec {
            label: String::new(),
            size: Some(BOOTFS_BYTES),
            meta: BTreeMap::new(),
            tree: BTreeMap::from([("kernel".to_string(), Node::File(Source::Host(spec.kernel.clone())))]),
        };
        let boot_fs = tfs::write(&file, boot_fs_offset, &boot_spec, progress).context("boot filesystem")?;
        let root_offset = boot_fs_offset + BOOTFS_BYTES;
        let root_fs = tfs::write(&file, root_offset, &spec.root, progress).context("root filesystem")?;
        let size = root_offset + root_fs.size;
        debug_assert_eq!(size % SECTOR, 0);
        file.set_len(size)?;
        let mut sector: [u8; 512] = boot[..512].try_into().expect("checked");
        mbr::set_partition(
            &mut sector,
            0,
            Partition::new(TYPE_LINUX, boot_fs_offset, BOOTFS_BYTES).map_err(anyhow::Error::msg)?,
        );
        mbr::set_partition(
            &mut sector,
            1,
            Partition::new(TYPE_LINUX, root_offset, root_fs.size).map_err(anyhow::Error::msg)?,
        );
        file.write_all_at(&sector, 0)?;
        file.sync_all()?;
        Ok(WrittenImage {
            size,
            boot_fs: FsPlacement { offset: boot_fs_offset, size: BOOTFS_BYTES, uuid: uuid_string(&boot_fs.uuid) },
            root_fs: FsPlacement { offset: root_offset, size: root_fs.size, uuid: uuid_string(&root_fs.uuid) },
        })
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(partial);
        e.context(format!("writing {}", partial.display()))
    })
}
