//! The header-chain circuit: N consecutive Ethereum block headers, each hashed
//! by the zkevm-hashes Keccak circuit, linked through parentHash, with the
//! first parent hash, the last block hash and the block-number range public.
//!
//! Layout: the vanilla Keccak circuit is configured first, the halo2-base
//! builder last (its usable rows come from the final `minimum_rows`). Every
//! header owns a fixed block of `slots_per_header` keccak-f slots, so the
//! circuit's shape (and its verifying key) never depends on the header bytes.
//! Witness generation (`assign_chain`) runs once per `synthesize` and is kept
//! apart from the Keccak region.

use std::cell::RefCell;

use halo2_base::{
    gates::{
        circuit::{builder::BaseCircuitBuilder, BaseCircuitParams, BaseConfig},
        GateInstructions, RangeChip, RangeInstructions,
    },
    halo2_proofs::{
        circuit::{Layouter, SimpleFloorPlanner},
        halo2curves::bn256::Fr,
        plonk::{Circuit, ConstraintSystem, Error},
    },
    AssignedValue, Context,
    QuantumCell::Constant,
};
use serde::{Deserialize, Serialize};
use zkevm_hashes::keccak::{
    component::circuit::shard::{transmute_keccak_assigned_to_virtual, LoadedKeccakF},
    vanilla::{
        keccak_packed_multi::get_num_keccak_f, param::NUM_ROUNDS, witness::multi_keccak, KeccakAssignedRow,
        KeccakCircuitConfig, KeccakConfigParams,
    },
};

use crate::layout::{self, HeaderLayout, PUBLIC_INSTANCES};

/// Bytes absorbed by one keccak-f (the Keccak-256 rate).
pub const SLOT_BYTES: usize = 136;
const WORDS_PER_SLOT: usize = SLOT_BYTES / 8;
/// Every header's slot block must reach past the longest number field (read
/// after the longest difficulty): no header is shorter than that.
pub const FEWEST_SLOTS_PER_HEADER: usize =
    (HeaderLayout::DIFFICULTY + 1 + HeaderLayout::MAX_DIFFICULTY_BYTES + HeaderLayout::MAX_NUMBER_BYTES) / SLOT_BYTES
        + 1;
/// Bits of the halo2-base lookup table: byte range checks are one lookup each.
const LOOKUP_BITS: usize = 8;

/// Everything that fixes the circuit's constraint system. Two circuits with the
/// same shape have the same verifying key (for the same SRS).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CircuitShape {
    pub num_headers: usize,
    pub slots_per_header: usize,
    pub k: u32,
    pub rows_per_round: usize,
    pub unusable_rows: usize,
    pub base: BaseCircuitParams,
}

// BaseCircuitParams has no PartialEq: compare the serialized forms.
impl PartialEq for CircuitShape {
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }
}
impl Eq for CircuitShape {}

impl CircuitShape {
    pub fn keccak_capacity(&self) -> usize {
        self.num_headers * self.slots_per_header
    }

    pub fn keccak_params(&self) -> KeccakConfigParams {
        KeccakConfigParams { k: self.k, rows_per_round: self.rows_per_round }
    }

    /// The largest header (RLP bytes) this shape can hash.
    pub fn max_header_len(&self) -> usize {
        self.slots_per_header * SLOT_BYTES - 1
    }
}

/// Keccak-f slots a header of `len` RLP bytes needs.
pub fn slots_for_len(len: usize) -> usize {
    get_num_keccak_f(len)
}

#[derive(Clone)]
pub struct HeaderChainConfig {
    keccak: KeccakCircuitConfig<Fr>,
    base: BaseConfig<Fr>,
}

/// The circuit over a concrete list of header RLP encodings.
pub struct HeaderChainCircuit {
    shape: CircuitShape,
    headers: Vec<Vec<u8>>,
    builder: RefCell<BaseCircuitBuilder<Fr>>,
    /// Test-only: edits assigned cells after honest witness generation.
    #[cfg(test)]
    tamper: Option<Tamper>,
}

