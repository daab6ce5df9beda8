//! `cargo xtask bench`: benchmarks that print tables, compared side by side
//! in one run.
//!
//! `prover` (default): for chains of 1, 2, 4, 8 (and 32 with `--large`)
//! headers captured from a local anvil, prover builds (`--builds`: the
//! shipped static one, variants of it, and a glibc build of the same code)
//! on the same witness and SRS, in alternating rounds (`--rounds`): keygen,
//! prove and verify times as min / median / max, each build's speed against
//! glibc's in the same round, proof size and peak memory.
//!
//! `hashing`: sha256 alone, BLAKE3 alone, and both in the one streaming
//! pass image records use, over a 1 GiB file.
//!
//! `image`: writing a 64 MiB Nanos image (one large file) with the native
//! writer, beside a plain copy of the same bytes (disk speed) and, when
//! installed, `ops build` of the same inputs.
//!
//! `vm` (`bench_vm.rs`): the images booted in QEMU beside the binaries on
//! the host: boot to task, a small prover task, the verifier's task.
//!
//! `evm` (`evm/bench.rs`): the range key's EVM verifier: code size, deploy
//! and verify gas of a range proof on anvil, beside snark-verifier's own
//! contract.
//!
//! `srs`: downsizing a k=20 raw SRS to k=15, streaming (ours) against
//! loading the whole file (halo2's way): time and peak memory; and the
//! images' payload sizes beside the Taiko tutorial's.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use xshell::{cmd, Shell};

use crate::pipeline::build::{execute, plan, HostPaths};
use crate::spec::project::Project;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    Prover,
    Srs,
    Hashing,
    Image,
    /// The images booted in QEMU beside the binaries on the host.
    Vm,
    /// The range key's EVM verifier: code size, deploy and verify gas on anvil.
    Evm,
}

#[derive(clap::Args, Debug)]
pub struct BenchFlags {
    /// Which benchmark to run.
    #[arg(value_enum, default_value = "prover")]
    pub suite: Suite,
    /// Chain lengths to measure.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 2, 4, 8])]
    pub headers: Vec<u64>,
    /// Also measure 32 headers.
    #[arg(long)]
    pub large: bool,
    /// `prover`: the builds to compare, each proving every chain once per round.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Build::Shipped, Build::MuslMemcpy, Build::Glibc])]
    pub builds: Vec<Build>,
    /// `prover`: alternating rounds (the table gives min / median / max over them).
    #[arg(long, default_value_t = 4)]
    pub rounds: usize,
    /// `vm`: the accelerator.
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: crate::host::vm::Accel,
    /// `evm`: the keccak range proof to verify (default: the newest
    /// `cargo xtask run header-range`'s).
    #[arg(long)]
    pub proof: Option<PathBuf>,
    /// Also write the table (Markdown) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct Measurement {
    headers: u64,
    k: u32,
    rows_per_round: u64,
    keygen_s: f64,
    prove_s: f64,
    verify_s: f64,
    proof_bytes: u64,
    peak_rss_bytes: Option<u64>,
}

