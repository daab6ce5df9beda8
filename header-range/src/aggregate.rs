//! The aggregation circuit: verifies proofs in circuit (snark-verifier's
//! halo2 loader, SHPLONK), constrains the links between their statements
//! and exposes the range's statement followed by the KZG accumulator whose
//! pairing the final verifier checks.
//!
//! One circuit serves both levels of a range proof: over the segment proofs,
//! and as the wrapper over that one aggregation proof (fewer cells, so fewer
//! columns: the final proof has few commitments and is cheap to check on
//! chain). A proof that carries an accumulator has it folded in; its
//! protocol says where the limbs are.

use halo2_base::gates::circuit::{builder::BaseCircuitBuilder, BaseCircuitParams, CircuitBuilderStage};
use halo2_base::gates::flex_gate::MultiPhaseThreadBreakPoints;
use halo2_base::gates::RangeInstructions;
use halo2_base::halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_base::halo2_proofs::plonk::{keygen_pk, keygen_vk, Error, ProvingKey, VerifyingKey};
use halo2_base::halo2_proofs::poly::commitment::{Params, ParamsProver};
use halo2_base::halo2_proofs::poly::kzg::commitment::ParamsKZG;
use snark_verifier::system::halo2::{compile, Config};
use snark_verifier::verifier::plonk::PlonkProtocol;
use snark_verifier_sdk::halo2::aggregation::{aggregate_snarks, VerifierUniversality};
use snark_verifier_sdk::halo2::gen_dummy_snark_from_protocol;
use snark_verifier_sdk::{Snark, SHPLONK};

use crate::links::{constrain_links, Statement};

/// Public instances: the range's statement (6, header-chain's order), then
/// the accumulator's two G1 points as 3 limbs of 88 bits per coordinate (12).
pub const RANGE_INSTANCES: usize = STATEMENT_INSTANCES + ACCUMULATOR_LIMBS;
pub const STATEMENT_INSTANCES: usize = 6;
pub const ACCUMULATOR_LIMBS: usize = 12;
/// The degree of the circuit over the segment proofs: two segment proofs
/// take about 27 M advice cells, 13 columns at k = 21 (at k = 22, 7 columns
/// but a 21 GB peak instead of 16; BENCHMARKS.md, "Ranges").
pub const AGGREGATE_K: u32 = 21;
/// The wrapper's degree: one more power of two than the aggregation spreads
/// its cells over a few columns, and every column costs the EVM verifier an
/// `ecMul` or more.
pub const WRAPPER_K: u32 = 22;
/// Rows halo2 withholds at the end of the aggregation circuit (blinding).
const MINIMUM_ROWS: usize = 20;

/// Everything that fixes an aggregation circuit besides the keys it verifies.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregationConfig {
    pub base: BaseCircuitParams,
    pub break_points: MultiPhaseThreadBreakPoints,
}

/// Fills `builder` with the verification of `snarks` and the links between
/// their statements (each snark's first [`STATEMENT_INSTANCES`] instances);
/// the public instances are set on the builder.
fn populate(builder: &mut BaseCircuitBuilder<Fr>, params: &ParamsKZG<Bn256>, snarks: Vec<Snark>) {
    let range = builder.range_chip();
    let output = aggregate_snarks::<SHPLONK>(
        builder.pool(0),
        &range,
        params.get_g()[0].into(),
        snarks,
        VerifierUniversality::None,
    );
    let statements: Vec<Statement> = output
        .previous_instances
        .into_iter()
        .map(|instances| instances[..STATEMENT_INSTANCES].try_into().expect("a proof states 6 instances first"))
        .collect();
    let statement = constrain_links(range.gate(), builder.main(0), &statements);
    builder.assigned_instances[0] = statement.into_iter().chain(output.accumulator).collect();
}

/// An aggregation circuit's verifying key and configuration; its proving
/// key on request (minutes and gigabytes, which a verifier key does not need).
pub struct Keygen {
    pub vk: VerifyingKey<G1Affine>,
    pub config: AggregationConfig,
    builder: BaseCircuitBuilder<Fr>,
}

impl Keygen {
    pub fn proving_key(self, params: &ParamsKZG<Bn256>) -> Result<ProvingKey<G1Affine>, Error> {
        keygen_pk(params, self.vk, &self.builder)
    }
}

/// Keys of the aggregation circuit over proofs of `protocols`, in chain
/// order, at the degree of `params`.
pub fn keygen(params: &ParamsKZG<Bn256>, protocols: Vec<PlonkProtocol<G1Affine>>) -> Result<Keygen, Error> {
    let k = params.k() as usize;
    let dummies = protocols.into_iter().map(gen_dummy_snark_from_protocol::<SHPLONK>).collect();
    let mut builder = BaseCircuitBuilder::<Fr>::from_stage(CircuitBuilderStage::Keygen)
        .use_k(k)
        .use_lookup_bits(k - 1)
        .use_instance_columns(1);
    populate(&mut builder, params, dummies);
    let base = builder.calculate_params(Some(MINIMUM_ROWS));
    let vk = keygen_vk(params, &builder)?;
    let config = AggregationConfig { base, break_points: builder.break_points() };
    Ok(Keygen { vk, config, builder })
}

/// The aggregation circuit with its witness for `snarks` (already checked
/// natively), and its public instances.
pub fn circuit(
    params: &ParamsKZG<Bn256>,
    config: &AggregationConfig,
    snarks: Vec<Snark>,
) -> (BaseCircuitBuilder<Fr>, Vec<Fr>) {
    let mut builder = BaseCircuitBuilder::prover(config.base.clone(), config.break_points.clone());
    populate(&mut builder, params, snarks);
    let instances = builder.assigned_instances[0].iter().map(|cell| *cell.value()).collect();
    (builder, instances)
}

/// How a verifier (in circuit, or snark-verifier's EVM generator) reads a
/// proof of an aggregation circuit: its statement, then an accumulator whose
/// pairing it must also check.
pub fn protocol(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>) -> PlonkProtocol<G1Affine> {
    let limbs = (STATEMENT_INSTANCES..RANGE_INSTANCES).map(|row| (0, row)).collect();
    let config = Config::kzg().with_num_instance(vec![RANGE_INSTANCES]).with_accumulator_indices(Some(limbs));
    compile(params, vk, config)
}

/// Reads a verifying key of an aggregation circuit (its configuration
/// re-runs from `config`).
pub fn read_vk(bytes: &[u8], config: &AggregationConfig) -> std::io::Result<VerifyingKey<G1Affine>> {
    VerifyingKey::read::<_, BaseCircuitBuilder<Fr>>(
        &mut &bytes[..],
        halo2_base::halo2_proofs::SerdeFormat::RawBytes,
        config.base.clone(),
    )
}