/// A test's edit of the assigned cells (the main context and the cells
/// each constraint group acts on), applied before the builder synthesizes.
#[cfg(test)]
type Tamper = fn(&mut Context<Fr>, &ChainCells);

impl HeaderChainCircuit {
    /// `headers` must match `shape` (count, and each fits its slot block);
    /// whether they form a valid chain is exactly what the constraints decide.
    pub fn new(shape: CircuitShape, headers: Vec<Vec<u8>>) -> Self {
        assert_eq!(headers.len(), shape.num_headers, "header count differs from the circuit shape");
        for h in &headers {
            assert!(h.len() <= shape.max_header_len(), "header longer than its slot block");
        }
        let builder = BaseCircuitBuilder::new(false).use_params(shape.base.clone());
        Self {
            shape,
            headers,
            builder: RefCell::new(builder),
            #[cfg(test)]
            tamper: None,
        }
    }

    pub fn shape(&self) -> &CircuitShape {
        &self.shape
    }

    /// Every header's bytes followed by empty inputs, so header `i` occupies
    /// exactly slots `i*S .. (i+1)*S`.
    fn keccak_inputs(&self) -> Vec<Vec<u8>> {
        let mut inputs = Vec::with_capacity(self.shape.keccak_capacity());
        for header in &self.headers {
            let used = slots_for_len(header.len());
            inputs.push(header.clone());
            inputs.extend((used..self.shape.slots_per_header).map(|_| Vec::new()));
        }
        inputs
    }
}

impl Circuit<Fr> for HeaderChainCircuit {
    type Config = HeaderChainConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = CircuitShape;

    fn params(&self) -> Self::Params {
        self.shape.clone()
    }

    fn without_witnesses(&self) -> Self {
        let circuit = Self::new(self.shape.clone(), self.headers.clone());
        #[cfg(test)]
        let circuit = Self { tamper: self.tamper, ..circuit };
        circuit
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, shape: CircuitShape) -> Self::Config {
        configure(meta, &shape)
    }

    fn configure(_: &mut ConstraintSystem<Fr>) -> Self::Config {
        unreachable!("the header-chain circuit is configured from its CircuitShape")
    }

    fn synthesize(&self, config: Self::Config, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        config.keccak.load_aux_tables(&mut layouter, self.shape.k)?;
        let mut keccak_rows_assigned: Vec<KeccakAssignedRow<'_, Fr>> = Vec::new();
        layouter.assign_region(
            || "keccak",
            |mut region| {
                let (rows, _) = multi_keccak::<Fr>(
                    &self.keccak_inputs(),
                    Some(self.shape.keccak_capacity()),
                    self.shape.keccak_params(),
                );
                keccak_rows_assigned = config.keccak.assign(&mut region, &rows);
                Ok(())
            },
        )?;
        let slots = {
            let builder = self.builder.borrow();
            transmute_keccak_assigned_to_virtual(
                &builder.core().copy_manager,
                keccak_rows_assigned,
                self.shape.rows_per_round,
            )
        };
        let _cells = assign_chain(&mut self.builder.borrow_mut(), &self.shape, &self.headers, &slots);
        #[cfg(test)]
        if let Some(tamper) = self.tamper {
            tamper(self.builder.borrow_mut().main(0), &_cells);
        }
        self.builder.borrow().synthesize(config.base, layouter)?;
        // keygen_vk, keygen_pk and create_proof each call synthesize.
        self.builder.borrow_mut().clear();
        Ok(())
    }
}

fn configure(meta: &mut ConstraintSystem<Fr>, shape: &CircuitShape) -> HeaderChainConfig {
    let keccak = KeccakCircuitConfig::new(meta, shape.keccak_params());
    let base = BaseCircuitBuilder::configure_with_params(meta, shape.base.clone());
    HeaderChainConfig { keccak, base }
}

