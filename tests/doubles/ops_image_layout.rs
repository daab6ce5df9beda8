//! Part of the ops contract TEST DOUBLE: writes an image the way ops's
//! `fs/mkfs.go` and `fs/tfs.go` do (read from nanovms/ops bb2d9ce), with
//! ops's nondeterminism kept on purpose: a random filesystem UUID and Go's
//! random map iteration order, for tuple keys and for the order file data is
//! placed in. An independent implementation from the xtask's writer, so the
//! xtask's reader is tested against a second writer. Not ops.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const SECTOR: u64 = 512;
const LOG_EXTENSION: u64 = 1024 * SECTOR;
const BOOT_FS_SIZE: u64 = 12 << 20;
const KLOG_DUMP: u64 = 4096;

/// What ops keeps in its manifest maps: strings, string lists, maps, host files.
pub enum Entry {
    Str(String),
    List(Vec<String>),
    Map(BTreeMap<String, Entry>),
    HostFile(PathBuf),
}

/// Random numbers from the OS, standing for Go's randomised map order and
/// ops's `rand.Read` UUID.
pub struct Random(u64);

impl Random {
    pub fn new() -> Self {
        let mut seed = [0u8; 8];
        std::fs::File::open("/dev/urandom").and_then(|mut r| r.read_exact(&mut seed)).expect("urandom");
        Random(u64::from_le_bytes(seed) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Keys in a random order, as `for k, v := range m` gives them.
    fn order<'a, V>(&mut self, map: &'a BTreeMap<String, V>) -> Vec<(&'a String, &'a V)> {
        let mut items: Vec<_> = map.iter().collect();
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
        items
    }
}

fn push_varint(out: &mut Vec<u8>, x: u64) {
    let mut tmp = vec![(x & 0x7f) as u8];
    let mut x = x >> 7;
    while x != 0 {
        tmp.push(0x80 | (x & 0x7f) as u8);
        x >>= 7;
    }
    out.extend(tmp.iter().rev());
}

struct Tfs<'a> {
    img: &'a std::fs::File,
    offset: u64,
    allocated: u64,
    staging: Vec<u8>,
    symbols: BTreeMap<String, u64>,
    non_symbols: u64,
    random: &'a mut Random,
}

