//! The aggregation circuit: verifies every segment proof of a range in
//! circuit (snark-verifier's halo2 loader, SHPLONK), constrains the links
//! between them and exposes the range's statement followed by the KZG
//! accumulator whose pairing the final verifier checks.

use halo2_base::gates::circuit::{builder::BaseCircuitBuilder, BaseCircuitParams, CircuitBuilderStage};
use halo2_base::gates::flex_gate::MultiPhaseThreadBreakPoints;
use halo2_base::gates::RangeInstructions;
use halo2_base::halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_base::halo2_proofs::plonk::{keygen_pk, keygen_vk, ProvingKey, VerifyingKey};
use halo2_base::halo2_proofs::poly::commitment::{Params, ParamsProver};
use halo2_base::halo2_proofs::poly::kzg::commitment::ParamsKZG;
use header_chain::proof::PinnedKey;
use snark_verifier_sdk::halo2::aggregation::{aggregate_snarks, VerifierUniversality};
use snark_verifier_sdk::halo2::gen_dummy_snark_from_protocol;
use snark_verifier_sdk::{Snark, SHPLONK};

use crate::links::{constrain_links, Statement};

/// Public instances: the range's statement (6, header-chain's order), then
/// the accumulator's two G1 points as 3 limbs of 88 bits per coordinate (12).
pub const RANGE_INSTANCES: usize = 6 + ACCUMULATOR_LIMBS;
pub const ACCUMULATOR_LIMBS: usize = 12;
/// The aggregation circuit's degree: three segment proofs take about 41 M
/// advice cells, 20 columns at k = 21 (BENCHMARKS.md, "Ranges").
pub const AGGREGATE_K: u32 = 21;
/// Rows halo2 withholds at the end of the aggregation circuit (blinding).
const MINIMUM_ROWS: usize = 20;

/// Everything that fixes the aggregation circuit besides the segment keys.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregationConfig {
    pub base: BaseCircuitParams,
    pub break_points: MultiPhaseThreadBreakPoints,
}

/// Fills `builder` with the verification of `snarks` and the links between
/// them; returns nothing, the public instances are set on the builder.
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
        .map(|instances| instances.try_into().expect("a segment has 6 public instances"))
        .collect();
    let statement = constrain_links(range.gate(), builder.main(0), &statements);
    builder.assigned_instances[0] = statement.into_iter().chain(output.accumulator).collect();
}

/// Keys of the aggregation circuit over `segment_keys`, in chain order, at
/// the degree of `params`.
pub fn keygen(
    params: &ParamsKZG<Bn256>,
    segment_keys: &[PinnedKey],
) -> Result<(ProvingKey<G1Affine>, AggregationConfig), halo2_base::halo2_proofs::plonk::Error> {
    let k = params.k() as usize;
    let dummies = segment_keys
        .iter()
        .map(|key| gen_dummy_snark_from_protocol::<SHPLONK>(crate::segment::protocol(key)))
        .collect();
    let mut builder = BaseCircuitBuilder::<Fr>::from_stage(CircuitBuilderStage::Keygen)
        .use_k(k)
        .use_lookup_bits(k - 1)
        .use_instance_columns(1);
    populate(&mut builder, params, dummies);
    let base = builder.calculate_params(Some(MINIMUM_ROWS));
    let vk = keygen_vk(params, &builder)?;
    let pk = keygen_pk(params, vk, &builder)?;
    Ok((pk, AggregationConfig { base, break_points: builder.break_points() }))
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

/// Reads a verifying key of the aggregation circuit (its configuration
/// re-runs from `config`).
pub fn read_vk(bytes: &[u8], config: &AggregationConfig) -> std::io::Result<VerifyingKey<G1Affine>> {
    VerifyingKey::read::<_, BaseCircuitBuilder<Fr>>(
        &mut &bytes[..],
        halo2_base::halo2_proofs::SerdeFormat::RawBytes,
        config.base.clone(),
    )
}
