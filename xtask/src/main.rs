//! `cargo xtask`: the command line. The commands live in the library's
//! `cmd/` (one module each, see ARCHITECTURE.md).

use xtask::cmd::{
    bench, build, check, deploy, doctor, evm_deploy, evm_submit, evm_verifier, exec, image, inspect, keys,
    nanos as nanos_cmd, new_pair, release, run, srs, test,
};

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xshell::Shell;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, check and test the Gevulot prover and verifier images")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Static, reproducible release builds of the images' programs.
    Build(build::BuildFlags),
    /// Nanos images (native writer, or ops): stage, build, checksums, record.
    Image(image::ImageFlags),
    /// Nanos releases: fetch one into the cache (checked against the lock), list them.
    Nanos(nanos_cmd::NanosFlags),
    /// What a Nanos image holds: partitions, manifest, files, content digest.
    Inspect(inspect::InspectFlags),
    /// Reproducible release: every image with the native writer, SHA256SUMS, a release record.
    Release(release::ReleaseFlags),
    /// Validate every manifest and print what they declare.
    Check(check::CheckFlags),
    /// Run a pair's workflow on this machine the way a Gevulot node runs it (`--vm`: in QEMU).
    Run(run::RunFlags),
    /// SRS files: generate (insecure, development), downsize, verify.
    Srs(srs::SrsFlags),
    /// Deploy a pair's images to a Gevulot node with gevulot-cli, and record it.
    Deploy(deploy::DeployFlags),
    /// Run a deployed pair on a witness through gevulot-cli and fetch the results.
    Exec(exec::ExecFlags),
    /// Scaffold a prover/verifier pair: two crates on the shim, their image manifests, the pair's workflow.
    NewPair(new_pair::NewPairFlags),
    /// Verifier keys for the verifier image, made from the prover's SRS.
    Keys(keys::KeysFlags),
    /// The Solidity verifier for a key: generated, compiled (pinned solc), split to fit EIP-170, recorded.
    EvmVerifier(evm_verifier::EvmVerifierFlags),
    /// Deploy a key's EVM verifier (parts, then the verifier) from an account the node holds.
    EvmDeploy(evm_deploy::EvmDeployFlags),
    /// Ask a deployed EVM verifier about a keccak-transcript proof: verdict and gas.
    /// Exit 0: accepted; 1: rejected; 2: could not ask (bad input, node, address).
    EvmSubmit(evm_submit::EvmSubmitFlags),
    /// Benchmarks that print tables: prover builds side by side, VMs, EVM gas, image writing, SRS, hashing.
    Bench(bench::BenchFlags),
    /// Report which prerequisites are present and how to get the missing ones.
    Doctor(doctor::DoctorFlags),
    /// Everything CI runs: install test tools, tests, clippy, reproducible build.
    Test(test::TestFlags),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let sh = match Shell::new() {
        Ok(sh) => sh,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // evm-submit's exit code tells "rejected" (1) from "could not ask" (2).
    let verdict_command = matches!(cli.command, Command::EvmSubmit(_));
    let result = match cli.command {
        Command::Build(flags) => flags.run(&sh),
        Command::Check(flags) => flags.run(&sh),
        Command::Image(flags) => flags.run(&sh),
        Command::Nanos(flags) => flags.run(&sh),
        Command::Inspect(flags) => flags.run(&sh),
        Command::Release(flags) => flags.run(&sh),
        Command::Run(flags) => flags.run(&sh),
        Command::Srs(flags) => flags.run(&sh),
        Command::Keys(flags) => flags.run(&sh),
        Command::EvmVerifier(flags) => flags.run(&sh),
        Command::EvmDeploy(flags) => flags.run(&sh),
        Command::EvmSubmit(flags) => flags.run(&sh),
        Command::NewPair(flags) => flags.run(&sh),
        Command::Deploy(flags) => flags.run(&sh),
        Command::Exec(flags) => flags.run(&sh),
        Command::Bench(flags) => flags.run(&sh),
        Command::Doctor(flags) => flags.run(&sh),
        Command::Test(flags) => flags.run(&sh),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            match (verdict_command, e.is::<xtask::pipeline::evm::submit::Rejected>()) {
                (true, false) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}
