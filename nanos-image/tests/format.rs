//! The Nanos image formats, byte by byte: varints, value headers, tuples
//! and the dictionary, the log, the boot record; whole images written and
//! read back; and a fuzzed reader. Expected bytes are derived by hand from
//! the format (see nanos-image/src/), not from our own encoder.

use std::collections::BTreeMap;
use std::path::Path;

use nanos_image::encoding::{push_header, push_varint, read_header, read_varint, Header};
use nanos_image::image::{write_image, ImageSpec};
use nanos_image::inspect::inspect;
use nanos_image::mbr::{self, Partition};
use nanos_image::tfs::{self, FsSpec, Node, Source};
use nanos_image::tlog::{self, EXTENSION_BYTES};
use nanos_image::tuple::{Decoder, Encoder, Value};

fn varint(v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    push_varint(&mut out, v);
    out
}

#[test]
fn varints_are_big_endian_base_128() {
    assert_eq!(varint(0), [0x00]);
    assert_eq!(varint(127), [0x7f]);
    assert_eq!(varint(128), [0x81, 0x00]);
    assert_eq!(varint(300), [0x82, 0x2c]); // 300 = 2*128 + 44
    assert_eq!(varint(1024), [0x88, 0x00]);
    assert_eq!(varint(u64::MAX), [0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    for v in [0, 1, 127, 128, 16383, 16384, 1 << 35, u64::MAX - 1, u64::MAX] {
        let bytes = varint(v);
        let mut pos = 0;
        assert_eq!(read_varint(&bytes, &mut pos, 0).unwrap(), v);
        assert_eq!(pos, bytes.len());
    }
    // Truncated, too long, overflowing: errors with the offset.
    let mut pos = 0;
    let e = read_varint(&[0x81], &mut pos, 100).unwrap_err();
    assert_eq!(e.offset, 100);
    let mut pos = 0;
    assert!(read_varint(&[0x80; 11], &mut pos, 0).is_err());
    let mut pos = 0;
    assert!(read_varint(&[0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], &mut pos, 0).is_err());
}

fn header(immediate: bool, kind: u8, length: u64) -> Vec<u8> {
    let mut out = Vec::new();
    push_header(&mut out, immediate, kind, length);
    out
}

#[test]
fn value_headers() {
    // immediate(1) type(3) extended(1) length(3)
    assert_eq!(header(true, 1, 3), [0x93]);
    assert_eq!(header(true, 4, 3), [0xc3]);
    assert_eq!(header(false, 0, 2), [0x02]);
    assert_eq!(header(true, 1, 7), [0x97]);
    // 8 needs a second byte: the first keeps 8 >> 7 = 0.
    assert_eq!(header(true, 1, 8), [0x98, 0x08]);
    // 1000 = 7 * 128 + 104: 7 in the first byte, 104 (0x68) after.
    assert_eq!(header(true, 1, 1000), [0x9f, 0x68]);
    // 1024 = 8 * 128 + 0: 8 no longer fits 3 bits, so two more groups.
    assert_eq!(header(true, 0, 1024), [0x88, 0x88, 0x00]);
    for (imm, kind, len) in [(true, 1, 0), (false, 2, 9), (true, 4, 1 << 40), (true, 3, u64::MAX)] {
        let bytes = header(imm, kind, len);
        let mut pos = 0;
        assert_eq!(read_header(&bytes, &mut pos, 0, false).unwrap(), Header { immediate: imm, kind, length: len });
        assert_eq!(pos, bytes.len());
    }
    // TFS 4 ("old encoding"): one type bit, five length bits.
    let mut pos = 0;
    assert_eq!(read_header(&[0xc5], &mut pos, 0, true).unwrap(), Header { immediate: true, kind: 1, length: 5 });
}

#[test]
fn tuples_intern_symbols_in_one_dictionary() {
    let value = Value::tuple([
        ("a", Value::str("x")),
        ("b", Value::tuple([("a", Value::str("y"))])),
        ("v", Value::Vector(vec![Value::str("p"), Value::Null, Value::Integer(-5)])),
    ]);
    let mut enc = Encoder::default();
    enc.encode(&value);
    #[rustfmt::skip]
    let expected = [
        0x93,                   // tuple, 3 entries                     (dictionary 1)
        0x81, b'a',             // symbol "a"                           (dictionary 2)
        0xc1, b'x',             // string "x"
        0x81, b'b',             // symbol "b"                           (dictionary 3)
        0x91,                   // tuple, 1 entry                       (dictionary 4)
        0x02,                   // symbol by reference: entry 2, "a"
        0xc1, b'y',
        0x81, b'v',             // symbol "v"                           (dictionary 5)
        0xa3,                   // vector, 3 elements                   (dictionary 6)
        0xc1, b'p',
        0x81, 0x00,             // one-byte "\0" buffer: null
        0xb1, 0x05,             // integer, negative, magnitude 5
    ];
    assert_eq!(enc.out, expected);
    let mut dec = Decoder::default();
    dec.record(&enc.out, 0, false).unwrap();
    assert_eq!(dec.root(0).unwrap(), value);

    // A later record updates the root by reference (how Nanos's own mkfs
    // and the kernel write): key "a" deleted (empty buffer), "b" replaced by
    // the tuple at entry 4 referenced again, plus a new key.
    let mut update = vec![0x13, 0x01]; // reference tuple, 3 entries, entry 1
    update.extend([0x02, 0x80]); // "a": empty buffer: delete
    update.extend([0x03, 0x11, 0x04, 0x02, 0xc1, b'z']); // "b": tuple 4 updated: a = "z"
    update.extend([0x81, b'n', 0xb0, 0x81, 0x00]); // "n": integer 128
    dec.record(&update, 0, false).unwrap();
    let root = dec.root(0).unwrap();
    let t = root.as_tuple().unwrap();
    assert!(!t.contains_key("a"));
    assert_eq!(t["b"], Value::tuple([("a", Value::str("z"))]));
    assert_eq!(t["n"], Value::Integer(128));

    // Bad references are errors at their offset.
    let mut dec = Decoder::default();
    let e = dec.record(&[0x91, 0x07, 0xc0], 40, false).unwrap_err();
    assert_eq!(e.offset, 41, "{e}");
    assert!(e.message.contains("entry 7"), "{e}");
}

fn fs_tree(files: &[(&str, &[u8])]) -> BTreeMap<String, Node> {
    let mut tree = BTreeMap::new();
    for (path, bytes) in files {
        tfs::insert(&mut tree, path, Node::File(Source::Bytes(bytes.to_vec()))).unwrap();
    }
    tree
}

fn write_fs(spec: &FsSpec) -> Vec<u8> {
    let file = tempfile::tempfile().unwrap();
    let written = tfs::write(&file, 0, spec, &|_| {}).unwrap();
    file.set_len(written.size).unwrap();
    let mut out = vec![0u8; written.size as usize];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut out, 0).unwrap();
    out
}

#[test]
fn filesystem_layout_and_round_trip() {
    let big: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let spec = FsSpec {
        label: "vol".into(),
        size: None,
        meta: BTreeMap::from([("program".to_string(), Value::str("/p"))]),
        tree: fs_tree(&[("/p", b"ELF"), ("/d/big", &big), ("/d/empty", b"")]),
    };
    let bytes = write_fs(&spec);
    // Initial extension: magic, version 5, 1 sector, UUID, label, NUL, link
    // to sector 1 for 1024 sectors.
    assert_eq!(&bytes[..6], b"NVMTFS");
    assert_eq!(&bytes[6..8], [0x05, 0x01]);
    assert_eq!(&bytes[24..28], b"vol\0");
    assert_eq!(&bytes[28..32], [0x05, 0x01, 0x88, 0x00]);
    assert!(bytes[32..512].iter().all(|&b| b == 0));
    // First extension at 512: header, then one tuple-available record.
    assert_eq!(&bytes[512..520], [b'N', b'V', b'M', b'T', b'F', b'S', 0x05, 0x88]);
    assert_eq!(bytes[521], tlog::TUPLE_AVAILABLE);
    // Data after the log, sorted: /d/big at sector 1025, /p after it.
    let data = 512 + EXTENSION_BYTES as usize;
    assert_eq!(&bytes[data..data + big.len()], &big[..]);
    let p_at = data + big.len().div_ceil(512) * 512;
    assert_eq!(&bytes[p_at..p_at + 3], b"ELF");
    assert_eq!(bytes.len(), p_at + 512);

    let fs = tfs::read(&bytes, 0, bytes.len() as u64).unwrap();
    assert_eq!(fs.log.label, "vol");
    assert_eq!(fs.log.root.as_tuple().unwrap()["program"], Value::str("/p"));
    let d = &fs.log.root.as_tuple().unwrap()["children"].as_tuple().unwrap()["d"];
    let big_t = &d.as_tuple().unwrap()["children"].as_tuple().unwrap()["big"];
    assert_eq!(
        big_t,
        &Value::tuple([
            (
                "extents",
                Value::tuple([(
                    "0",
                    Value::tuple([
                        ("allocated", Value::str("10")),
                        ("length", Value::str("10")),
                        ("offset", Value::str("1025")),
                    ])
                )])
            ),
            ("filelength", Value::str("5000")),
        ])
    );
    let mut read_back = Vec::new();
    fs.read_file(&bytes, "/d/big", big_t, &mut |b| read_back.extend_from_slice(b)).unwrap();
    assert_eq!(read_back, big);
    let kinds: Vec<(String, tfs::EntryKind)> = fs.entries().into_iter().map(|(p, k, _)| (p, k)).collect();
    assert_eq!(
        kinds,
        [
            ("/d".to_string(), tfs::EntryKind::Dir),
            ("/d/big".to_string(), tfs::EntryKind::File { length: 5000 }),
            ("/d/empty".to_string(), tfs::EntryKind::File { length: 0 }),
            ("/p".to_string(), tfs::EntryKind::File { length: 3 }),
        ]
    );

    // Deterministic: the same inputs give the same bytes (UUID included);
    // other contents give another UUID.
    assert_eq!(write_fs(&spec), bytes);
    let mut other = spec.clone();
    other.tree = fs_tree(&[("/p", b"ELF!"), ("/d/big", &big), ("/d/empty", b"")]);
    assert_ne!(write_fs(&other)[8..24], bytes[8..24]);
}

#[test]
fn a_tuple_larger_than_an_extension_spans_several() {
    // 3,000 files with long names: the root tuple outgrows 512 KiB.
    let name = "n".repeat(200);
    let files: Vec<(String, Vec<u8>)> = (0..3000).map(|i| (format!("/dir/{name}{i:05}"), vec![])).collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let spec = FsSpec { label: String::new(), size: None, meta: BTreeMap::new(), tree: fs_tree(&refs) };
    let bytes = write_fs(&spec);
    let fs = tfs::read(&bytes, 0, bytes.len() as u64).unwrap();
    assert!(fs.log.extensions.len() >= 3, "{:?}", fs.log.extensions);
    assert_eq!(fs.entries().len(), 3001);
    // A fixed size too small for the second extension is a clear error.
    let mut small = spec.clone();
    small.size = Some(512 + EXTENSION_BYTES + 4096);
    let file = tempfile::tempfile().unwrap();
    let e = tfs::write(&file, 0, &small, &|_| {}).unwrap_err();
    assert!(format!("{e:#}").contains("full"), "{e:#}");
}

#[test]
fn guest_paths_must_be_absolute_and_plain() {
    let mut tree = BTreeMap::new();
    for bad in ["relative/path", "/a/../etc/passwd", "/./x", "/"] {
        let e = tfs::insert(&mut tree, bad, Node::File(Source::Bytes(vec![]))).unwrap_err();
        assert!(format!("{e}").contains(bad), "{e}");
    }
    tfs::insert(&mut tree, "/a/b", Node::File(Source::Bytes(vec![]))).unwrap();
    assert!(tfs::insert(&mut tree, "/a/b/c", Node::File(Source::Bytes(vec![]))).is_err());
    assert!(tfs::insert(&mut tree, "/a/b", Node::File(Source::Bytes(vec![]))).is_err());
}

#[test]
fn boot_record_fields() {
    // CHS per ops/Nanos: (head, (cylinder >> 8) | sector, cylinder & 0xff).
    assert_eq!(mbr::chs(0), [0, 1, 0]);
    assert_eq!(mbr::chs(6144), [0, 13, 0]); // sector 12
                                            // sector 24587 = track 390 (rem 17): head 390 % 255 = 135, cylinder 1, sector 18
    assert_eq!(mbr::chs(24587 * 512), [135, 18, 1]);
    assert_eq!(mbr::chs(1 << 40), [254, 63, 255]); // past cylinder 1023
    let p = Partition::new(0x83, 6144, 12 << 20).unwrap();
    assert_eq!(
        p.to_bytes(),
        [0x80, 0, 13, 0, 0x83, 135, 18, 1, 12, 0, 0, 0, 0x00, 0x60, 0x00, 0x00] // 24576 sectors
    );
    assert_eq!(Partition::from_bytes(&p.to_bytes()), p);
    let mut sector = [0u8; 512];
    sector[426..446].copy_from_slice(&[&0u64.to_le_bytes()[..], &1536u64.to_le_bytes(), &12u32.to_le_bytes()].concat());
    assert_eq!(mbr::first_partition_offset(&sector).unwrap_err().offset, 510);
    sector[510] = 0x55;
    sector[511] = 0xAA;
    assert_eq!(mbr::region(&sector), mbr::Region { base: 0, length: 1536, kind: 12 });
    assert_eq!(mbr::first_partition_offset(&sector).unwrap(), 512 + 1536 + 4096);
    sector[442] = 1;
    assert!(mbr::first_partition_offset(&sector).unwrap_err().message.contains("region record has type 1"));
}

/// Writes mbr::boot_image_test_double (a boot record with stage1's region
/// record, no boot code) as `dir/boot.img`.
fn boot_double(dir: &Path, stage2_sectors: u64) -> std::path::PathBuf {
    let path = dir.join("boot.img");
    std::fs::write(&path, mbr::boot_image_test_double(stage2_sectors)).unwrap();
    path
}

fn image_spec(dir: &Path, program: &[u8]) -> ImageSpec {
    let kernel = dir.join("kernel.img");
    std::fs::write(&kernel, b"KERNEL.IMG TEST DOUBLE: opaque payload to the writer\n".repeat(1000)).unwrap();
    std::fs::write(dir.join("prog"), program).unwrap();
    let mut tree = BTreeMap::new();
    tfs::insert(&mut tree, "/prog", Node::File(Source::Host(dir.join("prog")))).unwrap();
    tfs::insert(&mut tree, "/workspace", Node::Dir(BTreeMap::new())).unwrap();
    ImageSpec {
        boot: boot_double(dir, 60),
        kernel,
        root: FsSpec {
            label: String::new(),
            size: None,
            meta: BTreeMap::from([
                ("program".to_string(), Value::str("/prog")),
                ("arguments".to_string(), Value::Vector(vec![Value::str("prog"), Value::str("gevulot")])),
                ("mounts".to_string(), Value::tuple([("%0", Value::str("/workspace"))])),
            ]),
            tree,
        },
    }
}

#[test]
fn images_round_trip_and_are_byte_identical_across_builds() {
    let dir = tempfile::tempdir().unwrap();
    let spec = image_spec(dir.path(), b"\x7fELF program bytes");
    let (a, b) = (dir.path().join("one/x.img"), dir.path().join("two/y.img"));
    let written = write_image(&spec, &a, &|_| {}).unwrap();
    write_image(&spec, &b, &|_| {}).unwrap();
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(&b).unwrap(), "two builds differ");
    assert!(!dir.path().join("one/x.img.partial").exists());

    // Layout: boot.img, 4 KiB gap, 12 MiB boot filesystem, root filesystem.
    let boot_img = std::fs::read(&spec.boot).unwrap();
    assert_eq!(&bytes[..446], &boot_img[..446]);
    assert_eq!(&bytes[512..boot_img.len()], &boot_img[512..]);
    assert!(bytes[boot_img.len()..boot_img.len() + 4096].iter().all(|&b| b == 0));
    let bootfs = boot_img.len() as u64 + 4096;
    assert_eq!(written.boot_fs.offset, bootfs);
    assert_eq!(&bytes[bootfs as usize..bootfs as usize + 6], b"NVMTFS");
    let sector: [u8; 512] = bytes[..512].try_into().unwrap();
    let (boot_p, root_p) = mbr::boot_and_root(&sector);
    assert_eq!((boot_p.offset(), boot_p.size(), boot_p.kind, boot_p.active), (bootfs, 12 << 20, 0x83, true));
    assert_eq!(root_p.offset(), bootfs + (12 << 20));
    assert_eq!(root_p.offset() + root_p.size(), bytes.len() as u64);
    assert_eq!(mbr::partition(&sector, 2).to_bytes(), [0; 16]);

    // Read back: the same manifest and file bytes.
    let report = inspect(&bytes).unwrap();
    assert_eq!(report.layout, "partitioned");
    let root = &report.filesystems[1];
    assert_eq!(root.manifest["program"], "/prog");
    assert_eq!(root.manifest["arguments"], serde_json::json!(["prog", "gevulot"]));
    assert_eq!(root.manifest["mounts"], serde_json::json!({"%0": "/workspace"}));
    let prog = root.files.iter().find(|f| f.path == "/prog").unwrap();
    assert_eq!(prog.sha256.as_deref(), Some(sha256_file(&dir.path().join("prog")).unwrap().as_str()));
    let kernel = &report.filesystems[0].files[0];
    assert_eq!(kernel.path, "/kernel");
    assert_eq!(kernel.sha256.as_deref(), Some(sha256_file(&spec.kernel).unwrap().as_str()));

    // The content digest ignores UUIDs and placement: move /prog's data
    // and change both UUIDs by hand; the digest stays, the bytes do not.
    let mut moved = bytes.clone();
    let root_off = root_p.offset() as usize;
    moved[root_off + 8] ^= 0xff;
    moved[bootfs as usize + 8] ^= 0xff;
    assert_eq!(inspect(&moved).unwrap().content_digest, report.content_digest);
    let other = image_spec(dir.path(), b"\x7fELF other program");
    write_image(&other, &a, &|_| {}).unwrap();
    assert_ne!(inspect(&std::fs::read(&a).unwrap()).unwrap().content_digest, report.content_digest);
}