impl BenchFlags {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let table = match self.suite {
            Suite::Prover => self.prover(sh)?,
            Suite::Srs => srs_suite(sh)?,
            Suite::Hashing => hashing_suite()?,
            Suite::Image => image_suite(sh)?,
            Suite::Vm => crate::cmd::bench_vm::vm_suite(sh, self.accel)?,
            Suite::Evm => crate::pipeline::evm::bench::evm_suite(sh, self.proof.as_deref())?,
        };
        println!("{table}");
        if let Some(out) = &self.out {
            atomic_write::write_atomic(out, |w| w.write_all(table.as_bytes()))?;
        }
        Ok(())
    }

    fn prover(&self, sh: &Shell) -> Result<String> {
        if self.rounds == 0 {
            bail!("--rounds 0 measures nothing; give at least 1 (4 or more for a ratio to trust)");
        }
        let project = Project::locate()?;
        let _dir = sh.push_dir(&project.root);
        let manifests = project.manifests()?;
        let prover_image = manifests
            .images
            .iter()
            .find(|i| i.package == "prover")
            .context("no image manifest builds the `prover` package")?;

        let work = project.target_dir.join("bench");
        std::fs::create_dir_all(&work)?;
        let mut variants = Vec::new();
        for &build in &self.builds {
            let bin = match build.static_variant() {
                Some((features, profile_env)) => {
                    let mut static_plan = plan(&[prover_image], &HostPaths::of(&project));
                    if !features.is_empty() {
                        static_plan.cargo_args.extend(["--features".to_string(), features.join(",")]);
                    }
                    let _profile: Vec<_> = profile_env.iter().map(|(k, v)| sh.push_env(k, v)).collect();
                    let built = project
                        .root
                        .join(&execute(sh, &project, &static_plan, &[prover_image], &project.root, None)?[0].path);
                    let kept = work.join(format!("prover-{}", build.slug()));
                    std::fs::copy(&built, &kept)?;
                    kept
                }
                None => {
                    cmd!(sh, "cargo build --release --locked --quiet --package prover --bin prover").run()?;
                    project.target_dir.join("release/prover")
                }
            };
            variants.push((build, bin));
        }
        // Witnesses are captured by whichever build is first: all read the same files.
        let capture_bin = variants[0].1.clone();

        let mut lengths = self.headers.clone();
        if self.large && !lengths.contains(&32) {
            lengths.push(32);
        }
        let anvil_bin = crate::host::tools::ensure_anvil(sh, &project)?;
        let node = anvil_harness::Anvil::start(&anvil_bin, None)?;
        node.mine_with_transactions(*lengths.iter().max().unwrap_or(&1))?;

        let mut inputs = Vec::new();
        for &n in &lengths {
            let witness = work.join(format!("witness-{n}.json"));
            let (url, last) = (&node.url, n.to_string());
            cmd!(sh, "{capture_bin} witness-capture --rpc {url} --from 1 --to {last} --witness {witness}")
                .quiet()
                .ignore_stdout()
                .run()?;
            let shape =
                crate::pipeline::programs::run_json(&capture_bin, &crate::os_args!["shape", "--witness", &witness])?;
            let k = shape["k"].as_u64().context("the prover printed a shape without k")? as u32;
            inputs.push((n, witness, crate::pipeline::srs::ensure_dev(&project, k)?));
        }
        drop(node);

        // Alternating rounds: every build once per round, the order rotated
        // each round, so a slow spell of the machine lands on all builds.
        let mut runs: Vec<Vec<Vec<Measurement>>> =
            lengths.iter().map(|_| variants.iter().map(|_| Vec::new()).collect()).collect();
        let bar =
            crate::support::progress::steps("bench prover", (self.rounds * lengths.len() * variants.len()) as u64);
        for round in 0..self.rounds {
            for (li, (n, witness, srs)) in inputs.iter().enumerate() {
                for step in 0..variants.len() {
                    let vi = (step + round) % variants.len();
                    let (build, bin) = &variants[vi];
                    let step = format!("round {}/{}: {n} headers, {}", round + 1, self.rounds, build.label());
                    if bar.is_hidden() {
                        eprintln!("bench: {step}");
                    }
                    bar.set_message(step);
                    runs[li][vi].push(run_one(sh, bin, witness, srs)?);
                    bar.inc(1);
                }
            }
        }
        bar.finish_and_clear();
        let labels: Vec<Build> = variants.iter().map(|(b, _)| *b).collect();
        Ok(render_prover(&labels, &runs, self.rounds))
    }
}

/// The prover builds `bench prover` can compare.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// What the images ship: static musl, mimalloc, musl-memcpy, fat LTO.
    Shipped,
    /// The same with musl's own memcpy/memmove (before musl-memcpy).
    MuslMemcpy,
    /// The same with musl's own malloc.
    MuslMalloc,
    /// The same without whole-program optimisation (the release profile before LTO).
    NoLto,
    /// A glibc (dynamically linked) release build of the same crate: the reference.
    Glibc,
}

