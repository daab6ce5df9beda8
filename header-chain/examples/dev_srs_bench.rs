//! The development SRS made two ways, side by side: halo2's
//! `ParamsKZG::setup` and this crate's fixed-base generator, with a check
//! that both wrote the same bytes.
//! Usage: cargo run --release -p header-chain --example dev_srs_bench -- K...
use std::time::Instant;

use header_chain::halo2_proofs::halo2curves::bn256::Bn256;
use header_chain::halo2_proofs::poly::kzg::commitment::ParamsKZG;
use header_chain::halo2_proofs::SerdeFormat;
use header_chain::srs;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn bytes(params: &ParamsKZG<Bn256>) -> Vec<u8> {
    let mut out = Vec::new();
    params.write_custom(&mut out, SerdeFormat::RawBytes).expect("writing to memory");
    out
}

fn main() {
    let ks: Vec<u32> = std::env::args().skip(1).map(|k| k.parse().expect("usage: dev_srs_bench K...")).collect();
    println!("| k | halo2 setup (s) | fixed-base generator (s) | speed-up | same bytes |\n|---|---|---|---|---|");
    for k in ks {
        let t = Instant::now();
        let theirs = ParamsKZG::<Bn256>::setup(k, ChaCha20Rng::from_seed(srs::DEV_SEED));
        let setup = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let ours = srs::generate_insecure_dev(k);
        let fast = t.elapsed().as_secs_f64();
        let same = bytes(&ours) == bytes(&theirs);
        println!("| {k} | {setup:.1} | {fast:.1} | {:.1}x | {same} |", setup / fast);
    }
}