#[test]
fn bad_boot_images_and_oversized_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.img");
    let mut spec = image_spec(dir.path(), b"prog");

    let missing = ImageSpec { boot: dir.path().join("nope.img"), ..spec.clone() };
    let e = format!("{:#}", write_image(&missing, &out, &|_| {}).unwrap_err());
    assert!(e.contains("nope.img"), "{e}");

    let mut boot = std::fs::read(&spec.boot).unwrap();
    boot.truncate(boot.len() - 512);
    std::fs::write(dir.path().join("short.img"), &boot).unwrap();
    let short = ImageSpec { boot: dir.path().join("short.img"), ..spec.clone() };
    let e = format!("{:#}", write_image(&short, &out, &|_| {}).unwrap_err());
    assert!(e.contains("stage2"), "{e}");

    std::fs::write(dir.path().join("huge-kernel"), vec![1u8; 12 << 20]).unwrap();
    let huge = ImageSpec { kernel: dir.path().join("huge-kernel"), ..spec.clone() };
    let e = format!("{:#}", write_image(&huge, &out, &|_| {}).unwrap_err());
    assert!(e.contains("huge-kernel") && e.contains("12 MiB"), "{e}");

    std::fs::write(dir.path().join("prog"), vec![7u8; 2 << 20]).unwrap();
    spec.root.size = Some(1 << 20);
    let e = format!("{:#}", write_image(&spec, &out, &|_| {}).unwrap_err());
    assert!(e.contains("/prog") && e.contains("does not fit"), "{e}");
    assert!(!out.exists() && !dir.path().join("x.img.partial").exists(), "nothing half-written");
}

