//! MockProver checks of the header-chain constraints: honest chains of every
//! header format pass, and each tampering named in the soundness notes fails.

use alloy_consensus::Header;
use alloy_primitives::{b256, Bytes, B256, U256};
use header_chain::circuit::{CircuitShape, HeaderChainCircuit, ShapeTuning};
use header_chain::halo2_proofs::{dev::MockProver, halo2curves::bn256::Fr};
use header_chain::layout::{template_chain, ChainStatement};
use header_chain::witness::WitnessFile;

fn decode(rlp: &[u8]) -> Header {
    alloy_rlp::Decodable::decode(&mut &rlp[..]).unwrap()
}

fn statement_of(headers: &[Vec<u8>]) -> ChainStatement {
    let parsed: Vec<Header> = headers.iter().map(|h| decode(h)).collect();
    WitnessFile::new(None, &parsed).statement()
}

fn shape(n: usize) -> CircuitShape {
    CircuitShape::compute(n, 5, ShapeTuning::default()).unwrap()
}

fn mock(shape: &CircuitShape, headers: Vec<Vec<u8>>, instances: Vec<Fr>) -> Result<(), String> {
    let circuit = HeaderChainCircuit::new(shape.clone(), headers);
    let prover = MockProver::run(shape.k, &circuit, vec![instances]).map_err(|e| format!("{e:?}"))?;
    prover.verify().map_err(|e| format!("{} failures, first: {:?}", e.len(), e.first()))
}

fn honest(headers: Vec<Vec<u8>>) -> Result<(), String> {
    let instances = statement_of(&headers).instances();
    mock(&shape(headers.len()), headers, instances)
}

/// A linked chain of headers in one fork's format, starting at `first`.
fn chain(n: usize, first: u64, fork: fn(&mut Header)) -> Vec<Vec<u8>> {
    let mut parent = b256!("1111111111111111111111111111111111111111111111111111111111111111");
    (0..n as u64)
        .map(|i| {
            let mut h = Header {
                parent_hash: parent,
                number: first + i,
                gas_limit: 30_000_000,
                gas_used: 12_345_678,
                timestamp: 1_700_000_000 + 12 * i,
                extra_data: Bytes::from_static(b"header-chain test"),
                ..Default::default()
            };
            fork(&mut h);
            parent = h.hash_slow();
            alloy_rlp::encode(&h)
        })
        .collect()
}

fn frontier(h: &mut Header) {
    h.difficulty = U256::from(17_179_869_184u64 + h.number);
}
fn london(h: &mut Header) {
    h.difficulty = U256::from(12_000_000_000_000_000u64);
    h.base_fee_per_gas = Some(7);
}
fn paris(h: &mut Header) {
    h.base_fee_per_gas = Some(1_000_000_000);
}
fn shanghai(h: &mut Header) {
    paris(h);
    h.withdrawals_root = Some(B256::repeat_byte(0x22));
}
fn cancun(h: &mut Header) {
    shanghai(h);
    h.blob_gas_used = Some(131_072);
    h.excess_blob_gas = Some(0);
    h.parent_beacon_block_root = Some(B256::repeat_byte(0x33));
}
fn prague(h: &mut Header) {
    cancun(h);
    h.requests_hash = Some(B256::repeat_byte(0x44));
}

#[test]
fn honest_chains_of_every_format_pass() {
    for (name, fork) in [
        ("frontier", frontier as fn(&mut Header)),
        ("london", london),
        ("paris", paris),
        ("shanghai", shanghai),
        ("cancun", cancun),
        ("prague", prague),
    ] {
        honest(chain(2, 15_537_393, fork)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn number_encodings_pass() {
    // 0 (0x80), a single byte, a one-byte string, and a full eight bytes.
    for first in [0u64, 5, 127, 128, 255, 256, u64::MAX - 1] {
        honest(chain(2, first, paris)).unwrap_or_else(|e| panic!("first {first}: {e}"));
    }
}

#[test]
fn real_mainnet_headers_pass() {
    let fixtures: serde_json::Value = serde_json::from_str(include_str!("fixtures/mainnet-headers.json")).unwrap();
    for fixture in fixtures["headers"].as_array().unwrap() {
        let rlp = match fixture.get("rlp") {
            Some(hex) => hex::decode(hex.as_str().unwrap().trim_start_matches("0x")).unwrap(),
            None => {
                let header: Header = serde_json::from_value(fixture["fields"].clone()).unwrap();
                alloy_rlp::encode(&header)
            }
        };
        let expected: B256 = fixture["hash"].as_str().unwrap().parse().unwrap();
        assert_eq!(alloy_primitives::keccak256(&rlp), expected, "fixture {}", fixture["fork"]);
        honest(vec![rlp]).unwrap_or_else(|e| panic!("{}: {e}", fixture["fork"]));
    }
}

#[test]
fn wrong_public_instances_fail() {
    let headers = chain(2, 100, cancun);
    let honest_instances = statement_of(&headers).instances();
    for i in 0..honest_instances.len() {
        let mut instances = honest_instances.clone();
        instances[i] += Fr::one();
        assert!(mock(&shape(2), headers.clone(), instances).is_err(), "instance {i} edited yet accepted");
    }
}

#[test]
fn edited_header_byte_fails() {
    // Change one byte of the first header (in extraData, after the number):
    // its keccak changes, so the link to the second header breaks.
    let mut headers = chain(2, 100, cancun);
    let instances = statement_of(&headers).instances();
    let at = headers[0].len() - 40;
    headers[0][at] ^= 1;
    assert!(mock(&shape(2), headers, instances).is_err());
}

#[test]
fn broken_link_fails() {
    let a = chain(1, 100, london);
    let mut b = chain(2, 100, paris);
    // Second header from another chain: right number, wrong parent.
    let headers = vec![a[0].clone(), b.remove(1)];
    let mut statement = statement_of(&headers[..1]);
    let last = decode(&headers[1]);
    statement.last_hash = last.hash_slow();
    statement.last_number = last.number;
    assert!(mock(&shape(2), headers, statement.instances()).is_err());
}

#[test]
fn number_gap_fails() {
    // Correctly linked by hash, but numbers 100 then 102.
    let first = chain(1, 100, paris);
    let mut second = Header { number: 102, ..decode(&chain(2, 100, paris)[1]) };
    second.parent_hash = decode(&first[0]).hash_slow();
    let headers = vec![first[0].clone(), alloy_rlp::encode(&second)];
    let instances = statement_of(&headers).instances();
    assert!(mock(&shape(2), headers, instances).is_err());
}

#[test]
fn claimed_wrong_number_fails() {
    // The honest chain, but the statement shifts both numbers by one.
    let headers = chain(2, 100, london);
    let mut statement = statement_of(&headers);
    statement.first_number += 1;
    statement.last_number += 1;
    assert!(mock(&shape(2), headers, statement.instances()).is_err());
}

#[test]
fn shape_is_chosen_from_the_chain_length() {
    let one = shape(1);
    let eight = shape(8);
    assert!(one.k < eight.k, "k for 1 header {} vs 8 headers {}", one.k, eight.k);
    assert_eq!(shape(8), shape(8), "shape computation is deterministic");
    let fits = (1usize << eight.k) - eight.unusable_rows;
    assert!((eight.keccak_capacity() * 25 + 18) * eight.rows_per_round <= fits);
    assert_eq!(template_chain(3).len(), 3);
}
