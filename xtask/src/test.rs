//! `cargo xtask test`: what CI runs, and what a contributor runs before
//! pushing. Installs the pinned test tools, runs the whole test suite
//! (which includes the reproducibility check: `tests/tests/release_images.rs`
//! rebuilds the release in a clean checkout at another path), checks
//! formatting, and runs clippy with warnings denied.

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::project::Project;

#[derive(clap::Args, Debug)]
pub struct TestFlags {
    /// Skip clippy.
    #[arg(long)]
    pub skip_clippy: bool,
    /// Extra arguments for `cargo test` (after `--`).
    #[arg(last = true)]
    pub cargo_test_args: Vec<String>,
}

impl TestFlags {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        let _dir = sh.push_dir(&project.root);
        crate::tools::ensure_static_toolchain(sh)?;
        let anvil = crate::tools::ensure_anvil(sh, &project)?;
        let _env = sh.push_env("ANVIL_BIN", &anvil);
        let extra = &self.cargo_test_args;
        cmd!(sh, "cargo test --workspace --locked {extra...}").run().context("the test suite failed")?;
        cmd!(sh, "cargo fmt --all -- --check").run().context("the code is not formatted: run `cargo fmt --all`")?;
        if !self.skip_clippy {
            cmd!(sh, "cargo clippy --workspace --all-targets --locked -- -D warnings")
                .run()
                .context("clippy found problems")?;
        }
        Ok(())
    }
}
