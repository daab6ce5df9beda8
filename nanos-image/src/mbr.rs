//! The boot sector of a Nanos image (x86_64 BIOS).
//!
//! `boot.img` is stage1 (this sector) followed by stage2. Right before the
//! partition table (byte 446) stage1 holds a 20-byte region record
//! `{base: u64, length: u64, type: u32}` (little endian); type 12
//! (filesystem) says stage2 is `length` bytes, so the first partition
//! starts at `512 + length + 4096` (the 4 KiB kernel log dump area).
//! Partition entries are 16 bytes: active flag, CHS start, type, CHS end,
//! LBA start (u32), sector count (u32).

use super::{FormatError, SECTOR};

pub const PARTITION_TABLE: usize = 446;
pub const PARTITION_ENTRY_BYTES: usize = 16;
pub const REGION_BYTES: usize = 20;
pub const REGION_FILESYSTEM: u32 = 12;
pub const KLOG_DUMP_BYTES: u64 = 4096;
pub const BOOTFS_BYTES: u64 = 12 << 20;
pub const TYPE_LINUX: u8 = 0x83;
pub const TYPE_EFI: u8 = 0xEF;
const SECTORS_PER_TRACK: u64 = 63;
const HEADS: u64 = 255;
const MAX_CYLINDER: u64 = 1023;

pub fn has_signature(mbr: &[u8]) -> bool {
    mbr.len() >= 512 && mbr[510] == 0x55 && mbr[511] == 0xAA
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub base: u64,
    pub length: u64,
    pub kind: u32,
}

pub fn region(mbr: &[u8; 512]) -> Region {
    let at = PARTITION_TABLE - REGION_BYTES;
    let u64_at = |o: usize| u64::from_le_bytes(mbr[o..o + 8].try_into().expect("8 bytes"));
    Region {
        base: u64_at(at),
        length: u64_at(at + 8),
        kind: u32::from_le_bytes(mbr[at + 16..at + 20].try_into().expect("4 bytes")),
    }
}

/// Where the first partition starts, per the boot record's region record.
pub fn first_partition_offset(mbr: &[u8; 512]) -> Result<u64, FormatError> {
    if !has_signature(mbr) {
        return Err(FormatError::at(510, "no boot signature 55 AA: not a boot record"));
    }
    let r = region(mbr);
    if r.kind != REGION_FILESYSTEM {
        return Err(FormatError::at(
            (PARTITION_TABLE - 4) as u64,
            format!("the boot record's region record has type {} (want {REGION_FILESYSTEM}, filesystem): not a Nanos boot image", r.kind),
        ));
    }
    let offset = SECTOR
        .checked_add(r.length)
        .and_then(|o| o.checked_add(KLOG_DUMP_BYTES))
        .filter(|o| o % SECTOR == 0)
        .ok_or_else(|| {
            FormatError::at((PARTITION_TABLE - 12) as u64, format!("stage2 length {} is not sector-aligned", r.length))
        })?;
    Ok(offset)
}

/// Cylinder-head-sector address of a byte offset, as ops and Nanos write it
/// (the cylinder's high bits are ORed into the sector byte unshifted).
pub fn chs(offset: u64) -> [u8; 3] {
    let sector = offset / SECTOR;
    let (mut cyl, mut head, mut sec) =
        ((sector / SECTORS_PER_TRACK) / HEADS, (sector / SECTORS_PER_TRACK) % HEADS, (sector % SECTORS_PER_TRACK) + 1);
    if cyl > MAX_CYLINDER {
        (cyl, head, sec) = (MAX_CYLINDER, 254, 63);
    }
    [head as u8, ((cyl >> 8) | sec) as u8, (cyl & 0xff) as u8]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub active: bool,
    pub kind: u8,
    pub chs_start: [u8; 3],
    pub chs_end: [u8; 3],
    pub lba_start: u32,
    pub sectors: u32,
}

impl Partition {
    pub fn new(kind: u8, offset: u64, size: u64) -> Result<Self, String> {
        let (lba, sectors) = (offset / SECTOR, size / SECTOR);
        if lba > u32::MAX as u64 || sectors > u32::MAX as u64 {
            return Err(format!("a partition of {size} bytes at {offset} does not fit an MBR entry (2 TiB limit)"));
        }
        Ok(Self {
            active: true,
            kind,
            chs_start: chs(offset),
            chs_end: chs(offset + size - SECTOR),
            lba_start: lba as u32,
            sectors: sectors as u32,
        })
    }

    pub fn offset(&self) -> u64 {
        u64::from(self.lba_start) * SECTOR
    }

    pub fn size(&self) -> u64 {
        u64::from(self.sectors) * SECTOR
    }

    pub fn to_bytes(self) -> [u8; PARTITION_ENTRY_BYTES] {
        let mut e = [0u8; PARTITION_ENTRY_BYTES];
        e[0] = if self.active { 0x80 } else { 0 };
        e[1..4].copy_from_slice(&self.chs_start);
        e[4] = self.kind;
        e[5..8].copy_from_slice(&self.chs_end);
        e[8..12].copy_from_slice(&self.lba_start.to_le_bytes());
        e[12..16].copy_from_slice(&self.sectors.to_le_bytes());
        e
    }

    pub fn from_bytes(e: &[u8]) -> Self {
        Self {
            active: e[0] == 0x80,
            chs_start: [e[1], e[2], e[3]],
            kind: e[4],
            chs_end: [e[5], e[6], e[7]],
            lba_start: u32::from_le_bytes(e[8..12].try_into().expect("4 bytes")),
            sectors: u32::from_le_bytes(e[12..16].try_into().expect("4 bytes")),
        }
    }
}

pub fn partition(mbr: &[u8; 512], index: usize) -> Partition {
    let at = PARTITION_TABLE + index * PARTITION_ENTRY_BYTES;
    Partition::from_bytes(&mbr[at..at + PARTITION_ENTRY_BYTES])
}

pub fn set_partition(mbr: &mut [u8; 512], index: usize, p: Partition) {
    let at = PARTITION_TABLE + index * PARTITION_ENTRY_BYTES;
    mbr[at..at + PARTITION_ENTRY_BYTES].copy_from_slice(&p.to_bytes());
}

/// The boot and root partitions, the way Nanos finds them: after the UEFI
/// system partition when the first entry is one.
pub fn boot_and_root(mbr: &[u8; 512]) -> (Partition, Partition) {
    let first = partition(mbr, 0);
    let skip = usize::from(first.kind == TYPE_EFI);
    (partition(mbr, skip), partition(mbr, skip + 1))
}

/// A boot.img TEST DOUBLE, for tests and benchmarks: a boot record with the
/// region record stage1 carries (type 12, stage2's length) and patterned
/// filler for `stage2_sectors` of stage2. It has no boot code: it does not boot.
pub fn boot_image_test_double(stage2_sectors: u64) -> Vec<u8> {
    let mut boot = vec![0u8; (SECTOR * (1 + stage2_sectors)) as usize];
    boot[..20].copy_from_slice(b"BOOT.IMG TEST DOUBLE");
    let at = PARTITION_TABLE - REGION_BYTES;
    boot[at..at + 8].copy_from_slice(&0u64.to_le_bytes());
    boot[at + 8..at + 16].copy_from_slice(&(SECTOR * stage2_sectors).to_le_bytes());
    boot[at + 16..at + 20].copy_from_slice(&REGION_FILESYSTEM.to_le_bytes());
    boot[510] = 0x55;
    boot[511] = 0xAA;
    for (i, b) in boot[SECTOR as usize..].iter_mut().enumerate() {
        *b = (i % 253) as u8;
    }
    boot
}
