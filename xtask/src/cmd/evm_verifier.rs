//! `cargo xtask evm-verifier`: the EVM verifier contract for a range key
//! (`pipeline::evm::contract` makes it), summarised.

use anyhow::Result;
use xshell::Shell;

use crate::pipeline::evm::contract::{make, record_path, sources_dir, summary, KeyFlags};
use crate::spec::project::Project;

#[derive(clap::Args, Debug)]
pub struct EvmVerifierFlags {
    #[command(flatten)]
    pub key: KeyFlags,
    /// Print the record as JSON.
    #[arg(long)]
    pub json: bool,
}

impl EvmVerifierFlags {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        let key = self.key.resolve(&project)?;
        let record = make(sh, &project, &key)?;
        let path = record_path(&project, &key.name);
        if self.json {
            println!("{}", serde_json::to_string_pretty(&summary(&record, &project.show(&path)))?);
            return Ok(());
        }
        println!(
            "EVM verifier for range key {}: one contract of {} B (limit {} B; snark-verifier's own is {} B)",
            &record.key_id[..16],
            record.verifier.runtime_bytes,
            record.code_size_limit,
            record.reference_runtime_bytes,
        );
        println!(
            "calldata: {} bytes ({} instances, then the proof); record {}",
            record.calldata_bytes,
            record.instances,
            project.show(&path)
        );
        println!("sources: {}", project.show(&sources_dir(&project, &key.name)));
        if record.insecure_dev_srs {
            eprintln!("warning: the key was made from the INSECURE development SRS: anyone can forge proofs this contract accepts (`evm-deploy` refuses it without --allow-insecure-srs)");
        }
        Ok(())
    }
}
