//! Measures a range proof end to end on a synthetic chain: segment proofs,
//! their aggregation and its wrapper, then native verification.
//! Usage: range_bench HEADERS SEGMENT_SIZE SRS_FILE [OUT_DIR]
//! SRS_FILE has k >= 22 (`prover srs generate --k 22`). With OUT_DIR, the
//! range key and a keccak-transcript range proof (for the EVM verifier) are
//! written there.
use std::time::Instant;

use alloy_consensus::Header;
use alloy_rlp::Decodable;
use header_chain::layout::template_chain;
use header_chain::proof::{keygen, prove, Transcript};
use header_chain::witness::WitnessFile;
use header_range::plan::SegmentPlan;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: range_bench HEADERS SEGMENT_SIZE SRS_FILE [OUT_DIR]";
    let n: usize = args.next().expect(usage).parse().expect(usage);
    let s: usize = args.next().expect(usage).parse().expect(usage);
    let srs = std::path::PathBuf::from(args.next().expect(usage));
    let out = args.next().map(std::path::PathBuf::from);
    let headers: Vec<Header> = template_chain(n).iter().map(|rlp| Header::decode(&mut &rlp[..]).unwrap()).collect();
    let plan = SegmentPlan::for_range(n, s).unwrap();
    let mut proofs = Vec::new();
    for bounds in plan.bounds() {
        let witness = WitnessFile::new(None, &headers[bounds.clone()]);
        let shape = header_range::segment::shape(bounds.len(), 5).unwrap();
        let params = header_chain::srs::read_for_k(&srs, shape.k).unwrap();
        let t = Instant::now();
        let keys = keygen(&params, &shape).unwrap();
        let kg = t.elapsed();
        let t = Instant::now();
        let proof = prove(&params, &keys, witness.rlp_headers(), &witness.statement(), Transcript::Poseidon).unwrap();
        println!(
            "segment {bounds:?}: k={} rpr={} keygen {kg:.1?} prove {:.1?} proof {} B",
            shape.k,
            shape.rows_per_round,
            t.elapsed(),
            proof.proof.len()
        );
        proofs.push(proof);
    }
    let flavour = if out.is_some() { Transcript::Keccak } else { Transcript::Blake2b };
    let proved = header_range::prover::aggregate(&proofs, &srs, flavour, |stage| println!("{stage}")).unwrap();
    println!("timings: {:?}", proved.timings);
    println!("aggregation {:?}", proved.key.aggregation.config.base);
    println!("wrapper {:?}", proved.key.wrapper.config.base);
    println!("proof {} B", proved.proof.proof.len());
    if let Some(dir) = &out {
        header_chain::fsutil::write_json_atomic(&dir.join("range-key.json"), &proved.key).unwrap();
        header_chain::fsutil::write_json_atomic(&dir.join("range-proof.json"), &proved.proof).unwrap();
    }
    let pinned = header_range::files::PinnedRangeKey::new(proved.key.clone()).unwrap();
    let t = Instant::now();
    header_range::files::verify(&[pinned], &proved.proof).unwrap();
    println!("verify: {:.1?}", t.elapsed());
}