impl Build {
    fn label(self) -> &'static str {
        match self {
            Build::Shipped => "static musl (shipped)",
            Build::MuslMemcpy => "static musl, musl's memcpy",
            Build::MuslMalloc => "static musl, musl's malloc",
            Build::NoLto => "static musl, no LTO",
            Build::Glibc => "glibc",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Build::Shipped => "shipped",
            Build::MuslMemcpy => "musl-memcpy",
            Build::MuslMalloc => "musl-malloc",
            Build::NoLto => "no-lto",
            Build::Glibc => "glibc",
        }
    }

    /// Features and profile overrides of a static build; `None` for glibc.
    #[allow(clippy::type_complexity)]
    fn static_variant(self) -> Option<(&'static [&'static str], &'static [(&'static str, &'static str)])> {
        match self {
            Build::Shipped => Some((&[], &[])),
            Build::MuslMemcpy => Some((&["prover/musl-libc-memcpy"], &[])),
            Build::MuslMalloc => Some((&["prover/musl-system-allocator"], &[])),
            Build::NoLto => Some((
                &[],
                &[
                    ("CARGO_PROFILE_RELEASE_LTO", "off"),
                    ("CARGO_PROFILE_RELEASE_PANIC", "unwind"),
                    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"),
                ],
            )),
            Build::Glibc => None,
        }
    }
}

fn run_one(sh: &Shell, bin: &Path, witness: &Path, srs: &Path) -> Result<Measurement> {
    let out = cmd!(sh, "{bin} bench --witness {witness} --srs {srs}").read()?;
    let line = out.lines().last().unwrap_or_default();
    let m: Measurement = serde_json::from_str(line).with_context(|| format!("unexpected bench output: {out}"))?;
    if m.headers == 0 {
        bail!("bench measured no headers");
    }
    Ok(m)
}

/// Minimum, median and maximum (the mean of the middle two for an even count).
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let median = if v.len().is_multiple_of(2) { (v[mid - 1] + v[mid]) / 2.0 } else { v[mid] };
    (v[0], median, v[v.len() - 1])
}

/// One row per chain length and build: times as min / median / max over the
/// rounds, and each build's speed against glibc's run of the same round
/// (glibc's prove time ÷ the build's: 1.00 = as fast, below = slower).
fn render_prover(builds: &[Build], runs: &[Vec<Vec<Measurement>>], rounds: usize) -> String {
    let glibc = builds.iter().position(|b| *b == Build::Glibc);
    let mut t = format!(
        "{rounds} alternating rounds; times min / median / max. Speed vs glibc: glibc's prove time ÷ this build's, per round.\n\n| headers | build | k | rows/round | keygen (s) | prove (s) | speed vs glibc | verify (ms) | proof (bytes) | peak RSS (MB, median) |\n|---|---|---|---|---|---|---|---|---|---|\n"
    );
    let triple = |(a, b, c): (f64, f64, f64), digits: usize| format!("{a:.digits$} / **{b:.digits$}** / {c:.digits$}");
    for per_length in runs {
        for (bi, ms) in per_length.iter().enumerate() {
            let first = &ms[0];
            let col = |f: fn(&Measurement) -> f64| ms.iter().map(f).collect::<Vec<_>>();
            let ratio = match glibc {
                Some(g) if g != bi => {
                    let ratios: Vec<f64> = per_length[g].iter().zip(ms).map(|(g, m)| g.prove_s / m.prove_s).collect();
                    triple(spread(&ratios), 3)
                }
                Some(_) => "1".into(),
                None => "(no glibc build)".into(),
            };
            let rss: Vec<f64> = ms.iter().filter_map(|m| m.peak_rss_bytes.map(|b| b as f64 / 1e6)).collect();
            t.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {ratio} | {:.1} | {} | {} |\n",
                first.headers,
                builds[bi].label(),
                first.k,
                first.rows_per_round,
                triple(spread(&col(|m| m.keygen_s)), 2),
                triple(spread(&col(|m| m.prove_s)), 2),
                spread(&col(|m| m.verify_s * 1e3)).1,
                first.proof_bytes,
                if rss.is_empty() { "?".into() } else { format!("{:.0}", spread(&rss).1) },
            ));
        }
    }
    t
}

#[cfg(test)]
mod prover_table_tests {
    use super::*;

    fn m(prove_s: f64, rss_mb: u64) -> Measurement {
        Measurement {
            headers: 8,
            k: 14,
            rows_per_round: 16,
            keygen_s: 1.0,
            prove_s,
            verify_s: 0.05,
            proof_bytes: 58272,
            peak_rss_bytes: Some(rss_mb * 1_000_000),
        }
    }

    #[test]
    fn spread_takes_the_middle_of_an_even_count() {
        assert_eq!(spread(&[4.0, 1.0, 3.0, 2.0]), (1.0, 2.5, 4.0));
        assert_eq!(spread(&[5.0, 1.0, 3.0]), (1.0, 3.0, 5.0));
    }

