//! The Keccak-256 Fiat-Shamir transcript that snark-verifier's EVM verifier
//! replays on chain (its `EvmTranscript`), for halo2's prover and verifier.
//!
//! The rules, which must match the generated contract byte for byte:
//! - absorbing appends to a buffer: a scalar as 32 bytes big-endian, a point
//!   as x then y, each 32 bytes big-endian (no point at infinity);
//! - squeezing hashes the buffer with Keccak-256, appending one `0x01` byte
//!   whenever the buffer is exactly 32 bytes long (as it is right after a
//!   squeeze, so two squeezes in a row differ; also after absorbing a single
//!   scalar); the digest replaces the buffer, and the challenge is the digest
//!   read big-endian, reduced modulo r;
//! - the proof stream holds exactly what was written, in the same encoding;
//!   a reader refuses non-canonical scalars and coordinates and points off
//!   the curve.

use std::io::{self, Read, Write};

use halo2_base::halo2_proofs::arithmetic::CurveAffine;
use halo2_base::halo2_proofs::halo2curves::bn256::{Fq, Fr, G1Affine};
use halo2_base::halo2_proofs::halo2curves::ff::PrimeField;
use halo2_base::halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;
use halo2_base::halo2_proofs::transcript::{
    EncodedChallenge, Transcript, TranscriptRead, TranscriptReadBuffer, TranscriptWrite, TranscriptWriterBuffer,
};
use sha3::{Digest, Keccak256};

/// A challenge: a Keccak-256 digest read big-endian, reduced modulo r.
#[derive(Debug)]
pub struct KeccakChallenge(Fr);

impl EncodedChallenge<G1Affine> for KeccakChallenge {
    type Input = [u8; 32];

    fn new(digest: &[u8; 32]) -> Self {
        // hi * 2^128 + lo, both halves below r: exactly the digest mod r.
        let hi = u128::from_be_bytes(digest[..16].try_into().expect("16 bytes"));
        let lo = u128::from_be_bytes(digest[16..].try_into().expect("16 bytes"));
        let two_128 = Fr::from_u128(1 << 127).double();
        KeccakChallenge(Fr::from_u128(hi) * two_128 + Fr::from_u128(lo))
    }

    fn get_scalar(&self) -> Fr {
        self.0
    }
}

/// The transcript over a proof stream `S` (a reader or a writer).
pub struct KeccakTranscript<S> {
    stream: S,
    buffer: Vec<u8>,
}

impl<S> KeccakTranscript<S> {
    fn absorb_scalar(&mut self, scalar: &Fr) {
        self.buffer.extend(big_endian(scalar.to_repr()));
    }

    fn absorb_point(&mut self, point: &G1Affine) -> io::Result<()> {
        self.buffer.extend(encode_point(point)?);
        Ok(())
    }
}

/// x then y, each 32 bytes big-endian; the point at infinity has no encoding.
fn encode_point(point: &G1Affine) -> io::Result<Vec<u8>> {
    if bool::from(point.is_identity()) {
        return Err(io::Error::other("the point at infinity has no transcript encoding"));
    }
    let mut bytes = big_endian(point.x.to_repr());
    bytes.extend(big_endian(point.y.to_repr()));
    Ok(bytes)
}

fn big_endian(repr: impl AsRef<[u8]>) -> Vec<u8> {
    repr.as_ref().iter().rev().copied().collect()
}

fn little_endian_repr<F: PrimeField<Repr = [u8; 32]>>(big_endian: [u8; 32]) -> F::Repr {
    let mut repr = big_endian;
    repr.reverse();
    repr
}

impl<S> Transcript<G1Affine, KeccakChallenge> for KeccakTranscript<S> {
    fn squeeze_challenge(&mut self) -> KeccakChallenge {
        let mut hasher = Keccak256::new();
        hasher.update(&self.buffer);
        if self.buffer.len() == 32 {
            hasher.update([1u8]);
        }
        let digest: [u8; 32] = hasher.finalize().into();
        self.buffer = digest.to_vec();
        KeccakChallenge::new(&digest)
    }

    fn common_point(&mut self, point: G1Affine) -> io::Result<()> {
        self.absorb_point(&point)
    }

    fn common_scalar(&mut self, scalar: Fr) -> io::Result<()> {
        self.absorb_scalar(&scalar);
        Ok(())
    }
}

impl<R: Read> KeccakTranscript<R> {
    fn read_32(&mut self) -> io::Result<[u8; 32]> {
        let mut bytes = [0u8; 32];
        self.stream.read_exact(&mut bytes)?;
        Ok(bytes)
    }
}

impl<R: Read> TranscriptRead<G1Affine, KeccakChallenge> for KeccakTranscript<R> {
    fn read_point(&mut self) -> io::Result<G1Affine> {
        let x = Option::<Fq>::from(Fq::from_repr(little_endian_repr::<Fq>(self.read_32()?)));
        let y = Option::<Fq>::from(Fq::from_repr(little_endian_repr::<Fq>(self.read_32()?)));
        let point = x
            .zip(y)
            .and_then(|(x, y)| Option::from(G1Affine::from_xy(x, y)))
            .ok_or_else(|| io::Error::other("invalid elliptic curve point encoding in proof"))?;
        self.absorb_point(&point)?;
        Ok(point)
    }

