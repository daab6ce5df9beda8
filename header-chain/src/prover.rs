//! The prover's whole job for one witness: choose the circuit shape from the
//! witness, load the SRS for it, generate keys, prove. Timed per stage.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::circuit::{slots_for_len, CircuitShape, ShapeTuning};
use crate::proof::{keygen, prove, Keys, ProofFile, Transcript};
use crate::witness::WitnessFile;

/// Every header gets at least this many keccak-f slots: enough for any
/// mainnet header (679 bytes), so one key serves all mainnet chains of a length.
pub const MIN_SLOTS_PER_HEADER: usize = 5;

/// The circuit shape for a witness: N from its length, slots from its longest header.
pub fn shape_for(witness: &WitnessFile) -> Result<CircuitShape, crate::circuit::ShapeError> {
    shape_for_flavour(witness, Transcript::Blake2b)
}

/// The circuit shape for a witness proven in `transcript`: a Poseidon proof
/// exists to be aggregated, so it gets the segment shape
/// ([`ShapeTuning::SEGMENT`]), narrow and cheap to verify in circuit.
pub fn shape_for_flavour(
    witness: &WitnessFile,
    transcript: Transcript,
) -> Result<CircuitShape, crate::circuit::ShapeError> {
    let slots = witness
        .headers
        .iter()
        .map(|h| slots_for_len(h.rlp.len()))
        .max()
        .unwrap_or(MIN_SLOTS_PER_HEADER)
        .max(MIN_SLOTS_PER_HEADER);
    let tuning = if transcript == Transcript::Poseidon { ShapeTuning::SEGMENT } else { ShapeTuning::default() };
    CircuitShape::compute(witness.headers.len(), slots, tuning)
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Timings {
    pub srs_load: Duration,
    pub keygen: Duration,
    pub prove: Duration,
}

pub struct Proved {
    pub proof: ProofFile,
    pub keys: Keys,
    pub timings: Timings,
}

/// Loads the SRS for the witness's circuit and proves it in the given
/// transcript flavour.
pub fn prove_witness(
    witness: &WitnessFile,
    srs_path: &Path,
    transcript: Transcript,
    mut stage: impl FnMut(&str),
) -> Result<Proved, crate::proof::ProveError> {
    witness.check()?;
    let shape = shape_for_flavour(witness, transcript)?;
    stage(&format!(
        "circuit: {} headers, k = {}, {} keccak-f slots per header, {} rows per round",
        shape.num_headers, shape.k, shape.slots_per_header, shape.rows_per_round
    ));
    let mut timings = Timings::default();
    let t = Instant::now();
    let params = crate::srs::read_for_k(srs_path, shape.k)?;
    timings.srs_load = t.elapsed();
    stage("keygen");
    let t = Instant::now();
    let keys = keygen(&params, &shape)?;
    timings.keygen = t.elapsed();
    stage(&format!("proving ({transcript} transcript)"));
    let t = Instant::now();
    let proof = prove(&params, &keys, witness.rlp_headers(), &witness.statement(), transcript)?;
    timings.prove = t.elapsed();
    Ok(Proved { proof, keys, timings })
}