/// Rows halo2 withholds (blinding) once both sub-circuits are configured.
fn unusable_rows(k: u32, rows_per_round: usize, base: &BaseCircuitParams) -> usize {
    let mut meta = ConstraintSystem::<Fr>::default();
    let shape = CircuitShape {
        k,
        rows_per_round,
        base: BaseCircuitParams { k: k as usize, ..base.clone() },
        ..Default::default()
    };
    configure(&mut meta, &shape);
    meta.minimum_rows()
}

fn rows_per_round_for(k: u32, capacity: usize, unusable: usize) -> usize {
    // The Keccak region: one dummy round, 25 rows-of-rounds per keccak-f, and
    // NUM_WORDS_TO_ABSORB rounds queried past the last absorb.
    ((1usize << k).saturating_sub(unusable)) / (capacity * (NUM_ROUNDS + 1) + 1 + WORDS_PER_SLOT)
}

/// Tuning knobs for [`CircuitShape::compute`]: the smallest k whose Keccak
/// region fits with at least `min_rows_per_round` rows per round is chosen.
#[derive(Clone, Copy, Debug)]
pub struct ShapeTuning {
    pub min_rows_per_round: usize,
    pub min_k: u32,
    pub max_k: u32,
}

impl ShapeTuning {
    /// For segment proofs an aggregation circuit verifies: rows traded for
    /// columns, since every column, lookup and evaluation of a segment
    /// costs rows in the aggregation circuit. At 64 or more rows per Keccak
    /// round an 8-header segment has 35 advice columns and 13 lookups (94
    /// and 50 by default), and verifying it in circuit takes 13.6 M advice
    /// cells instead of 32.1 M (BENCHMARKS.md, "Ranges").
    pub const SEGMENT: Self = Self { min_rows_per_round: 64, min_k: 10, max_k: 22 };
}