    fn read_scalar(&mut self) -> io::Result<Fr> {
        let scalar = Option::<Fr>::from(Fr::from_repr(little_endian_repr::<Fr>(self.read_32()?)))
            .ok_or_else(|| io::Error::other("invalid scalar encoding in proof"))?;
        self.absorb_scalar(&scalar);
        Ok(scalar)
    }
}

impl<R: Read> TranscriptReadBuffer<R, G1Affine, KeccakChallenge> for KeccakTranscript<R> {
    fn init(reader: R) -> Self {
        Self { stream: reader, buffer: Vec::new() }
    }
}

impl<W: Write> TranscriptWrite<G1Affine, KeccakChallenge> for KeccakTranscript<W> {
    fn write_point(&mut self, point: G1Affine) -> io::Result<()> {
        let bytes = encode_point(&point)?;
        self.buffer.extend(&bytes);
        self.stream.write_all(&bytes)
    }

    fn write_scalar(&mut self, scalar: Fr) -> io::Result<()> {
        self.absorb_scalar(&scalar);
        self.stream.write_all(&big_endian(scalar.to_repr()))
    }
}

impl<W: Write> TranscriptWriterBuffer<W, G1Affine, KeccakChallenge> for KeccakTranscript<W> {
    fn init(writer: W) -> Self {
        Self { stream: writer, buffer: Vec::new() }
    }

    fn finalize(self) -> W {
        self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_base::halo2_proofs::halo2curves::ff::Field;
    use halo2_base::halo2_proofs::halo2curves::group::Curve;

    #[test]
    fn squeezes_follow_the_evm_rules() {
        let mut t = <KeccakTranscript<Vec<u8>> as TranscriptWriterBuffer<_, G1Affine, _>>::init(vec![]);
        t.write_scalar(Fr::from(5)).unwrap();
        let c1 = Transcript::squeeze_challenge(&mut t).get_scalar();
        // keccak256(32-byte big-endian 5, then 0x01: the buffer is 32 bytes).
        let mut five = [0u8; 33];
        five[31] = 5;
        five[32] = 1;
        let d1: [u8; 32] = Keccak256::digest(five).into();
        assert_eq!(c1, KeccakChallenge::new(&d1).get_scalar());
        // A second squeeze in a row hashes the digest and a 0x01 byte.
        let c2 = Transcript::squeeze_challenge(&mut t).get_scalar();
        let d2: [u8; 32] = Keccak256::digest([&d1[..], &[1u8]].concat()).into();
        assert_eq!(c2, KeccakChallenge::new(&d2).get_scalar());
        // Any other length is hashed as it is.
        t.write_scalar(Fr::from(6)).unwrap();
        let c3 = Transcript::squeeze_challenge(&mut t).get_scalar();
        let mut six = [0u8; 32];
        six[31] = 6;
        let d3: [u8; 32] = Keccak256::digest([&d2[..], &six[..]].concat()).into();
        assert_eq!(c3, KeccakChallenge::new(&d3).get_scalar());
        // A digest above r is reduced: all-ones reads as 2^256 - 1 mod r.
        let reduced = KeccakChallenge::new(&[0xff; 32]).get_scalar();
        let two_256_minus_1 = Fr::from(2).pow_vartime([256]) - Fr::one();
        assert_eq!(reduced, two_256_minus_1);
    }

    #[test]
    fn what_is_written_reads_back_and_bad_encodings_are_refused() {
        let point = (G1Affine::generator() * Fr::from(7)).to_affine();
        let mut w = <KeccakTranscript<Vec<u8>> as TranscriptWriterBuffer<_, G1Affine, _>>::init(vec![]);
        w.write_point(point).unwrap();
        w.write_scalar(Fr::from(9)).unwrap();
        let cw = Transcript::squeeze_challenge(&mut w).get_scalar();
        let bytes = TranscriptWriterBuffer::<_, G1Affine, _>::finalize(w);
        assert_eq!(bytes.len(), 96);

        let mut r = <KeccakTranscript<&[u8]> as TranscriptReadBuffer<_, G1Affine, _>>::init(bytes.as_slice());
        assert_eq!(r.read_point().unwrap(), point);
        assert_eq!(r.read_scalar().unwrap(), Fr::from(9));
        assert_eq!(Transcript::squeeze_challenge(&mut r).get_scalar(), cw);

        // The scalar field's modulus itself is not canonical.
        let modulus = big_endian((-Fr::one()).to_repr());
        let mut too_big = modulus.clone();
        *too_big.last_mut().unwrap() += 1;
        let mut r = <KeccakTranscript<&[u8]> as TranscriptReadBuffer<_, G1Affine, _>>::init(too_big.as_slice());
        assert!(r.read_scalar().is_err());
        // (1, 1) is not on the curve.
        let mut off_curve = [0u8; 64];
        off_curve[31] = 1;
        off_curve[63] = 1;
        let mut r = <KeccakTranscript<&[u8]> as TranscriptReadBuffer<_, G1Affine, _>>::init(&off_curve[..]);
        assert!(r.read_point().is_err());
        // The point at infinity cannot be written.
        let mut w = <KeccakTranscript<Vec<u8>> as TranscriptWriterBuffer<_, G1Affine, _>>::init(vec![]);
        assert!(w.write_point(G1Affine::identity()).is_err());
    }
}
