//! Process settings the static prover and verifier make at start.

/// mimalloc has the kernel back its arenas with transparent huge pages;
/// faulting in (and zeroing) 2 MiB pages doubled the static prover's system
/// time against glibc's malloc, which gets none here (BENCHMARKS.md,
/// "Prover: musl against glibc"). The same as `MIMALLOC_ALLOW_THP=0`, for
/// the heap grown after the call. A kernel without the call (Nanos) refuses
/// it: no harm, nothing to report.
#[cfg(target_os = "linux")]
pub fn disable_transparent_huge_pages() {
    extern "C" {
        fn prctl(option: std::ffi::c_int, ...) -> std::ffi::c_int;
    }
    const PR_SET_THP_DISABLE: std::ffi::c_int = 41;
    let (on, unused) = (1 as std::ffi::c_ulong, 0 as std::ffi::c_ulong);
    // SAFETY: prctl with integer arguments only; the result is advisory.
    unsafe { prctl(PR_SET_THP_DISABLE, on, unused, unused, unused) };
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_process_no_longer_gets_huge_pages() {
        // PR_GET_THP_DISABLE: 1 once disabled. A separate process, since the
        // setting is inherited and would change the other tests' process.
        if std::env::var_os("HEADER_CHAIN_THP_CHILD").is_some() {
            super::disable_transparent_huge_pages();
            extern "C" {
                fn prctl(option: std::ffi::c_int, ...) -> std::ffi::c_int;
            }
            let got = unsafe {
                prctl(
                    42,
                    0 as std::ffi::c_ulong,
                    0 as std::ffi::c_ulong,
                    0 as std::ffi::c_ulong,
                    0 as std::ffi::c_ulong,
                )
            };
            assert_eq!(got, 1, "PR_GET_THP_DISABLE after disabling");
            return;
        }
        let me = std::env::current_exe().unwrap();
        let status = std::process::Command::new(me)
            .args(["--exact", "process::tests::the_process_no_longer_gets_huge_pages", "--nocapture"])
            .env("HEADER_CHAIN_THP_CHILD", "1")
            .status()
            .unwrap();
        assert!(status.success(), "the child's check failed");
    }
}
