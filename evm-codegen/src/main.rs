//! `evm-codegen PROTOCOL.json OUT.sol`: the Solidity verifier contract for
//! one header-chain verifier key, from the compiled protocol and SRS points
//! that `prover evm-protocol` writes. snark-verifier's EVM loader replays
//! the verifier (SHPLONK over KZG, Keccak transcript) and records it as Yul
//! inside a Solidity contract; every constant comes from the key.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{bail, Context, Result};
use halo2_base::halo2_proofs::halo2curves::bn256::{Bn256, Fq, Fr, G1Affine, G2Affine};
use serde::Deserialize;
use snark_verifier::loader::evm::EvmLoader;
use snark_verifier::pcs::kzg::{Bdfg21, KzgAs, KzgDecidingKey};
use snark_verifier::system::halo2::transcript::evm::EvmTranscript;
use snark_verifier::verifier::{plonk::PlonkProtocol, plonk::PlonkVerifier, SnarkVerifier};
use snark_verifier::pcs::kzg::LimbsEncoding;

const PROTOCOL_KIND: &str = "header-chain-evm-protocol";
const PROTOCOL_VERSION: u32 = 1;

/// `header_chain::evm::EvmProtocol`, as read here (same snark-verifier version).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvmProtocol {
    kind: String,
    version: u32,
    key_id: String,
    num_instance: Vec<usize>,
    protocol: PlonkProtocol<G1Affine>,
    g0: G1Affine,
    g2: G2Affine,
    s_g2: G2Affine,
}

type EvmVerifier = PlonkVerifier<KzgAs<Bn256, Bdfg21>>;
/// For a key whose public instances end with a KZG accumulator (a range
/// key, `header-range`): 3 limbs of 88 bits per coordinate, as
/// snark-verifier-sdk's aggregation circuit writes them. The contract then
/// checks the accumulator's pairing with the proof's own.
type AggregateEvmVerifier = PlonkVerifier<KzgAs<Bn256, Bdfg21>, LimbsEncoding<3, 88>>;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [input, out] = args.as_slice() else { bail!("usage: evm-codegen PROTOCOL.json OUT.sol") };
    let text = std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    let protocol = read_protocol(&text).with_context(|| {
        format!("{} is not an EVM protocol file (write it with `prover evm-protocol`)", input.display())
    })?;
    if protocol.kind != PROTOCOL_KIND || protocol.version != PROTOCOL_VERSION {
        bail!(
            "{} is {} v{}; expected {PROTOCOL_KIND} v{PROTOCOL_VERSION}",
            input.display(),
            protocol.kind,
            protocol.version
        );
    }
    let solidity = solidity(&protocol)?;
    write_atomically(out, solidity.as_bytes())?;
    println!("{{\"key_id\":\"{}\",\"solidity_bytes\":{}}}", protocol.key_id, solidity.len());
    Ok(())
}

/// The protocol's gate expressions nest thousands deep: parse without
/// serde_json's depth limit, on a thread with room for that recursion.
fn read_protocol(text: &[u8]) -> Result<EvmProtocol> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(1 << 30)
            .spawn_scoped(scope, || {
                let mut reader = serde_json::Deserializer::from_slice(text);
                reader.disable_recursion_limit();
                EvmProtocol::deserialize(&mut reader).map_err(anyhow::Error::from)
            })
            .expect("a thread starts")
            .join()
            .expect("parsing does not panic")
    })
}

fn solidity(input: &EvmProtocol) -> Result<String> {
    let deciding_key: KzgDecidingKey<Bn256> = (input.g0, input.g2, input.s_g2).into();
    let loader = EvmLoader::new::<Fq, Fr>();
    let protocol = input.protocol.loaded(&loader);
    let mut transcript = EvmTranscript::<_, Rc<EvmLoader>, _, _>::new(&loader);
    let instances = transcript.load_instances(input.num_instance.clone());
    let layout = |e| anyhow::anyhow!("snark-verifier cannot read the proof layout: {e:?}");
    let write = |e| anyhow::anyhow!("snark-verifier cannot write the verifier: {e:?}");
    if input.protocol.accumulator_indices.is_empty() {
        let proof = EvmVerifier::read_proof(&deciding_key, &protocol, &instances, &mut transcript).map_err(layout)?;
        EvmVerifier::verify(&deciding_key, &protocol, &instances, &proof).map_err(write)?;
    } else {
        let proof =
            AggregateEvmVerifier::read_proof(&deciding_key, &protocol, &instances, &mut transcript).map_err(layout)?;
        AggregateEvmVerifier::verify(&deciding_key, &protocol, &instances, &proof).map_err(write)?;
    }
    Ok(loader.solidity_code())
}

/// Temporary file beside `path`, then rename: never a half-written contract.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let partial = path.with_extension("sol.partial");
    std::fs::write(&partial, bytes).with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))
}
