//! `memcpy` and `memmove` for the static musl binaries the images carry.
//!
//! Why: musl's x86-64 `memcpy` is `rep movsq` plus byte loops. Profiled on
//! the 8-header proof (BENCHMARKS.md, "Prover: musl against glibc"), it
//! took 11% of the static prover's samples against 0.8% for glibc's
//! vector `memmove`: halo2 makes millions of copies of a few to a few
//! hundred bytes, where `rep movs` pays its start-up cost every time.
//!
//! These routines use SSE2 only (baseline x86-64: the images run on any
//! x86-64 host), in the shape glibc's `memmove-vec-unaligned-erms` uses:
//! sizes up to 128 bytes are two to eight overlapping unaligned 16-byte
//! loads, all done before any store (so they are also a correct `memmove`
//! in either direction); larger copies keep the first and last 64 bytes in
//! registers and move 64-byte blocks to 16-byte aligned destinations,
//! forwards, or backwards when the destination overlaps above the source.
//!
//! With feature `replace-libc` (set by the prover and verifier for musl
//! only) they are exported as `memcpy` and `memmove`: the static link takes
//! them before musl's `libc.a` members, and musl's other objects call them
//! too. Without it they are only reachable as [`copy_forward_or_any`] and
//! [`copy_overlapping`], which the tests compare with the standard library
//! on every size, alignment and overlap that takes a distinct path.

#[cfg(not(target_arch = "x86_64"))]
compile_error!("musl-memcpy is x86-64 assembly; the images are x86-64 only");

