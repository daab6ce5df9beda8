//! `cargo xtask keys --headers N`: the verifier key the verifier image pins
//! (`crate::keys`).

use crate::keys::make_key;
use crate::project::Project;
use anyhow::Result;
use xshell::Shell;

#[derive(clap::Args, Debug)]
pub struct KeysFlags {
    /// Chain lengths to make keys for.
    #[arg(long, value_delimiter = ',', default_values_t = vec![8])]
    pub headers: Vec<usize>,
    /// The prover image whose SRS the keys are made from.
    #[arg(long, default_value = "header-prover")]
    pub prover: String,
}

impl KeysFlags {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        for n in &self.headers {
            let (path, id) = make_key(&project, &self.prover, *n)?;
            println!("{id}  {}", project.show(&path));
        }
        Ok(())
    }
}