impl Default for ShapeTuning {
    fn default() -> Self {
        Self { min_rows_per_round: 12, min_k: 10, max_k: 22 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShapeError {
    #[error("a chain needs at least one header")]
    NoHeaders,
    #[error(
        "{slots_per_header} keccak-f slots per header cannot hold a header up to its block number; use at least {min}"
    )]
    TooFewSlots { slots_per_header: usize, min: usize },
    #[error("{num_headers} headers of up to {slots_per_header} keccak-f each do not fit a circuit of k <= {max_k}; prove a shorter range")]
    TooLarge { num_headers: usize, slots_per_header: usize, max_k: u32 },
}

impl CircuitShape {
    /// Computes k, rows per round and the halo2-base columns for a chain of
    /// `num_headers` headers of at most `slots_per_header` keccak-f each.
    /// Deterministic: the same inputs always give the same shape.
    pub fn compute(num_headers: usize, slots_per_header: usize, tuning: ShapeTuning) -> Result<Self, ShapeError> {
        if num_headers == 0 {
            return Err(ShapeError::NoHeaders);
        }
        if slots_per_header < FEWEST_SLOTS_PER_HEADER {
            return Err(ShapeError::TooFewSlots { slots_per_header, min: FEWEST_SLOTS_PER_HEADER });
        }
        let capacity = num_headers * slots_per_header;
        let placeholder_base = BaseCircuitParams {
            num_advice_per_phase: vec![1],
            num_fixed: 1,
            num_lookup_advice_per_phase: vec![1],
            lookup_bits: Some(LOOKUP_BITS),
            num_instance_columns: 1,
            k: 0,
        };
        for k in tuning.min_k..=tuning.max_k {
            // Blinding rows depend on the column layout, which depends on the
            // rows per round: iterate to a fixed point (it settles at once).
            let mut unusable = unusable_rows(k, 1, &placeholder_base);
            let mut rpr = rows_per_round_for(k, capacity, unusable);
            if rpr < tuning.min_rows_per_round {
                continue;
            }
            for _ in 0..4 {
                let u = unusable_rows(k, rpr, &placeholder_base);
                let r = rows_per_round_for(k, capacity, u);
                if (u, r) == (unusable, rpr) {
                    break;
                }
                (unusable, rpr) = (u, r);
            }
            let base = size_base_circuit(k, num_headers, slots_per_header, unusable);
            let unusable_final = unusable_rows(k, rpr, &base);
            // The base builder must not use rows halo2 withholds.
            let base = if unusable_final > unusable {
                unusable = unusable_final;
                rpr = rows_per_round_for(k, capacity, unusable);
                size_base_circuit(k, num_headers, slots_per_header, unusable)
            } else {
                base
            };
            if rpr < tuning.min_rows_per_round {
                continue;
            }
            return Ok(Self { num_headers, slots_per_header, k, rows_per_round: rpr, unusable_rows: unusable, base });
        }
        Err(ShapeError::TooLarge { num_headers, slots_per_header, max_k: tuning.max_k })
    }
}

/// Dry run of the halo2-base witness generation with mock Keccak cells, to
/// count its advice, fixed and lookup columns.
fn size_base_circuit(k: u32, num_headers: usize, slots_per_header: usize, unusable: usize) -> BaseCircuitParams {
    let mut builder =
        BaseCircuitBuilder::<Fr>::new(false).use_k(k as usize).use_lookup_bits(LOOKUP_BITS).use_instance_columns(1);
    let mock_slots: Vec<LoadedKeccakF<Fr>> = {
        let mut copy = builder.core().copy_manager.lock().unwrap();
        let mut mock = || copy.mock_external_assigned(Fr::zero());
        (0..num_headers * slots_per_header)
            .map(|_| {
                let bytes_left = mock();
                let words = core::array::from_fn(|_| mock());
                let is_final = halo2_base::safe_types::SafeTypeChip::unsafe_to_bool(mock());
                LoadedKeccakF::new(bytes_left, words, is_final, mock(), mock())
            })
            .collect()
    };
    let shape = CircuitShape { num_headers, slots_per_header, k, ..Default::default() };
    let headers = layout::template_chain(num_headers);
    assign_chain(&mut builder, &shape, &headers, &mock_slots);
    let params = builder.calculate_params(Some(unusable));
    // Leftover mock cells would make a later assignment panic.
    builder.clear();
    params
}

use halo2_base::halo2_proofs::halo2curves::ff::Field as _;

/// Values of one header that the constraints act on and link to its neighbours.
pub struct HeaderCells {
    /// The header's bytes, zero-padded to its slot block.
    pub bytes: Vec<AssignedValue<Fr>>,
    /// 3 + the RLP list payload length: the bytes Keccak absorbed.
    pub total_len: AssignedValue<Fr>,
    /// Where the number field ends; bounded by `total_len`.
    pub number_end: AssignedValue<Fr>,
    pub parent_hi: AssignedValue<Fr>,
    pub parent_lo: AssignedValue<Fr>,
    pub hash_hi: AssignedValue<Fr>,
    pub hash_lo: AssignedValue<Fr>,
    pub number: AssignedValue<Fr>,
}

/// Every header's cells, and the `previous number + 1` cells of the links.
pub struct ChainCells {
    pub headers: Vec<HeaderCells>,
    pub next_numbers: Vec<AssignedValue<Fr>>,
}

/// The halo2-base part: every constraint tying the header bytes to the
/// Keccak slots, the RLP layout, the chain links and the public instances.
fn assign_chain(
    builder: &mut BaseCircuitBuilder<Fr>,
    shape: &CircuitShape,
    headers: &[Vec<u8>],
    slots: &[LoadedKeccakF<Fr>],
) -> ChainCells {
    assert_eq!(slots.len(), shape.keccak_capacity(), "keccak slots differ from the shape");
    let range = builder.range_chip();
    let ctx = builder.main(0);
    let per = shape.slots_per_header;
    let mut cells: Vec<HeaderCells> = Vec::with_capacity(headers.len());
    let mut next_numbers = Vec::new();
    for (i, header) in headers.iter().enumerate() {
        let c = assign_header(ctx, &range, header, &slots[i * per..(i + 1) * per]);
        if let Some(prev) = cells.last() {
            ctx.constrain_equal(&c.parent_hi, &prev.hash_hi);
            ctx.constrain_equal(&c.parent_lo, &prev.hash_lo);
            let next = range.gate().add(ctx, prev.number, Constant(Fr::ONE));
            ctx.constrain_equal(&c.number, &next);
            next_numbers.push(next);
        }
        cells.push(c);
    }
    let (first, last) = (&cells[0], &cells[cells.len() - 1]);
    let public = [first.parent_hi, first.parent_lo, first.number, last.hash_hi, last.hash_lo, last.number];
    debug_assert_eq!(public.len(), PUBLIC_INSTANCES);
    builder.assigned_instances = vec![public.to_vec()];
    ChainCells { headers: cells, next_numbers }
}

fn assign_header(
    ctx: &mut Context<Fr>,
    range: &RangeChip<Fr>,
    header: &[u8],
    slots: &[LoadedKeccakF<Fr>],
) -> HeaderCells {
    let gate = range.gate();
    let block_len = slots.len() * SLOT_BYTES;
    let mut padded = header.to_vec();
    padded.resize(block_len, 0);
    let bytes = ctx.assign_witnesses(padded.iter().map(|b| Fr::from(*b as u64)));
    // Without byte range checks the little-endian words and the big-endian
    // limbs could be met by different non-byte values.
    for b in &bytes {
        range.range_check(ctx, *b, 8);
    }

    // The bytes are exactly what the Keccak slots absorbed.
    let le_weights: Vec<_> = (0..8).map(|i| Constant(Fr::from(1u64 << (8 * i)))).collect();
    for (t, slot) in slots.iter().enumerate() {
        for w in 0..WORDS_PER_SLOT {
            let at = t * SLOT_BYTES + w * 8;
            let word = gate.inner_product(ctx, bytes[at..at + 8].to_vec(), le_weights.clone());
            ctx.constrain_equal(&word, &slot.word_values()[w]);
        }
    }

    // Fixed RLP prefixes of the leading fixed-size fields.
    for &(at, value) in HeaderLayout::FIXED_BYTES {
        gate.assert_is_const(ctx, &bytes[at], &Fr::from(value as u64));
    }
    // L = 3 + the list payload length (0xf9: two length bytes).
    let payload_len = gate.mul_add(ctx, bytes[1], Constant(Fr::from(256)), bytes[2]);
    let total_len = gate.add(ctx, payload_len, Constant(Fr::from(3)));
    // The hashed input is exactly L bytes long: not a prefix, not an extension.
    ctx.constrain_equal(&total_len, &slots[0].bytes_left());

    // is_final: 0 before the slot holding byte L-1... precisely, the last
    // keccak-f of an input of L bytes is slot L / 136; every later slot hashes
    // an empty input and is final too.
    let (last_slot, _) = range.div_mod(ctx, total_len, 136u64, 16);
    let last_indicator = gate.idx_to_indicator(ctx, last_slot, slots.len());
    let hit = gate.sum(ctx, last_indicator.clone());
    gate.assert_is_const(ctx, &hit, &Fr::ONE);
    let mut is_final = ctx.load_zero();
    for (slot, ind) in slots.iter().zip(&last_indicator) {
        is_final = gate.add(ctx, is_final, *ind);
        ctx.constrain_equal(&is_final, &AssignedValue::from(slot.is_final()));
    }
    let hash_hi = gate.select_by_indicator(ctx, slots.iter().map(|s| s.hash_hi()), last_indicator.clone());
    let hash_lo = gate.select_by_indicator(ctx, slots.iter().map(|s| s.hash_lo()), last_indicator);

    let parent_hi = be_limb(ctx, range, &bytes[HeaderLayout::PARENT_HASH..HeaderLayout::PARENT_HASH + 16]);
    let parent_lo = be_limb(ctx, range, &bytes[HeaderLayout::PARENT_HASH + 16..HeaderLayout::PARENT_HASH + 32]);
    let (number, number_end) = assign_number(ctx, range, &bytes, total_len);
    HeaderCells { bytes, total_len, number_end, parent_hi, parent_lo, hash_hi, hash_lo, number }
}

fn be_limb(ctx: &mut Context<Fr>, range: &RangeChip<Fr>, bytes: &[AssignedValue<Fr>]) -> AssignedValue<Fr> {
    let n = bytes.len();
    let weights: Vec<_> = (0..n).map(|i| Constant(Fr::from(2u64).pow_vartime([8 * (n - 1 - i) as u64]))).collect();
    range.gate().inner_product(ctx, bytes.to_vec(), weights)
}

/// Decodes the RLP string at `at` as a scalar: (payload length, is single byte).
/// A first byte below 0x80 is its own value; 0x80 + n announces n bytes.
fn rlp_scalar_prefix(
    ctx: &mut Context<Fr>,
    range: &RangeChip<Fr>,
    first: AssignedValue<Fr>,
) -> (AssignedValue<Fr>, AssignedValue<Fr>) {
    let gate = range.gate();
    let is_single = range.is_less_than(ctx, first, Constant(Fr::from(0x80)), 8);
    let announced = gate.sub(ctx, first, Constant(Fr::from(0x80)));
    let zero = ctx.load_zero();
    let payload = gate.select(ctx, zero, announced, is_single);
    (payload, is_single)
}

/// The block number: difficulty starts at a fixed offset with a variable
/// length; one indicator over that length selects the number's bytes.
fn assign_number(
    ctx: &mut Context<Fr>,
    range: &RangeChip<Fr>,
    bytes: &[AssignedValue<Fr>],
    total_len: AssignedValue<Fr>,
) -> (AssignedValue<Fr>, AssignedValue<Fr>) {
    let gate = range.gate();
    let (difficulty_len, _) = rlp_scalar_prefix(ctx, range, bytes[HeaderLayout::DIFFICULTY]);
    range.check_less_than_safe(ctx, difficulty_len, HeaderLayout::MAX_DIFFICULTY_BYTES as u64 + 1);
    let shift = gate.idx_to_indicator(ctx, difficulty_len, HeaderLayout::MAX_DIFFICULTY_BYTES + 1);
    let number_at = HeaderLayout::DIFFICULTY + 1;
    let number_bytes: Vec<AssignedValue<Fr>> = (0..=HeaderLayout::MAX_NUMBER_BYTES)
        .map(|j| {
            let candidates = (0..=HeaderLayout::MAX_DIFFICULTY_BYTES).map(|d| bytes[number_at + d + j]);
            gate.select_by_indicator(ctx, candidates, shift.clone())
        })
        .collect();
    let (number_len, is_single) = rlp_scalar_prefix(ctx, range, number_bytes[0]);
    range.check_less_than_safe(ctx, number_len, HeaderLayout::MAX_NUMBER_BYTES as u64 + 1);
    let mut value = ctx.load_zero();
    for j in 0..HeaderLayout::MAX_NUMBER_BYTES {
        let inside = range.is_less_than(ctx, Constant(Fr::from(j as u64)), number_len, 4);
        let shifted = gate.mul_add(ctx, value, Constant(Fr::from(256)), number_bytes[j + 1]);
        value = gate.select(ctx, shifted, value, inside);
    }
    let number = gate.select(ctx, number_bytes[0], value, is_single);
    // The number field ends inside the header: end = at + d + 1 + n <= L.
    let end = gate.sum(ctx, [difficulty_len, number_len]);
    let end = gate.add(ctx, end, Constant(Fr::from(number_at as u64 + 1)));
    let bound = gate.add(ctx, total_len, Constant(Fr::ONE));
    range.check_less_than(ctx, end, bound, 16);
    (number, end)
}

/// Negative tests that edit assigned cells directly, after honest witness
/// generation: one per constraint group, each must make MockProver fail.
#[cfg(test)]
mod tamper_tests {
    use super::*;
    use crate::witness::WitnessFile;
    use halo2_base::halo2_proofs::{dev::MockProver, plonk::Assigned};

