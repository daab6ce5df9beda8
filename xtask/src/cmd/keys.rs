//! `cargo xtask keys --headers N [--segment-size S]`: the verifier keys the
//! verifier images pin (`crate::pipeline::header_chain`).

use crate::pipeline::header_chain::{make_any_key, PROVER_IMAGE, RANGE_PROVER_IMAGE};
use crate::spec::project::Project;
use anyhow::Result;
use xshell::Shell;

#[derive(clap::Args, Debug)]
pub struct KeysFlags {
    /// Chain (or range) lengths to make keys for.
    #[arg(long, value_delimiter = ',', default_values_t = vec![8])]
    pub headers: Vec<usize>,
    /// Make range keys: ranges proven in segments of this many headers
    /// (the range-verifier image pins `--headers 20 --segment-size 16`).
    #[arg(long)]
    pub segment_size: Option<usize>,
    /// The prover image whose SRS the keys are made from (default
    /// header-prover; range-prover for range keys).
    #[arg(long)]
    pub prover: Option<String>,
}

impl KeysFlags {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        let default_prover = if self.segment_size.is_some() { RANGE_PROVER_IMAGE } else { PROVER_IMAGE };
        let prover = self.prover.as_deref().unwrap_or(default_prover);
        for n in &self.headers {
            let (path, id) = make_any_key(&project, prover, *n, self.segment_size)?;
            println!("{id}  {}", project.show(&path));
        }
        Ok(())
    }
}
