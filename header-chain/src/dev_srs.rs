//! The INSECURE development SRS, byte for byte what
//! `ParamsKZG::setup(k, ChaCha20Rng::from_seed(seed))` makes, computed with a
//! fixed-base table: setup does one variable-base multiplication per point
//! (twice 2^k of them), which takes over five minutes at k = 22 on two cores.
//! Affine points are unique, so the same scalars give the same bytes.

use halo2_base::halo2_proofs::arithmetic::parallelize;
use halo2_base::halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine, G2Affine, G1};
use halo2_base::halo2_proofs::halo2curves::ff::{BatchInvert, Field, PrimeField};
use halo2_base::halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;
use halo2_base::halo2_proofs::halo2curves::group::{Curve, Group};
use halo2_base::halo2_proofs::poly::kzg::commitment::ParamsKZG;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::srs::VerifierPoints;

/// Bits of the scalar each table row covers.
const WINDOW: usize = 8;
const ROWS: usize = 256 / WINDOW;

/// Multiples of G1's generator: `rows[j][d] = d · 2^(8j) · G`.
struct FixedBase {
    rows: Vec<[G1Affine; 1 << WINDOW]>,
}

impl FixedBase {
    fn generator() -> Self {
        let mut projective = Vec::with_capacity(ROWS << WINDOW);
        let mut base = G1::generator();
        for _ in 0..ROWS {
            let mut multiple = G1::identity();
            for _ in 0..1 << WINDOW {
                projective.push(multiple);
                multiple += base;
            }
            base = multiple;
        }
        let mut affine = vec![G1Affine::identity(); projective.len()];
        G1::batch_normalize(&projective, &mut affine);
        let rows = affine.chunks_exact(1 << WINDOW).map(|row| row.try_into().expect("a full row")).collect();
        Self { rows }
    }

    fn mul(&self, scalar: &Fr) -> G1 {
        let bytes = scalar.to_repr();
        let mut acc = G1::identity();
        for (row, &digit) in self.rows.iter().zip(bytes.as_ref()) {
            if digit != 0 {
                acc += row[digit as usize];
            }
        }
        acc
    }

    /// `scalar · G` for every scalar, as affine points.
    fn mul_all(&self, scalars: &[Fr]) -> Vec<G1Affine> {
        let mut points = vec![G1Affine::identity(); scalars.len()];
        parallelize(&mut points, |chunk, start| {
            let projective: Vec<G1> = scalars[start..start + chunk.len()].iter().map(|s| self.mul(s)).collect();
            G1::batch_normalize(&projective, chunk);
        });
        points
    }
}

/// The SRS `ParamsKZG::<Bn256>::setup(k, ChaCha20Rng::from_seed(seed))` returns.
pub fn setup(k: u32, seed: [u8; 32]) -> ParamsKZG<Bn256> {
    assert!(k <= Fr::S, "k = {k} is beyond BN254's FFT domains");
    let n = 1usize << k;
    let s = Fr::random(ChaCha20Rng::from_seed(seed));
    let table = FixedBase::generator();

    let mut powers = vec![Fr::ONE; n];
    for i in 1..n {
        powers[i] = powers[i - 1] * s;
    }
    let g = table.mul_all(&powers);

    // The i-th Lagrange point is L_i(s)·G = (s^n - 1)/n · ω^i / (s - ω^i) · G.
    let mut omega = Fr::ROOT_OF_UNITY_INV.invert().unwrap();
    for _ in k..Fr::S {
        omega = omega.square();
    }
    let multiplier = (s.pow_vartime([n as u64]) - Fr::ONE) * Fr::from(n as u64).invert().unwrap();
    let mut roots = vec![Fr::ONE; n];
    for i in 1..n {
        roots[i] = roots[i - 1] * omega;
    }
    let mut inverses: Vec<Fr> = roots.iter().map(|root| s - root).collect();
    inverses.batch_invert();
    let lagrange: Vec<Fr> = roots.iter().zip(&inverses).map(|(root, inv)| multiplier * root * inv).collect();
    let g_lagrange = table.mul_all(&lagrange);

    let g2 = G2Affine::generator();
    let s_g2 = (g2 * s).to_affine();
    let template = VerifierPoints { g0: g[0], g2, s_g2 }.params(0);
    template.from_parts(k, g, Some(g_lagrange), g2, s_g2)
}

#[cfg(test)]
mod tests {
    use halo2_base::halo2_proofs::SerdeFormat;

    use super::*;

    fn bytes(params: &ParamsKZG<Bn256>) -> Vec<u8> {
        let mut out = Vec::new();
        params.write_custom(&mut out, SerdeFormat::RawBytes).unwrap();
        out
    }

    #[test]
    fn the_same_bytes_as_halo2s_setup() {
        for (k, seed) in [(1, [7u8; 32]), (4, [0; 32]), (9, *b"header-chain INSECURE dev SRS!!!")] {
            let theirs = ParamsKZG::<Bn256>::setup(k, ChaCha20Rng::from_seed(seed));
            assert!(bytes(&setup(k, seed)) == bytes(&theirs), "k = {k}");
        }
    }

    #[test]
    fn the_table_multiplies() {
        let table = FixedBase::generator();
        for scalar in [Fr::ZERO, Fr::ONE, Fr::from(255), Fr::from(256), -Fr::ONE, Fr::from(0x1234_5678_9abc_def0)] {
            assert_eq!(table.mul(&scalar).to_affine(), (G1Affine::generator() * scalar).to_affine());
        }
    }
}
