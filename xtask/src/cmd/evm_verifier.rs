//! `cargo xtask evm-verifier`: the EVM verifier contract for a key
//! (`pipeline::evm::contract` makes it), summarised.

use anyhow::Result;
use xshell::Shell;

use crate::pipeline::evm::contract::{make, record_path, sources_dir, summary, KeyFlags};
use crate::spec::project::Project;

#[derive(clap::Args, Debug)]
pub struct EvmVerifierFlags {
    #[command(flatten)]
    pub key: KeyFlags,
    /// The prover image whose SRS makes the key, if it is missing.
    #[arg(long, default_value = crate::pipeline::header_chain::PROVER_IMAGE)]
    pub prover: String,
    /// Print the record as JSON.
    #[arg(long)]
    pub json: bool,
}

impl EvmVerifierFlags {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        let key = self.key.resolve(&project, &self.prover)?;
        let record = make(sh, &project, &key)?;
        let path = record_path(&project, &key.name);
        if self.json {
            println!("{}", serde_json::to_string_pretty(&summary(&record, &project.show(&path)))?);
            return Ok(());
        }
        let largest = record.parts.iter().map(|p| p.runtime_bytes).max().unwrap_or(0);
        let unsplit = match record.unsplit_runtime_bytes {
            Some(bytes) => format!("unsplit it would be {bytes} B"),
            None => "solc could not compile it unsplit".into(),
        };
        println!(
            "EVM verifier for key {} ({} headers): {} parts (largest {} B of {} B) and the verifier ({} B); {unsplit}",
            &record.key_id[..16],
            record.headers,
            record.parts.len(),
            largest,
            record.code_size_limit,
            record.verifier.runtime_bytes,
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