impl Tfs<'_> {
    fn push_header(&mut self, immediate: bool, kind: u8, len: u64) {
        let bits = 64 - len.leading_zeros();
        let words = if bits > 3 { (bits - 3).div_ceil(7) } else { 0 };
        let mut first = (u8::from(immediate) << 7) | (kind << 4) | (len.checked_shr(words * 7).unwrap_or(0) as u8);
        if words != 0 {
            first |= 1 << 3;
        }
        self.staging.push(first);
        for i in (0..words).rev() {
            let v = ((len >> (i * 7)) & 0x7f) as u8;
            self.staging.push(if i != 0 { v | 0x80 } else { v });
        }
    }

    fn symbol(&mut self, name: &str) {
        match self.symbols.get(name) {
            Some(&index) => self.push_header(false, 0, index),
            None => {
                self.push_header(true, 0, name.len() as u64);
                self.staging.extend(name.as_bytes());
                let index = 1 + self.symbols.len() as u64 + self.non_symbols;
                self.symbols.insert(name.to_string(), index);
            }
        }
    }

    fn string(&mut self, s: &str) {
        self.push_header(true, 4, s.len() as u64);
        self.staging.extend(s.as_bytes());
    }

    fn tuple_header(&mut self, n: usize) {
        self.push_header(true, 1, n as u64);
        self.non_symbols += 1;
    }

    fn value(&mut self, value: &Entry) {
        match value {
            Entry::Str(s) => self.string(s),
            Entry::List(items) => {
                self.push_header(true, 2, items.len() as u64);
                self.non_symbols += 1;
                for s in items {
                    self.string(s);
                }
            }
            Entry::Map(map) => {
                self.tuple_header(map.len());
                for (k, v) in self.random.order(map) {
                    self.symbol(k);
                    self.value(v);
                }
            }
            Entry::HostFile(_) => unreachable!("files live under children"),
        }
    }

    fn dir_entries(&mut self, dir: &BTreeMap<String, Entry>) {
        self.symbol("children");
        self.tuple_header(dir.len());
        for (name, entry) in self.random.order(dir) {
            match entry {
                Entry::HostFile(path) => self.file(name, path),
                Entry::Map(sub) => {
                    self.symbol(name);
                    self.tuple_header(1);
                    self.dir_entries(sub);
                }
                _ => unreachable!("children are files and directories"),
            }
        }
    }

    fn file(&mut self, name: &str, path: &Path) {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("cannot open file {}: {e}", path.display()));
        let mut tuple = BTreeMap::from([("filelength".to_string(), Entry::Str(data.len().to_string()))]);
        let mut extents = BTreeMap::new();
        if !data.is_empty() {
            let sectors = (data.len() as u64).div_ceil(SECTOR);
            self.img.write_all_at(&data, self.offset + self.allocated).unwrap();
            let extent = BTreeMap::from([
                ("length".to_string(), Entry::Str(sectors.to_string())),
                ("offset".to_string(), Entry::Str((self.allocated / SECTOR).to_string())),
                ("allocated".to_string(), Entry::Str(sectors.to_string())),
            ]);
            self.allocated += sectors * SECTOR;
            extents.insert("0".to_string(), Entry::Map(extent));
        }
        tuple.insert("extents".to_string(), Entry::Map(extents));
        self.symbol(name);
        self.value(&Entry::Map(tuple));
    }

    fn extension_header(&self, size: u64, first: Option<&[u8; 16]>) -> Vec<u8> {
        let mut b = b"NVMTFS".to_vec();
        push_varint(&mut b, 5);
        push_varint(&mut b, size / SECTOR);
        if let Some(uuid) = first {
            b.extend(uuid);
            b.push(0); // empty label
        }
        b
    }
}

/// Writes one TFS at `offset` (`size` 0: unbounded); returns bytes used.
fn tfs_write(img: &std::fs::File, offset: u64, size: u64, root: &BTreeMap<String, Entry>, random: &mut Random) -> u64 {
    let mut uuid = [0u8; 16];
    for chunk in uuid.chunks_mut(8) {
        chunk.copy_from_slice(&random.next().to_le_bytes());
    }
    let mut t = Tfs {
        img,
        offset,
        allocated: SECTOR + LOG_EXTENSION,
        staging: Vec::new(),
        symbols: BTreeMap::new(),
        non_symbols: 0,
        random,
    };
    // logInit: the one-sector extension linking to the first 512 KiB one.
    let mut initial = t.extension_header(SECTOR, Some(&uuid));
    initial.push(5);
    push_varint(&mut initial, 1);
    push_varint(&mut initial, LOG_EXTENSION / SECTOR);
    initial.resize(SECTOR as usize, 0);
    img.write_all_at(&initial, offset).unwrap();
    let (mut ext_offset, mut ext) = (SECTOR, t.extension_header(LOG_EXTENSION, None));

    t.tuple_header(root.len());
    for (k, v) in t.random.order(root) {
        match (k.as_str(), v) {
            ("children", Entry::Map(children)) => t.dir_entries(children),
            _ => {
                t.symbol(k);
                t.value(v);
            }
        }
    }
    // flush(): tupleAvailable, then tupleExtended across new extensions.
    let staging = std::mem::take(&mut t.staging);
    let (mut rest, mut written) = (&staging[..], 0);
    while !rest.is_empty() {
        let mut available = LOG_EXTENSION as usize - ext.len();
        if available < 53 + 21 {
            let next = t.allocated;
            t.allocated += LOG_EXTENSION;
            assert!(size == 0 || t.allocated <= size, "available space too small");
            ext.push(5);
            push_varint(&mut ext, next / SECTOR);
            push_varint(&mut ext, LOG_EXTENSION / SECTOR);
            ext.resize(LOG_EXTENSION as usize, 0);
            img.write_all_at(&ext, offset + ext_offset).unwrap();
            (ext_offset, ext) = (next, t.extension_header(LOG_EXTENSION, None));
            available = LOG_EXTENSION as usize - ext.len();
        }
        let length = (available - 21 - 21).min(rest.len());
        if written == 0 {
            ext.push(2);
            push_varint(&mut ext, rest.len() as u64);
        } else {
            ext.push(3);
        }
        push_varint(&mut ext, length as u64);
        ext.extend(&rest[..length]);
        rest = &rest[length..];
        written += length;
    }
    ext.push(1);
    ext.resize(LOG_EXTENSION as usize, 0);
    img.write_all_at(&ext, offset + ext_offset).unwrap();
    if size != 0 {
        size
    } else {
        t.allocated
    }
}