    #[test]
    fn speed_is_paired_by_round_against_glibc() {
        // Round 1: glibc 10 s, shipped 20 s (0.5); round 2: 12 s vs 12 s (1.0).
        let runs = vec![vec![vec![m(20.0, 500), m(12.0, 480)], vec![m(10.0, 440), m(12.0, 450)]]];
        let t = render_prover(&[Build::Shipped, Build::Glibc], &runs, 2);
        let shipped = t.lines().find(|l| l.contains("static musl (shipped)")).unwrap();
        assert!(shipped.contains("| 0.500 / **0.750** / 1.000 |"), "{shipped}");
        assert!(shipped.contains("| 12.00 / **16.00** / 20.00 |"), "{shipped}");
        assert!(shipped.ends_with("| 490 |"), "{shipped}");
        let glibc = t.lines().find(|l| l.contains("| glibc |")).unwrap();
        assert!(glibc.contains("| 1 |"), "{glibc}");
    }
}

/// Source and target degrees of the SRS benchmark.
const SRS_FROM_K: u32 = 20;
const SRS_TO_K: u32 = 15;
/// The Taiko tutorial's image sizes, for comparison.
const TUTORIAL_PROVER_MIB: f64 = 563.69;
const TUTORIAL_VERIFIER_MIB: f64 = 25.54;

#[derive(Debug, Deserialize)]
struct DownsizeRun {
    seconds: f64,
    peak_rss_bytes: Option<u64>,
    source_bytes: u64,
    output_bytes: u64,
    sha256: String,
}

fn srs_suite(sh: &Shell) -> Result<String> {
    let project = Project::locate()?;
    let source = crate::pipeline::srs::ensure_dev(&project, SRS_FROM_K)?;
    let work = project.target_dir.join("bench");
    std::fs::create_dir_all(&work)?;
    let xtask = std::env::current_exe()?;
    let mut runs = Vec::new();
    for (label, extra) in [("streaming (ours)", None), ("whole file + ParamsKZG::downsize", Some("--whole-file"))] {
        let out = work.join(format!("kzg_bn254_{SRS_TO_K}.{}.srs", if extra.is_some() { "whole" } else { "stream" }));
        let (from, k) = (&source, SRS_TO_K.to_string());
        let extra: Vec<&str> = extra.into_iter().collect();
        eprintln!("bench: downsize k={SRS_FROM_K} → k={SRS_TO_K}, {label}");
        let line =
            cmd!(sh, "{xtask} srs downsize --from {from} --k {k} --out {out} --force --json {extra...}").read()?;
        let run: DownsizeRun = serde_json::from_str(line.lines().last().unwrap_or_default())
            .with_context(|| format!("unexpected output: {line}"))?;
        runs.push((label, run));
    }
    if runs[0].1.sha256 != runs[1].1.sha256 {
        bail!("the two downsizing methods wrote different files");
    }
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let mut t = format!(
        "Downsizing the raw SRS k={SRS_FROM_K} ({:.0} MiB) to k={SRS_TO_K} ({:.1} MiB); outputs byte-identical (sha256 {}).\n\n| method | time (s) | peak RSS (MiB) |\n|---|---|---|\n",
        mib(runs[0].1.source_bytes),
        mib(runs[0].1.output_bytes),
        &runs[0].1.sha256[..16]
    );
    for (label, r) in &runs {
        t.push_str(&format!(
            "| {label} | {:.1} | {} |\n",
            r.seconds,
            r.peak_rss_bytes.map(|b| format!("{:.0}", mib(b))).unwrap_or_else(|| "?".into())
        ));
    }

    // Image payloads: what `cargo xtask image` stages for each image.
    crate::pipeline::header_chain::make_key(&project, crate::pipeline::header_chain::PROVER_IMAGE, 8)?;
    let manifests = project.manifests()?;
    let images: Vec<_> = manifests.images.iter().collect();
    let built = crate::pipeline::build::execute(
        sh,
        &project,
        &crate::pipeline::build::plan(&images, &crate::pipeline::build::HostPaths::of(&project)),
        &images,
        &project.root,
        None,
    )?;
    t.push_str("\n| image | payload (MiB) | of which | tutorial image (MiB) |\n|---|---|---|---|\n");
    for (image, bin) in images.iter().zip(&built) {
        let mut parts = vec![format!("binary {:.1}", mib(bin.size))];
        let mut total = bin.size;
        if let Some(srs) = &image.srs {
            let size = crate::pipeline::srs::raw_size(srs.k.get());
            total += size;
            parts.push(format!("SRS k={} {:.1}", srs.k.get(), mib(size)));
        }
        for f in &image.files {
            let size = std::fs::metadata(project.host(&f.source)).map(|m| m.len()).unwrap_or(0);
            total += size;
            parts.push(format!("{} {:.2}", f.path, mib(size)));
        }
        let tutorial = if image.srs.is_some() { TUTORIAL_PROVER_MIB } else { TUTORIAL_VERIFIER_MIB };
        t.push_str(&format!("| {} | {:.1} | {} | {tutorial} |\n", image.name, mib(total), parts.join(", ")));
    }
    Ok(t)
}