/// An image laid out the way Nanos's own mkfs writes its log: the root
/// created empty, then entity-attribute-value updates by reference, numbers
/// as integers, an uninitialised extent.
#[test]
fn reads_logs_written_the_nanos_mkfs_way() {
    let mut records: Vec<Vec<u8>> = Vec::new();
    // 1: root {children: {}}  -> entries: 1 root, 2 "children", 3 children tuple
    records.push([&[0x91u8, 0x88, 0x08][..], b"children", &[0x90]].concat());
    // 2: children tuple (entry 3) gains "f": {filelength: 6, extents: {}}
    //    -> 4 "f", 5 f's tuple, 6 "filelength", 7 "extents", 8 extents tuple
    let mut r = vec![0x11, 0x03, 0x81, b'f', 0x92, 0x88, 0x0a];
    r.extend(b"filelength");
    r.extend([0xb0, 0x06, 0x87]);
    r.extend(b"extents");
    r.push(0x90);
    records.push(r);
    // 3: extents (entry 8) gains "0": {length 1, offset 1025, allocated 1}
    //    -> 9 "0", 10 its tuple, 11 "length", 12 "offset", 13 "allocated";
    //    and "1": an uninitialised extent past the end of the file (ignored)
    //    -> 14 "1", 15 its tuple, 16 "uninited".
    let mut r = vec![0x12, 0x08];
    r.extend([0x81, b'0', 0x93, 0x86]);
    r.extend(b"length");
    r.extend([0xb0, 0x01, 0x86]);
    r.extend(b"offset");
    r.extend([0xb0, 0x88, 0x01, 0x88, 0x09]); // 1025, then "allocated" (9 bytes)
    r.extend(b"allocated");
    r.extend([0xb0, 0x01]);
    // References past 7 take a second header byte: entry 11 is [0x08, 0x0b].
    r.extend([
        0x81, b'1', 0x94, 0x08, 0x0b, 0xb0, 0x01, 0x08, 0x0c, 0xb0, 0x88, 0x02, 0x08, 0x0d, 0xb0, 0x01, 0x88, 0x08,
    ]);
    r.extend(b"uninited");
    r.extend([0x81, 0x00]);
    records.push(r);
    let mut log = Vec::new();
    log.extend(b"NVMTFS\x05\x01");
    log.extend([0xab; 16]);
    log.extend(b"\x00\x05\x01\x88\x00");
    log.resize(512, 0);
    log.extend(b"NVMTFS\x05\x88\x00");
    for rec in &records {
        log.push(tlog::TUPLE_AVAILABLE);
        log.extend(varint(rec.len() as u64));
        log.extend(varint(rec.len() as u64));
        log.extend(rec);
    }
    log.push(tlog::END_OF_LOG);
    log.resize(512 + EXTENSION_BYTES as usize, 0);
    log.extend(b"hello!");
    log.resize(log.len() + 506 + 512, 0);
    let fs = tfs::read(&log, 0, log.len() as u64).unwrap();
    assert_eq!(fs.log.uuid, [0xab; 16]);
    let entries = fs.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].1, tfs::EntryKind::File { length: 6 });
    let mut content = Vec::new();
    fs.read_file(&log, "/f", entries[0].2, &mut |b| content.extend_from_slice(b)).unwrap();
    assert_eq!(content, b"hello!");
    let report = inspect(&log).unwrap();
    assert_eq!(report.layout, "filesystem");
    assert_eq!(report.filesystems[0].files[0].size, Some(6));
}