fn chs(offset: u64) -> [u8; 3] {
    let s = offset / SECTOR;
    let (mut cyl, mut head, mut sec) = ((s / 63) / 255, (s / 63) % 255, (s % 63) + 1);
    if cyl > 1023 {
        (cyl, head, sec) = (1023, 254, 63);
    }
    [head as u8, ((cyl >> 8) | sec) as u8, (cyl & 0xff) as u8]
}

fn partition(mbr: &mut [u8], index: usize, offset: u64, size: u64) {
    let e = &mut mbr[446 + 16 * index..446 + 16 * (index + 1)];
    e[0] = 0x80;
    e[4] = 0x83;
    e[1..4].copy_from_slice(&chs(offset));
    e[5..8].copy_from_slice(&chs(offset + size - SECTOR));
    e[8..12].copy_from_slice(&((offset / SECTOR) as u32).to_le_bytes());
    e[12..16].copy_from_slice(&((size / SECTOR) as u32).to_le_bytes());
}

/// mkfs's Execute: boot.img, the klog gap, the boot and root filesystems,
/// then the MBR from the boot record's region record.
pub fn write(image: &Path, boot: &Path, kernel: &Path, root: &BTreeMap<String, Entry>) -> Result<(), String> {
    let boot_bytes = std::fs::read(boot).map_err(|e| format!("cannot open boot image {:?}: {e}", boot))?;
    let img = std::fs::File::create(image).map_err(|e| format!("cannot create output file: {e}"))?;
    img.write_all_at(&boot_bytes, 0).unwrap();
    let fs_offset = boot_bytes.len() as u64 + KLOG_DUMP;
    let mut random = Random::new();
    let boot_root = BTreeMap::from([(
        "children".to_string(),
        Entry::Map(BTreeMap::from([("kernel".to_string(), Entry::HostFile(kernel.to_path_buf()))])),
    )]);
    tfs_write(&img, fs_offset, BOOT_FS_SIZE, &boot_root, &mut random);
    let root_offset = fs_offset + BOOT_FS_SIZE;
    let used = tfs_write(&img, root_offset, 0, root, &mut random);
    img.set_len(root_offset + used).unwrap();
    // writeMBR
    let mut mbr = boot_bytes.get(..512).ok_or("failed to read MBR")?.to_vec();
    if mbr[510] != 0x55 || mbr[511] != 0xAA {
        return Err("cannot write MBR: invalid MBR signature".into());
    }
    let region_type = u32::from_le_bytes(mbr[442..446].try_into().unwrap());
    let region_length = if region_type == 12 { u64::from_le_bytes(mbr[434..442].try_into().unwrap()) } else { 0 };
    let part_offset = SECTOR + region_length + KLOG_DUMP;
    partition(&mut mbr, 0, part_offset, BOOT_FS_SIZE);
    partition(&mut mbr, 1, part_offset + BOOT_FS_SIZE, root_offset + used - (part_offset + BOOT_FS_SIZE));
    img.write_all_at(&mbr, 0).unwrap();
    Ok(())
}