fn hashing_suite() -> Result<String> {
    use std::io::{Read, Write};
    use std::time::Instant;
    let project = Project::locate()?;
    let path = project.target_dir.join("bench").join("1GiB.bin");
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    const SIZE: u64 = 1 << 30;
    if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(SIZE) {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut block = vec![0u8; 1 << 20];
        for i in 0..(SIZE >> 20) {
            for (j, b) in block.iter_mut().enumerate() {
                *b = (i as usize * 131 + j * 7) as u8;
            }
            f.write_all(&block)?;
        }
        f.flush()?;
    }
    // Warm the page cache so every row measures hashing, not the disk.
    let mut buf = vec![0u8; 4 << 20];
    let mut f = std::fs::File::open(&path)?;
    while f.read(&mut buf)? > 0 {}
    let gbps = |secs: f64| SIZE as f64 / secs / 1e9;
    let t = Instant::now();
    crate::support::hashing::sha256_file(&path)?;
    let sha = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(&path)?)?;
    let b3 = t.elapsed().as_secs_f64();
    let t = Instant::now();
    crate::support::hashing::sha256_and_blake3(&path, |_| {})?;
    let both = t.elapsed().as_secs_f64();
    Ok(format!(
        "Hashing a 1 GiB file (page cache warm).\n\n| digest | time (s) | GB/s |\n|---|---|---|\n| sha256 (sha2, SHA-NI) | {sha:.2} | {:.2} |\n| BLAKE3 (one thread) | {b3:.2} | {:.2} |\n| sha256 + BLAKE3, one pass (records) | {both:.2} | {:.2} |\n",
        gbps(sha), gbps(b3), gbps(both)
    ))
}

/// kernel.img and boot.img for the image benchmark: the user's pinned Nanos
/// release when present, else TEST DOUBLES written here (the writer treats
/// the kernel as opaque payload, so its speed does not depend on it).
fn bench_nanos(project: &Project) -> Result<(PathBuf, PathBuf, &'static str)> {
    if let Some(home) = crate::spec::project::home_dir() {
        let dir = home.join(".ops/0.1.52");
        if dir.join("kernel.img").is_file() && dir.join("boot.img").is_file() {
            return Ok((dir.join("kernel.img"), dir.join("boot.img"), "Nanos 0.1.52 from ~/.ops"));
        }
    }
    let dir = project.target_dir.join("bench/nanos-test-doubles");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("kernel.img"), vec![0x4b; 8 << 20])?;
    let boot = nanos_image::mbr::boot_image_test_double(64);
    std::fs::write(dir.join("boot.img"), boot)?;
    Ok((dir.join("kernel.img"), dir.join("boot.img"), "8 MiB kernel.img and boot.img TEST DOUBLES"))
}