    fn set(ctx: &mut Context<Fr>, cell: &AssignedValue<Fr>, value: Fr) {
        ctx.advice[cell.cell.expect("an assigned cell").offset] = Assigned::Trivial(value);
    }

    fn add(ctx: &mut Context<Fr>, cell: &AssignedValue<Fr>, delta: Fr) {
        let value = *cell.value() + delta;
        set(ctx, cell, value);
    }

    /// MockProver on two template headers with the honest instances, after `tamper`.
    fn mock(tamper: Option<Tamper>) -> Result<(), String> {
        let headers = layout::template_chain(2);
        let decoded: Vec<alloy_consensus::Header> =
            headers.iter().map(|h| alloy_rlp::Decodable::decode(&mut h.as_slice()).unwrap()).collect();
        let instances = WitnessFile::new(None, &decoded).statement().instances();
        let shape = CircuitShape::compute(2, FEWEST_SLOTS_PER_HEADER, ShapeTuning::default()).unwrap();
        let circuit = HeaderChainCircuit { tamper, ..HeaderChainCircuit::new(shape.clone(), headers) };
        let prover = MockProver::run(shape.k, &circuit, vec![instances]).map_err(|e| format!("{e:?}"))?;
        prover.verify().map_err(|failures| format!("{} failures", failures.len()))
    }

