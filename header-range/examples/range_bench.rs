//! Measures a range proof end to end on a synthetic chain (development SRS).
//! Usage: range_bench HEADERS SEGMENT_SIZE AGGREGATE_K SRS_CACHE_DIR [OUT_DIR]
//! With OUT_DIR, the range key and a keccak-transcript range proof (for the
//! EVM verifier) are written there.
use std::time::Instant;

use alloy_consensus::Header;
use alloy_rlp::Decodable;
use header_chain::layout::template_chain;
use header_chain::proof::{keygen, prove, PinnedKey, Transcript};
use header_chain::witness::WitnessFile;
use header_range::plan::SegmentPlan;

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).take(3).map(|s| s.parse().unwrap()).collect();
    let (n, s, agg_k) = (a[0], a[1], a[2] as u32);
    let cache = std::path::PathBuf::from(std::env::args().nth(4).unwrap());
    let headers: Vec<Header> = template_chain(n).iter().map(|rlp| Header::decode(&mut &rlp[..]).unwrap()).collect();
    let plan = SegmentPlan::for_range(n, s).unwrap();
    let mut segment_keys = Vec::new();
    let mut proofs = Vec::new();
    for bounds in plan.bounds() {
        let witness = WitnessFile::new(None, &headers[bounds.clone()]);
        let shape = header_range::segment::shape(bounds.len(), 5).unwrap();
        let t = Instant::now();
        let params = header_chain::srs::cached_insecure_dev(&cache, shape.k).unwrap();
        let setup = t.elapsed();
        let t = Instant::now();
        let keys = keygen(&params, &shape).unwrap();
        let kg = t.elapsed();
        let t = Instant::now();
        let proof = prove(&params, &keys, witness.rlp_headers(), &witness.statement(), Transcript::Poseidon).unwrap();
        println!(
            "segment {bounds:?}: k={} rpr={} setup {setup:.1?} keygen {kg:.1?} prove {:.1?} proof {} B",
            shape.k,
            shape.rows_per_round,
            t.elapsed(),
            proof.proof.len()
        );
        segment_keys.push(PinnedKey::new(keys.verifier.clone()).unwrap());
        proofs.push(proof);
    }
    let t = Instant::now();
    let params = header_chain::srs::cached_insecure_dev(&cache, agg_k).unwrap();
    println!("aggregate setup k={agg_k}: {:.1?}", t.elapsed());
    let t = Instant::now();
    let keys = header_range::files::keygen(&params, &plan, &segment_keys).unwrap();
    println!("aggregate keygen: {:.1?} config {:?}", t.elapsed(), keys.file.config.base);
    let t = Instant::now();
    let out = std::env::args().nth(5).map(std::path::PathBuf::from);
    let flavour = if out.is_some() { Transcript::Keccak } else { Transcript::Blake2b };
    let proof = header_range::files::prove(&params, &keys, &segment_keys, &proofs, flavour).unwrap();
    if let Some(dir) = &out {
        header_chain::fsutil::write_json_atomic(&dir.join("range-key.json"), &keys.file).unwrap();
        header_chain::fsutil::write_json_atomic(&dir.join("range-proof.json"), &proof).unwrap();
    }
    println!("aggregate prove: {:.1?} proof {} B", t.elapsed(), proof.proof.len());
    let pinned = header_range::files::PinnedRangeKey::new(keys.file.clone()).unwrap();
    let t = Instant::now();
    header_range::files::verify(&[pinned], &proof).unwrap();
    println!("verify: {:.1?}", t.elapsed());
}