fn image_suite(sh: &Shell) -> Result<String> {
    use std::time::Instant;
    let project = Project::locate()?;
    let dir = project.target_dir.join("bench/image");
    std::fs::create_dir_all(&dir)?;
    const SIZE: usize = 64 << 20;
    let payload = dir.join("payload.bin");
    if std::fs::metadata(&payload).map(|m| m.len()).ok() != Some(SIZE as u64) {
        let bytes: Vec<u8> = (0..SIZE).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        std::fs::write(&payload, bytes)?;
    }
    let (kernel, boot, nanos_note) = bench_nanos(&project)?;
    let mut tree = std::collections::BTreeMap::new();
    nanos_image::tfs::insert(
        &mut tree,
        "/payload.bin",
        nanos_image::tfs::Node::File(nanos_image::tfs::Source::Host(payload.clone())),
    )?;
    let spec = nanos_image::image::ImageSpec {
        boot: boot.clone(),
        kernel: kernel.clone(),
        root: nanos_image::tfs::FsSpec {
            label: String::new(),
            size: None,
            meta: std::collections::BTreeMap::new(),
            tree,
        },
    };
    let kernel_len = std::fs::metadata(&kernel)?.len() as f64;
    let bytes_written = SIZE as f64 + kernel_len;
    let out = dir.join("bench.img");
    let copy_to = dir.join("copy.bin");
    let runs = 5;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut copy, mut user_copy, mut write, mut write_check) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // ext4 commits other files' dirty data with an fsync: start every
    // timed row from a clean state.
    let settle = || std::process::Command::new("sync").status().map(|_| ());
    for _ in 0..runs {
        let _ = std::fs::remove_file(&copy_to);
        settle()?;
        let t = Instant::now();
        {
            use std::io::{Read, Write};
            let (mut from, mut to) = (std::fs::File::open(&payload)?, std::fs::File::create(&copy_to)?);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = from.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                to.write_all(&buf[..n])?;
            }
            to.sync_all()?;
        }
        user_copy.push(t.elapsed().as_secs_f64());

        let _ = std::fs::remove_file(&copy_to);
        settle()?;
        let t = Instant::now();
        std::fs::copy(&payload, &copy_to)?;
        std::fs::File::open(&copy_to)?.sync_all()?;
        copy.push(t.elapsed().as_secs_f64());

        let _ = std::fs::remove_file(&out);
        settle()?;
        let t = Instant::now();
        nanos_image::image::write_image(&spec, &out, &|_| {})?;
        write.push(t.elapsed().as_secs_f64());

        let _ = std::fs::remove_file(&out);
        settle()?;
        let t = Instant::now();
        nanos_image::image::write_image(&spec, &out, &|_| {})?;
        nanos_image::inspect::inspect(&std::fs::File::open(&out)?).map_err(anyhow::Error::msg)?;
        write_check.push(t.elapsed().as_secs_f64());
    }
    let image_bytes = std::fs::metadata(&out)?.len();
    let mbps = |secs: f64, bytes: f64| bytes / secs / 1e6;
    let (c, uc, w, wc) = (median(copy), median(user_copy), median(write), median(write_check));
    let mut table = format!(
        "Writing a {image_bytes}-byte Nanos image holding one 64 MiB file ({nanos_note}); median of {runs} runs, page cache warm, each ending in fsync. MB/s counts the bytes each row writes (payload, plus the kernel for the images).\n\n| what | time (s) | MB/s |\n|---|---|---|\n| copy the 64 MiB payload in the kernel (copy_file_range, as cp) + fsync | {c:.3} | {:.0} |\n| copy the 64 MiB payload through 1 MiB reads and writes (as dd) + fsync | {uc:.3} | {:.0} |\n| native writer: whole image + fsync | {w:.3} | {:.0} |\n| native writer + read back and hash every file (what `image` does) | {wc:.3} | {:.0} |\n",
        mbps(c, SIZE as f64),
        mbps(uc, SIZE as f64),
        mbps(w, bytes_written),
        mbps(wc, bytes_written),
    );
    match crate::spec::project::on_path("ops") {
        Some(ops) => {
            let stage = dir.join("ops-stage");
            std::fs::create_dir_all(&stage)?;
            std::fs::copy(&payload, stage.join("payload.bin"))?;
            std::fs::write(stage.join("config.json"), "{\"Files\":[\"payload.bin\"]}\n")?;
            let program = std::env::current_exe()?;
            std::fs::copy(&program, stage.join("program"))?;
            let _d = sh.push_dir(&stage);
            let t = Instant::now();
            let ok = cmd!(sh, "{ops} build program -c config.json -i nanos-bench -t onprem").quiet().run().is_ok();
            let secs = t.elapsed().as_secs_f64();
            table += &if ok {
                format!("| ops build, same payload (+ this program) | {secs:.3} | {:.0} |\n", mbps(secs, bytes_written))
            } else {
                "| ops build | failed (see its output above) | |\n".to_string()
            };
        }
        None => table += "| ops build | ops is not installed on this machine | |\n",
    }
    Ok(table)
}
