//! `cargo xtask bench`: the prover benchmark. For chains of 1, 2, 4, 8 (and
//! 32 with `--large`) headers captured from a local anvil, it runs the static
//! musl prover and a glibc build of the same code on the same witness and
//! SRS, in one run, and prints keygen, prove and verify times, proof size and
//! peak memory side by side.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use xshell::{cmd, Shell};

use crate::build::{execute, plan, HostPaths};
use crate::project::Project;

#[derive(clap::Args, Debug)]
pub struct BenchFlags {
    /// Chain lengths to measure.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 2, 4, 8])]
    pub headers: Vec<u64>,
    /// Also measure 32 headers.
    #[arg(long)]
    pub large: bool,
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
        let project = Project::locate()?;
        let _dir = sh.push_dir(&project.root);
        let manifests = project.manifests()?;
        let prover_image = manifests
            .images
            .iter()
            .find(|i| i.package == "prover")
            .context("no image manifest builds the `prover` package")?;

        let static_plan = plan(&[prover_image], &HostPaths::of(&project));
        let static_bin = project.root.join(&execute(sh, &project, &static_plan, &[prover_image], &project.root, None)?[0].path);
        cmd!(sh, "cargo build --release --locked --quiet --package prover --bin prover").run()?;
        let glibc_bin = project.target_dir.join("release/prover");

        let mut lengths = self.headers.clone();
        if self.large && !lengths.contains(&32) {
            lengths.push(32);
        }
        let anvil_bin = crate::tools::ensure_anvil(sh, &project)?;
        let _anvil_env = sh.push_env("ANVIL_BIN", &anvil_bin);
        let node = end_to_end::Anvil::start(None)?;
        node.mine_with_transactions(*lengths.iter().max().unwrap_or(&1))?;

        let work = project.target_dir.join("bench");
        std::fs::create_dir_all(&work)?;
        let mut rows = Vec::new();
        for &n in &lengths {
            let witness = work.join(format!("witness-{n}.json"));
            let (url, last) = (&node.url, n.to_string());
            cmd!(sh, "{glibc_bin} witness-capture --rpc {url} --from 1 --to {last} --witness {witness}").quiet().ignore_stdout().run()?;
            let loaded = header_chain::witness::WitnessFile::load(&witness)?;
            let k = header_chain::prover::shape_for(&loaded).map_err(anyhow::Error::msg)?.k;
            let srs = crate::srs::ensure_dev(&project, k)?;
            for (label, bin) in [("static musl", &static_bin), ("glibc", &glibc_bin)] {
                eprintln!("bench: {n} headers, {label}");
                let m = run_one(sh, bin, &witness, &srs)?;
                rows.push((label, m));
            }
        }
        let table = render(&rows);
        println!("{table}");
        if let Some(out) = &self.out {
            header_chain::fsutil::write_atomic(out, |w| w.write_all(table.as_bytes()))?;
        }
        Ok(())
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

fn render(rows: &[(&str, Measurement)]) -> String {
    let mut t = String::from("| headers | build | k | rows/round | keygen (s) | prove (s) | verify (ms) | proof (bytes) | peak RSS (MB) |\n|---|---|---|---|---|---|---|---|---|\n");
    for (label, m) in rows {
        t.push_str(&format!(
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.1} | {} | {} |\n",
            m.headers,
            label,
            m.k,
            m.rows_per_round,
            m.keygen_s,
            m.prove_s,
            m.verify_s * 1e3,
            m.proof_bytes,
            m.peak_rss_bytes.map(|b| format!("{:.0}", b as f64 / 1e6)).unwrap_or_else(|| "?".into())
        ));
    }
    t
}
