//! Raw SRS files: downsizing is byte-identical to halo2's own, and
//! verification catches each kind of corruption.

use header_chain::halo2_proofs::poly::commitment::Params;
use header_chain::halo2_proofs::poly::kzg::commitment::ParamsKZG;
use header_chain::halo2_proofs::{halo2curves::bn256::Bn256, SerdeFormat};
use header_chain::srs::{self, SrsError, G1_BYTES, G2_BYTES};

fn bytes_of(params: &ParamsKZG<Bn256>) -> Vec<u8> {
    let mut out = Vec::new();
    params.write_custom(&mut out, SerdeFormat::RawBytes).unwrap();
    out
}

fn dev_file(dir: &std::path::Path, k: u32) -> (std::path::PathBuf, Vec<u8>) {
    let path = dir.join(srs::dev_srs_file_name(k));
    srs::write(&srs::generate_insecure_dev(k), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

#[test]
fn downsize_matches_halo2_and_a_smaller_setup() {
    let dir = tempfile::tempdir().unwrap();
    let (path, bytes) = dev_file(dir.path(), 12);
    assert_eq!(bytes.len() as u64, srs::raw_size(12));
    let mut reported = 0;
    let ours = srs::downsize(&path, 10, |n| reported = n).unwrap();
    assert_eq!(reported, 4 + (1 << 10) * G1_BYTES, "only the first 2^10 points are read");
    let mut theirs = ParamsKZG::<Bn256>::read_custom(&mut bytes.as_slice(), SerdeFormat::RawBytes).unwrap();
    theirs.downsize(10);
    assert_eq!(bytes_of(&ours), bytes_of(&theirs));
    // The dev SRS draws one secret for every k, so this is also setup(10).
    assert_eq!(bytes_of(&ours), bytes_of(&srs::generate_insecure_dev(10)));
    // Downsizing to the same k is the identity.
    assert_eq!(bytes_of(&srs::downsize(&path, 12, |_| {}).unwrap()), bytes);
}

#[test]
fn verify_accepts_a_good_file_and_checks_the_pin() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = dev_file(dir.path(), 8);
    let report = srs::verify_file(&path, None).unwrap();
    assert_eq!(report.k, 8);
    srs::verify_file(&path, Some(&report.sha256)).unwrap();
    let wrong = "0".repeat(64);
    assert!(matches!(srs::verify_file(&path, Some(&wrong)), Err(SrsError::Pin { .. })));
}

#[test]
fn verify_catches_every_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (_, good) = dev_file(dir.path(), 8);
    let bad = dir.path().join("bad.srs");
    let check = |bytes: &[u8]| {
        std::fs::write(&bad, bytes).unwrap();
        srs::verify_file(&bad, None).unwrap_err()
    };

    // Truncated.
    assert!(matches!(check(&good[..good.len() - 1]), SrsError::Size { .. }));
    assert!(matches!(check(&good[..3]), SrsError::NoHeader { .. }));
    // Header k inconsistent with the size.
    let mut wrong_k = good.clone();
    wrong_k[0] = 9;
    assert!(matches!(check(&wrong_k), SrsError::Size { k: 9, .. }));
    let mut huge_k = good.clone();
    huge_k[..4].copy_from_slice(&40u32.to_le_bytes());
    assert!(matches!(check(&huge_k), SrsError::BadK { k: 40, .. }));
    // A G1 point off the curve (and the offset is named).
    let mut off = good.clone();
    off[4 + 5 * 64 + 40] ^= 1;
    let e = check(&off);
    assert!(e.to_string().contains("g[5] at byte 324"), "{e}");
    // A coordinate above the field modulus.
    let mut above = good.clone();
    above[4 + 31] = 0xff;
    assert!(matches!(check(&above), SrsError::Point { .. }));
    // A G2 point off the curve.
    let mut g2 = good.clone();
    let at = good.len() - 2 * G2_BYTES as usize + 3;
    g2[at] ^= 1;
    assert!(check(&g2).to_string().contains("g2 at byte"));
    // Valid points that do not share a secret: s_g2 replaced by g2.
    let mut mixed = good.clone();
    let (g2_at, s_g2_at) = (good.len() - 2 * G2_BYTES as usize, good.len() - G2_BYTES as usize);
    mixed.copy_within(g2_at..s_g2_at, s_g2_at);
    assert!(matches!(check(&mixed), SrsError::Pairing { .. }));
}

#[test]
fn downsize_refuses_a_larger_k_and_corrupt_points() {
    let dir = tempfile::tempdir().unwrap();
    let (path, good) = dev_file(dir.path(), 8);
    assert!(matches!(srs::downsize(&path, 9, |_| {}), Err(SrsError::TooSmall { have: 8, need: 9, .. })));
    let mut off = good.clone();
    off[4 + 2 * 64 + 1] ^= 1;
    std::fs::write(&path, &off).unwrap();
    assert!(matches!(srs::downsize(&path, 4, |_| {}), Err(SrsError::Point { .. })));
}

#[test]
fn a_sibling_of_degree_k_gives_the_lagrange_points_and_must_be_the_same_setup() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = dev_file(dir.path(), 12);
    let recomputed = srs::downsize(&path, 10, |_| {}).unwrap();
    let sibling = srs::sibling(&path, 12, 10).unwrap();
    assert_eq!(sibling, dir.path().join("kzg_bn254_10.INSECURE-DEV.srs"));
    assert_eq!(
        srs::sibling(std::path::Path::new("/srs/kzg_bn254_22.srs"), 22, 17).unwrap().to_str(),
        Some("/srs/kzg_bn254_17.srs")
    );

    // The dev SRS at k = 10 is the k = 12 one downsized: read in its place.
    srs::write(&srs::generate_insecure_dev(10), &sibling).unwrap();
    assert_eq!(bytes_of(&srs::read_for_k(&path, 10).unwrap()), bytes_of(&recomputed));

    // Another setup's file of that degree is refused, by name.
    use header_chain::halo2_proofs::poly::kzg::commitment::ParamsKZG as Kzg;
    use rand_core::SeedableRng;
    let other = Kzg::<Bn256>::setup(10, rand_chacha::ChaCha20Rng::from_seed([9; 32]));
    srs::write(&other, &sibling).unwrap();
    let e = srs::read_for_k(&path, 10).unwrap_err();
    assert!(matches!(e, SrsError::NotDownsized { .. }), "{e}");
    assert!(e.to_string().contains("kzg_bn254_10.INSECURE-DEV.srs"), "{e}");

    // No sibling: the points are recomputed, the same bytes.
    std::fs::remove_file(&sibling).unwrap();
    assert_eq!(bytes_of(&srs::read_for_k(&path, 10).unwrap()), bytes_of(&recomputed));
}
