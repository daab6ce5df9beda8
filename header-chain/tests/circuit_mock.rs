//! MockProver checks of the header-chain constraints: honest chains pass,
//! and every tampering the soundness notes name is rejected.

use header_chain::circuit::{CircuitShape, HeaderChainCircuit, ShapeTuning};
use header_chain::halo2_proofs::{dev::MockProver, halo2curves::bn256::Fr};
use header_chain::layout::{template_chain, ChainStatement};
use header_chain::witness::WitnessFile;

fn statement_of(headers: &[Vec<u8>]) -> ChainStatement {
    let parsed: Vec<alloy_consensus::Header> = headers
        .iter()
        .map(|h| alloy_rlp::Decodable::decode(&mut h.as_slice()).unwrap())
        .collect();
    WitnessFile::new(None, &parsed).statement()
}

fn mock(shape: &CircuitShape, headers: Vec<Vec<u8>>, instances: Vec<Fr>) -> Result<(), String> {
    let circuit = HeaderChainCircuit::new(shape.clone(), headers);
    let prover = MockProver::run(shape.k, &circuit, vec![instances]).map_err(|e| format!("{e:?}"))?;
    prover.verify().map_err(|e| format!("{} failures, first: {:?}", e.len(), e.first()))
}

#[test]
fn honest_template_chain_passes() {
    let shape = CircuitShape::compute(2, 5, ShapeTuning::default()).unwrap();
    let headers = template_chain(2);
    let instances = statement_of(&headers).instances();
    mock(&shape, headers, instances).unwrap();
}