/// Deterministic pseudo-random numbers (xorshift64*), so failures replay.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn the_reader_survives_fuzzed_images() {
    let dir = tempfile::tempdir().unwrap();
    let spec = image_spec(dir.path(), b"\x7fELF fuzz target");
    let path = dir.path().join("f.img");
    write_image(&spec, &path, &|_| {}).unwrap();
    let image = std::fs::read(&path).unwrap();
    let sector: [u8; 512] = image[..512].try_into().unwrap();
    let (boot_p, root_p) = mbr::boot_and_root(&sector);
    // Where a mutation matters: the boot record, and each filesystem's two
    // first log extensions (headers and records).
    let mut hot: Vec<std::ops::Range<usize>> = Vec::new();
    hot.push(0..512);
    for p in [boot_p, root_p] {
        let o = p.offset() as usize;
        hot.push(o..o + 512);
        hot.push(o + 512..o + 1024);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut rejected, mut accepted) = (0, 0);
    for round in 0..4000 {
        let mut bytes = image.clone();
        let edits = 1 + rng.below(4);
        for _ in 0..edits {
            let range = &hot[rng.below(hot.len() as u64) as usize];
            let at = range.start + rng.below(range.len() as u64) as usize;
            bytes[at] = match rng.below(4) {
                0 => rng.next() as u8,
                1 => bytes[at] ^ (1 << rng.below(8)),
                2 => 0xff,
                _ => 0,
            };
        }
        if round % 10 == 0 {
            bytes.truncate(rng.below(bytes.len() as u64) as usize);
        }
        match inspect(&bytes) {
            Ok(_) => accepted += 1,
            Err(e) => {
                rejected += 1;
                assert!(e.to_string().starts_with("at byte "), "{e}");
                assert!(e.offset <= image.len() as u64 + (64 << 20), "offset {} for {e}", e.offset);
            }
        }
    }
    assert!(rejected > 500 && accepted > 100, "rejected {rejected}, accepted {accepted}");
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    Ok(hex::encode(Sha256::digest(std::fs::read(path)?)))
}
