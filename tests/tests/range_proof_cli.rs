//! A range of 20 headers from a real node (anvil), not a multiple of the
//! segment size, proven as one aggregated proof through the programs a
//! workflow runs: `prover prove --transcript poseidon` per segment (16 + 4
//! headers), `prover aggregate`, then `verifier check` against the range key.
//! Refused: segments out of order, missing, of the wrong flavour, edited, or
//! under another setup (before any aggregation work), and range proofs with
//! an edited statement, instance, accumulator or trailing bytes.
//!
//! Costly (the aggregation circuit is k = 21, minutes to key and prove on
//! two cores): one test does it all. The development SRS files are cached
//! in the target directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use end_to_end::workspace_binary;
use header_chain::halo2_proofs::halo2curves::bn256::Fr;
use header_chain::proof::{fr_from_hex, fr_to_hex, ProofFile, Transcript};
use header_chain::witness::WitnessFile;
use header_range::aggregate::AGGREGATE_K;
use header_range::files::{self, PinnedRangeKey, RangeKeyFile, RangeProofFile, RangeRejection};
use header_range::plan::SegmentPlan;

const SEGMENT_SIZE: usize = 16;

fn run(program: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(workspace_binary(program)).args(args).output().expect("the program runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The development SRS file of degree `k`, generated once per target directory.
fn dev_srs(k: u32) -> PathBuf {
    let dir = end_to_end::target_dir().join("srs");
    header_chain::srs::cached_insecure_dev(&dir, k).unwrap();
    dir.join(header_chain::srs::dev_srs_file_name(k))
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write<T: serde::Serialize>(path: &Path, value: &T) {
    header_chain::fsutil::write_json_atomic(path, value).unwrap();
}

#[test]
fn a_twenty_header_range_is_one_aggregated_proof() {
    let node = end_to_end::start_anvil(None).unwrap();
    node.mine_with_transactions(6).unwrap();
    node.mine_empty(15).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    let o = run(
        "prover",
        &[&"witness-capture", &"--rpc", &node.url, &"--from", &"1", &"--to", &"20", &"-w", &at("w.json")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let witness = WitnessFile::load(&at("w.json")).unwrap();
    let plan = SegmentPlan::for_range(witness.headers.len(), SEGMENT_SIZE).unwrap();
    assert_eq!(plan.lengths, vec![16, 4]);

    // One poseidon-transcript proof per segment (each could be its own task).
    let segment_srs = dev_srs(header_range::segment::shape(SEGMENT_SIZE, 5).unwrap().k);
    let mut segment_files = Vec::new();
    for (i, bounds) in plan.bounds().into_iter().enumerate() {
        let part = WitnessFile { headers: witness.headers[bounds].to_vec(), ..witness.clone() };
        let (w, p) = (at(&format!("w{i}.json")), at(&format!("s{i}.json")));
        write(&w, &part);
        let o = run("prover", &[&"prove", &"-w", &w, &"--srs", &segment_srs, &"--transcript", &"poseidon", &"-p", &p]);
        assert!(o.status.success(), "{}", stderr(&o));
        segment_files.push(p);
    }
    let segments: Vec<ProofFile> = segment_files.iter().map(|p| read(p)).collect();
    assert!(segments.iter().all(|s| s.transcript == Transcript::Poseidon));

    // Refused before any keying or aggregation, each naming its reason.
    let srs = dev_srs(AGGREGATE_K);
    let aggregate = |segments: &[&Path], out: &Path, extra: &[&dyn AsRef<std::ffi::OsStr>]| {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"aggregate"];
        for s in segments {
            args.push(&"--segment");
            args.push(s);
        }
        args.extend([&"--srs" as &dyn AsRef<std::ffi::OsStr>, &srs, &"-p", &out]);
        args.extend_from_slice(extra);
        run("prover", &args)
    };
    let refused = |segments: &[&Path], expect: &str| {
        let out = at("refused.json");
        let o = aggregate(segments, &out, &[]);
        assert!(!o.status.success(), "aggregated {segments:?}");
        assert!(stderr(&o).contains(expect), "expected {expect:?} in: {}", stderr(&o));
        assert!(!out.exists(), "a refused aggregation wrote its proof");
    };
    let (s0, s1) = (segment_files[0].as_path(), segment_files[1].as_path());
    refused(&[s1, s0], "not a range plan");
    refused(&[s0, s0], "not one chain");
    let edit = |name: &str, change: &dyn Fn(&mut ProofFile)| {
        let mut edited = segments[1].clone();
        change(&mut edited);
        write(&at(name), &edited);
        at(name)
    };
    let blake = edit("blake.json", &|s| s.transcript = Transcript::Blake2b);
    refused(&[s0, &blake], "only poseidon-transcript segment proofs");
    let flipped = edit("flipped.json", &|s| {
        let mut bytes = s.proof.to_vec();
        bytes[100] ^= 1;
        s.proof = bytes.into();
    });
    refused(&[s0, &flipped], "segment 1 does not verify");
    let other_setup = edit("other.json", &|s| s.key_id = "11".repeat(32));
    refused(&[s0, &other_setup], "prove it again with this SRS");

    // The range proof and the range key; the host's check accepts it for the witness.
    let (range, range_key) = (at("range.json"), at("range-key.json"));
    let o = aggregate(&[s0, s1], &range, &[&"--key-out", &range_key]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(
        "verifier",
        &[&"check", &"-p", &range, &"--witness", &at("w.json"), &"--key", &range_key, &"--report", &at("report.json")],
    );
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    let report: serde_json::Value = read(&at("report.json"));
    assert_eq!(report["valid"], true);
    assert_eq!(report["segments"], 2);
    assert_eq!(report["headers"], 20);
    // Against another witness (the first segment's), the same proof is refused.
    let o = run("verifier", &[&"check", &"-p", &range, &"--witness", &at("w0.json"), &"--key", &range_key]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    // Edited range proofs, each refused with its reason.
    let proof: RangeProofFile = read(&range);
    let pinned = [PinnedRangeKey::new(read::<RangeKeyFile>(&range_key)).unwrap()];
    files::verify(&pinned, &proof).unwrap();
    let mut later = proof.clone();
    later.statement.last_number += 1;
    later.instances[5] = fr_to_hex(&Fr::from(later.statement.last_number));
    assert_eq!(files::verify(&pinned, &later), Err(RangeRejection::Invalid(Transcript::Blake2b)));
    let mut claimed = proof.clone();
    claimed.statement.first_number -= 1;
    assert_eq!(files::verify(&pinned, &claimed), Err(RangeRejection::StatementMismatch));
    let mut limb = proof.clone();
    limb.instances[7] = fr_to_hex(&Fr::from(7u64));
    assert_eq!(files::verify(&pinned, &limb), Err(RangeRejection::Invalid(Transcript::Blake2b)));
    let mut trailing = proof.clone();
    trailing.proof = [&proof.proof[..], &[0u8]].concat().into();
    assert_eq!(files::verify(&pinned, &trailing), Err(RangeRejection::TrailingBytes(1)));
    let mut unknown = proof.clone();
    unknown.key_id = "00".repeat(32);
    assert!(matches!(files::verify(&pinned, &unknown), Err(RangeRejection::UnknownKey { .. })));
    write(&at("later.json"), &later);
    let o = run("verifier", &[&"verify", &"-p", &at("later.json"), &"--key", &range_key]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("does not verify"), "{}", String::from_utf8_lossy(&o.stdout));

    // The accumulator's pairing is what makes the segment proofs count: the
    // same two points swapped fail it.
    let limbs: Vec<Fr> = proof.instances[6..].iter().map(|s| fr_from_hex(s).unwrap()).collect();
    let points = pinned[0].points();
    files::decide(points, &limbs).unwrap();
    let swapped = [&limbs[6..], &limbs[..6]].concat();
    assert_eq!(files::decide(points, &swapped), Err(RangeRejection::AccumulatorFails));
}
