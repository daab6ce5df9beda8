//! Every size up to a few blocks past the 128-byte threshold, every source
//! and destination alignment within 16 bytes, and every overlap distance
//! both ways: this crate's routines against the standard library's.

use musl_memcpy::{copy_forward_or_any, copy_overlapping};

const SIZES: std::ops::RangeInclusive<usize> = 0..=400;
const LARGE: [usize; 6] = [1023, 1024, 4097, 65_536 + 13, 1 << 20, (1 << 20) + 77];

/// A pattern no two nearby bytes share, so a misplaced byte shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_right(13) as u8 ^ seed).collect()
}

#[test]
fn disjoint_copies_match_for_every_size_and_alignment() {
    for n in SIZES.chain(LARGE) {
        let aligns: &[usize] = if n > 400 { &[0, 1, 15] } else { &[0, 1, 3, 7, 8, 9, 15] };
        for &sa in aligns {
            for &da in aligns {
                let src = pattern(n + 64, 0x5a);
                // Guard bytes around the destination must survive.
                let mut dst = pattern(n + 64, 0xc3);
                let mut expected = dst.clone();
                expected[32 + da..32 + da + n].copy_from_slice(&src[sa..sa + n]);
                let ret = unsafe { copy_forward_or_any(dst.as_mut_ptr().add(32 + da), src.as_ptr().add(sa), n) };
                assert_eq!(ret, unsafe { dst.as_mut_ptr().add(32 + da) }, "memcpy returns dst (n={n})");
                assert!(dst == expected, "memcpy n={n} src+{sa} dst+{da}");

                let mut dst = pattern(n + 64, 0xc3);
                let ret = unsafe { copy_overlapping(dst.as_mut_ptr().add(32 + da), src.as_ptr().add(sa), n) };
                assert_eq!(ret, unsafe { dst.as_mut_ptr().add(32 + da) }, "memmove returns dst (n={n})");
                assert!(dst == expected, "memmove (disjoint) n={n} src+{sa} dst+{da}");
            }
        }
    }
}

#[test]
fn overlapping_moves_match_in_both_directions() {
    for n in (0usize..=300).chain([511, 1000, 4096 + 5]) {
        for distance in (0..=70).chain([127, 128, 129, 200, n.saturating_sub(1), n]) {
            if distance > n + 1 {
                continue;
            }
            for base_align in [0, 5] {
                let len = n + distance + 64;
                let (lo, hi) = (16 + base_align, 16 + base_align + distance);
                // Destination above the source (the backward case) ...
                let mut buf = pattern(len, 0x11);
                let mut expected = buf.clone();
                expected.copy_within(lo..lo + n, hi);
                unsafe { copy_overlapping(buf.as_mut_ptr().add(hi), buf.as_ptr().add(lo), n) };
                assert!(buf == expected, "memmove up n={n} distance={distance} align={base_align}");
                // ... and below it (forwards), through both entry points.
                let mut expected = pattern(len, 0x22);
                expected.copy_within(hi..hi + n, lo);
                for copy in [copy_overlapping as unsafe fn(*mut u8, *const u8, usize) -> *mut u8, copy_forward_or_any] {
                    let mut buf = pattern(len, 0x22);
                    unsafe { copy(buf.as_mut_ptr().add(lo), buf.as_ptr().add(hi), n) };
                    assert!(buf == expected, "move down n={n} distance={distance} align={base_align}");
                }
            }
        }
    }
}

/// The last byte of a copy that ends at a page boundary, and the first of
/// one that starts there: no routine may read outside its range (a read
/// one byte before or after would fault against the guard pages).
#[test]
fn copies_never_read_outside_their_range() {
    let page = 4096;
    // Three pages, the outer two made inaccessible.
    let base = unsafe { libc_mmap(3 * page) };
    unsafe {
        assert_eq!(mprotect(base, page, 0), 0);
        assert_eq!(mprotect(base.add(2 * page), page, 0), 0);
    }
    let middle = unsafe { base.add(page) };
    let mut out = vec![0u8; page];
    for n in 0..=300 {
        unsafe {
            std::ptr::write_bytes(middle, 0x77, page);
            // Source at the very start of the accessible page, then ending at its very end.
            copy_forward_or_any(out.as_mut_ptr(), middle, n);
            copy_forward_or_any(out.as_mut_ptr(), middle.add(page - n), n);
            copy_overlapping(out.as_mut_ptr(), middle, n);
            copy_overlapping(out.as_mut_ptr(), middle.add(page - n), n);
            // Destination likewise.
            copy_forward_or_any(middle, out.as_ptr(), n);
            copy_forward_or_any(middle.add(page - n), out.as_ptr(), n);
            // Overlapping inside the page, at both edges.
            if n > 1 {
                copy_overlapping(middle.add(1), middle, n - 1);
                copy_overlapping(middle.add(page - n), middle.add(page - n + 1), n - 1);
            }
        }
    }
}

extern "C" {
    fn mmap(addr: *mut u8, len: usize, prot: i32, flags: i32, fd: i32, off: i64) -> *mut u8;
    fn mprotect(addr: *mut u8, len: usize, prot: i32) -> i32;
}

unsafe fn libc_mmap(len: usize) -> *mut u8 {
    const PROT_READ_WRITE: i32 = 0x1 | 0x2;
    const MAP_PRIVATE_ANONYMOUS: i32 = 0x02 | 0x20;
    let p = mmap(std::ptr::null_mut(), len, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0);
    assert!(!p.is_null() && p as isize != -1, "mmap failed");
    p
}