macro_rules! routines {
    ($memcpy:literal, $memmove:literal) => {
        std::arch::global_asm!(
            concat!(".globl ", $memmove),
            concat!(".type ", $memmove, ",@function"),
            ".p2align 4",
            concat!($memmove, ":"),
            // rcx = dst - src; a forward copy is safe unless 0 < dst - src < n.
            "mov rcx, rdi",
            "sub rcx, rsi",
            "cmp rcx, rdx",
            "jae 2f",
            "test rcx, rcx",
            "jz 9f",
            // Up to 128 bytes: every load precedes every store, any overlap is fine.
            "cmp rdx, 128",
            "jbe 2f",
            // Backwards: the first 64 and the last 16 source bytes in registers.
            "movdqu xmm4, [rsi]",
            "movdqu xmm5, [rsi + 16]",
            "movdqu xmm6, [rsi + 32]",
            "movdqu xmm7, [rsi + 48]",
            "movdqu xmm1, [rsi + rdx - 16]",
            // r8: the end of the destination rounded down to 16 (the last
            // 16 bytes cover what lies above it); r9: the source beside r8.
            "lea r8, [rdi + rdx]",
            "and r8, -16",
            "mov r9, r8",
            "sub r9, rdi",
            "add r9, rsi",
            "3:",
            "mov r10, r8",
            "sub r10, rdi",
            "cmp r10, 64",
            "jbe 4f",
            "sub r8, 64",
            "sub r9, 64",
            "movdqu xmm0, [r9]",
            "movdqu xmm2, [r9 + 16]",
            "movdqu xmm3, [r9 + 32]",
            "movdqu xmm8, [r9 + 48]",
            "movdqa [r8], xmm0",
            "movdqa [r8 + 16], xmm2",
            "movdqa [r8 + 32], xmm3",
            "movdqa [r8 + 48], xmm8",
            "jmp 3b",
            "4:",
            "movdqu [rdi + rdx - 16], xmm1",
            "movdqu [rdi], xmm4",
            "movdqu [rdi + 16], xmm5",
            "movdqu [rdi + 32], xmm6",
            "movdqu [rdi + 48], xmm7",
            "9:",
            "mov rax, rdi",
            "ret",
            concat!(".size ", $memmove, ", . - ", $memmove),
            "",
            concat!(".globl ", $memcpy),
            concat!(".type ", $memcpy, ",@function"),
            ".p2align 4",
            concat!($memcpy, ":"),
            "2:",
            "mov rax, rdi",
            "cmp rdx, 16",
            "ja 5f",
            // 0..=16 bytes: two overlapping loads of the largest power of two that fits.
            "cmp rdx, 8",
            "jb 6f",
            "mov rcx, [rsi]",
            "mov r8, [rsi + rdx - 8]",
            "mov [rdi], rcx",
            "mov [rdi + rdx - 8], r8",
            "ret",
            "6:",
            "cmp rdx, 4",
            "jb 7f",
            "mov ecx, [rsi]",
            "mov r8d, [rsi + rdx - 4]",
            "mov [rdi], ecx",
            "mov [rdi + rdx - 4], r8d",
            "ret",
            "7:",
            "test rdx, rdx",
            "jz 8f",
            "movzx ecx, byte ptr [rsi]",
            "movzx r8d, byte ptr [rsi + rdx - 1]",
            "cmp rdx, 2",
            "jb 22f",
            "movzx r9d, byte ptr [rsi + 1]",
            "mov [rdi + 1], r9b",
            "22:",
            "mov [rdi], cl",
            "mov [rdi + rdx - 1], r8b",
            "8:",
            "ret",
            "5:",
            "movdqu xmm0, [rsi]",
            "movdqu xmm1, [rsi + rdx - 16]",
            "cmp rdx, 32",
            "ja 23f",
            "movdqu [rdi], xmm0",
            "movdqu [rdi + rdx - 16], xmm1",
            "ret",
            "23:",
            "movdqu xmm2, [rsi + 16]",
            "movdqu xmm3, [rsi + rdx - 32]",
            "cmp rdx, 64",
            "ja 24f",
            "movdqu [rdi], xmm0",
            "movdqu [rdi + 16], xmm2",
            "movdqu [rdi + rdx - 32], xmm3",
            "movdqu [rdi + rdx - 16], xmm1",
            "ret",
            "24:",
            "movdqu xmm6, [rsi + rdx - 64]",
            "movdqu xmm7, [rsi + rdx - 48]",
            "cmp rdx, 128",
            "ja 25f",
            "movdqu xmm4, [rsi + 32]",
            "movdqu xmm5, [rsi + 48]",
            "movdqu [rdi], xmm0",
            "movdqu [rdi + 16], xmm2",
            "movdqu [rdi + 32], xmm4",
            "movdqu [rdi + 48], xmm5",
            "movdqu [rdi + rdx - 64], xmm6",
            "movdqu [rdi + rdx - 48], xmm7",
            "movdqu [rdi + rdx - 32], xmm3",
            "movdqu [rdi + rdx - 16], xmm1",
            "ret",
            // Over 128 bytes, forwards: the first 16 (xmm0) and last 64
            // (xmm6, xmm7, xmm3, xmm1) source bytes are in registers; 64-byte
            // blocks go to r8 = the destination's first 16-byte boundary
            // above it, until the last 64 bytes.
            "25:",
            "lea r8, [rdi + 16]",
            "and r8, -16",
            "mov r9, r8",
            "sub r9, rdi",
            "add r9, rsi",
            "lea r10, [rdi + rdx - 64]",
            "26:",
            "cmp r8, r10",
            "jae 27f",
            "movdqu xmm2, [r9]",
            "movdqu xmm4, [r9 + 16]",
            "movdqu xmm5, [r9 + 32]",
            "movdqu xmm8, [r9 + 48]",
            "movdqa [r8], xmm2",
            "movdqa [r8 + 16], xmm4",
            "movdqa [r8 + 32], xmm5",
            "movdqa [r8 + 48], xmm8",
            "add r8, 64",
            "add r9, 64",
            "jmp 26b",
            "27:",
            "movdqu [rdi + rdx - 64], xmm6",
            "movdqu [rdi + rdx - 48], xmm7",
            "movdqu [rdi + rdx - 32], xmm3",
            "movdqu [rdi + rdx - 16], xmm1",
            "movdqu [rdi], xmm0",
            "ret",
            concat!(".size ", $memcpy, ", . - ", $memcpy),
        );
    };
}

#[cfg(feature = "replace-libc")]
routines!("memcpy", "memmove");
#[cfg(not(feature = "replace-libc"))]
routines!("musl_memcpy_forward", "musl_memcpy_memmove");

extern "C" {
    #[cfg_attr(feature = "replace-libc", link_name = "memcpy")]
    #[cfg_attr(not(feature = "replace-libc"), link_name = "musl_memcpy_forward")]
    fn forward(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
    #[cfg_attr(feature = "replace-libc", link_name = "memmove")]
    #[cfg_attr(not(feature = "replace-libc"), link_name = "musl_memcpy_memmove")]
    fn any_overlap(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
}

/// This crate's `memcpy`: copies `n` bytes forwards; the regions may overlap
/// only with the destination below the source.
///
/// # Safety
/// As `memcpy`: both ranges valid for `n` bytes.
pub unsafe fn copy_forward_or_any(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    forward(dst, src, n)
}

/// This crate's `memmove`: any overlap.
///
/// # Safety
/// As `memmove`: both ranges valid for `n` bytes.
pub unsafe fn copy_overlapping(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    any_overlap(dst, src, n)
}