    fn must_fail(group: &str, tamper: Tamper) {
        assert!(mock(Some(tamper)).is_err(), "{group}: tampered cells were accepted");
    }

    #[test]
    fn the_untampered_template_chain_passes() {
        mock(None).unwrap();
    }

    #[test]
    fn byte_range_checks() {
        // A stateRoot byte + 256 and the next one - 1: the little-endian
        // Keccak word is unchanged, only the byte range check can object.
        must_fail("byte range", |ctx, c| {
            let bytes = &c.headers[0].bytes;
            add(ctx, &bytes[100], Fr::from(256));
            add(ctx, &bytes[101], -Fr::ONE);
        });
    }

    #[test]
    fn fixed_rlp_prefixes() {
        // The beneficiary's 0x94 prefix.
        must_fail("fixed RLP prefix", |ctx, c| add(ctx, &c.headers[0].bytes[69], Fr::ONE));
    }

    #[test]
    fn total_length_is_what_keccak_absorbed() {
        must_fail("total length", |ctx, c| add(ctx, &c.headers[1].total_len, Fr::ONE));
    }

    #[test]
    fn number_field_lies_inside_the_header() {
        must_fail("number inside the header", |ctx, c| add(ctx, &c.headers[0].number_end, Fr::from(1000)));
    }

    #[test]
    fn parent_hash_links() {
        must_fail("parentHash link", |ctx, c| add(ctx, &c.headers[1].parent_lo, Fr::ONE));
    }

    #[test]
    fn consecutive_numbers() {
        must_fail("consecutive numbers", |ctx, c| add(ctx, &c.next_numbers[0], Fr::ONE));
    }

    #[test]
    fn public_instances() {
        must_fail("public instances", |ctx, c| add(ctx, &c.headers[1].hash_hi, Fr::ONE));
    }

    #[test]
    fn too_few_slots_is_an_error_not_a_panic() {
        for slots in 0..FEWEST_SLOTS_PER_HEADER {
            let e = CircuitShape::compute(2, slots, ShapeTuning::default()).unwrap_err();
            assert!(matches!(e, ShapeError::TooFewSlots { .. }), "{slots}: {e}");
        }
        assert!(CircuitShape::compute(1, FEWEST_SLOTS_PER_HEADER, ShapeTuning::default()).is_ok());
    }
}
