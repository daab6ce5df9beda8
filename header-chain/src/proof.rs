//! Keys, proofs and verification. The proof file is versioned JSON naming the
//! verifying key it was made for by its `key_id`; the verifier takes its key
//! only from files it was given (its image), never from the proof.
//!
//! A proof comes in one of three flavours ([`Transcript`]): the same circuit,
//! keys and SHPLONK opening, with challenges drawn from Blake2b (native),
//! from Keccak-256 the way snark-verifier's EVM verifier replays it, or from
//! Poseidon the way snark-verifier's in-circuit verifier replays it (segment
//! proofs an aggregation circuit verifies, `header-range`).

use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;

use crate::keccak_transcript::{KeccakChallenge, KeccakTranscript};
use crate::poseidon_transcript::PoseidonTranscript;
use alloy_primitives::Bytes;
use halo2_base::halo2_proofs::poly::commitment::Params;
use halo2_base::halo2_proofs::{
    halo2curves::bn256::{Bn256, Fr, G1Affine},
    halo2curves::ff::PrimeField,
    plonk::{create_proof, keygen_pk, keygen_vk, verify_proof, Circuit, ProvingKey, VerifyingKey},
    poly::kzg::{
        commitment::{KZGCommitmentScheme, ParamsKZG},
        multiopen::{ProverSHPLONK, VerifierSHPLONK},
        strategy::SingleStrategy,
    },
    transcript::{
        Blake2bRead, Blake2bWrite, Challenge255, EncodedChallenge, TranscriptReadBuffer, TranscriptWriterBuffer,
    },
    SerdeFormat,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use snark_verifier::loader::native::NativeLoader;
use snark_verifier::system::halo2::transcript::halo2::ChallengeScalar;

use crate::circuit::{CircuitShape, HeaderChainCircuit};
use crate::layout::{template_chain, ChainStatement, PUBLIC_INSTANCES};
use crate::srs::VerifierPoints;

/// Names the constraint system; bump it whenever the constraints change.
pub const CIRCUIT_ID: &str = "header-chain-keccak/v1";
pub const PROOF_KIND: &str = "header-chain-proof";
pub const KEY_KIND: &str = "header-chain-verifier-key";
pub const FORMAT_VERSION: u32 = 1;

/// What a verifier needs for one circuit shape: the verifying key and the
/// three SRS points (g[0], g2, s_g2). A few kilobytes; no SRS.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierKeyFile {
    pub kind: String,
    pub version: u32,
    pub circuit: String,
    pub shape: CircuitShape,
    pub verifier_points: Bytes,
    pub vk: Bytes,
}

impl VerifierKeyFile {
    /// sha256 over everything that decides verification: circuit id, shape,
    /// SRS points and the verifying key bytes.
    pub fn key_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.circuit.as_bytes());
        h.update([0]);
        h.update(serde_json::to_vec(&self.shape).expect("shape serializes"));
        h.update([0]);
        h.update(&self.verifier_points);
        h.update(&self.vk);
        hex::encode(h.finalize())
    }

    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| KeyError::Read { path: shown.clone(), source })?;
        let key: Self =
            serde_json::from_slice(&text).map_err(|source| KeyError::Json { path: shown.clone(), source })?;
        if key.kind != KEY_KIND || key.version != FORMAT_VERSION || key.circuit != CIRCUIT_ID {
            return Err(KeyError::Kind { path: shown, kind: key.kind, version: key.version, circuit: key.circuit });
        }
        Ok(key)
    }

    fn verifying_key(&self) -> Result<VerifyingKey<G1Affine>, KeyError> {
        VerifyingKey::read::<_, HeaderChainCircuit>(&mut self.vk.as_ref(), SerdeFormat::RawBytes, self.shape.clone())
            .map_err(KeyError::VerifyingKey)
    }
}

/// Why a verifier key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read verifier key {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("verifier key {path} is not valid key JSON: {source}")]
    Json { path: String, source: serde_json::Error },
    #[error("verifier key {path} is {kind} v{version} for circuit {circuit}; expected {KEY_KIND} v{FORMAT_VERSION} for {CIRCUIT_ID}")]
    Kind { path: String, kind: String, version: u32, circuit: String },
    #[error("verifier key holds an unreadable verifying key: {0}")]
    VerifyingKey(std::io::Error),
    #[error("the key's verifier points are malformed, or its g[0] and g2 are not the BN254 generators every KZG setup uses (a scaled g2 disguises a known secret): make the key again from a ceremony SRS")]
    Points,
}

/// Why keys or a proof could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error("witness: {0}")]
    Witness(#[from] crate::witness::WitnessError),
    #[error(transparent)]
    Shape(#[from] crate::circuit::ShapeError),
    #[error(transparent)]
    Srs(#[from] crate::srs::SrsError),
    #[error("keygen failed: {0}")]
    Keygen(String),
    #[error("proving failed: {0}")]
    Prove(String),
}

/// A proving key with the matching verifier key file.
pub struct Keys {
    pub pk: ProvingKey<G1Affine>,
    pub verifier: VerifierKeyFile,
}

/// Generates the keys for `shape` from `params` (whose k must equal the shape's).
pub fn keygen(params: &ParamsKZG<Bn256>, shape: &CircuitShape) -> Result<Keys, ProveError> {
    assert_eq!(params.k(), shape.k, "SRS degree differs from the circuit's");
    let circuit = HeaderChainCircuit::new(shape.clone(), template_chain(shape.num_headers));
    let vk = keygen_vk(params, &circuit).map_err(|e| ProveError::Keygen(format!("keygen_vk: {e:?}")))?;
    let mut vk_bytes = Vec::new();
    vk.write(&mut vk_bytes, SerdeFormat::RawBytes).map_err(|e| ProveError::Keygen(e.to_string()))?;
    let pk = keygen_pk(params, vk, &circuit).map_err(|e| ProveError::Keygen(format!("keygen_pk: {e:?}")))?;
    let verifier = VerifierKeyFile {
        kind: KEY_KIND.into(),
        version: FORMAT_VERSION,
        circuit: CIRCUIT_ID.into(),
        shape: shape.clone(),
        verifier_points: VerifierPoints::of(params).to_bytes().into(),
        vk: vk_bytes.into(),
    };
    Ok(Keys { pk, verifier })
}

/// Which hash a proof's Fiat-Shamir transcript uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Transcript {
    /// Blake2b, the native flavour: what every task makes unless asked.
    #[default]
    Blake2b,
    /// Keccak-256, as the generated EVM verifier contract replays it.
    Keccak,
    /// Poseidon over BN254's scalar field, as snark-verifier's halo2 loader
    /// replays it inside an aggregation circuit.
    Poseidon,
}

impl Transcript {
    pub fn is_blake2b(&self) -> bool {
        *self == Transcript::Blake2b
    }

    pub fn name(self) -> &'static str {
        match self {
            Transcript::Blake2b => "blake2b",
            Transcript::Keccak => "keccak",
            Transcript::Poseidon => "poseidon",
        }
    }
}

impl std::fmt::Display for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofFile {
    pub kind: String,
    pub version: u32,
    pub circuit: String,
    pub shape: CircuitShape,
    /// `key_id` of the verifier key this proof was made for.
    pub key_id: String,
    /// The transcript's hash; absent means Blake2b (and files from before
    /// the Keccak flavour existed read the same).
    #[serde(default, skip_serializing_if = "Transcript::is_blake2b")]
    pub transcript: Transcript,
    pub statement: ChainStatement,
    /// Public instances, 32-byte big-endian hex.
    pub instances: Vec<String>,
    pub proof: Bytes,
}

pub fn fr_to_hex(x: &Fr) -> String {
    let mut be = x.to_repr().as_ref().to_vec();
    be.reverse();
    format!("0x{}", hex::encode(be))
}

pub fn fr_from_hex(s: &str) -> Option<Fr> {
    let mut bytes = hex::decode(s.strip_prefix("0x")?).ok()?;
    if bytes.len() != 32 {
        return None;
    }
    bytes.reverse();
    let mut repr = <Fr as PrimeField>::Repr::default();
    repr.as_mut().copy_from_slice(&bytes);
    Option::from(Fr::from_repr(repr))
}

/// Proves the chain `headers` (RLP bytes) makes `statement`, in the given
/// transcript flavour.
pub fn prove(
    params: &ParamsKZG<Bn256>,
    keys: &Keys,
    headers: Vec<Vec<u8>>,
    statement: &ChainStatement,
    flavour: Transcript,
) -> Result<ProofFile, ProveError> {
    let shape = keys.verifier.shape.clone();
    let instances = statement.instances();
    let circuit = HeaderChainCircuit::new(shape.clone(), headers);
    let proof = match flavour {
        Transcript::Blake2b => {
            create::<_, Challenge255<G1Affine>, Blake2bWrite<_, G1Affine, _>>(params, &keys.pk, circuit, &instances)?
        }
        Transcript::Keccak => create::<_, KeccakChallenge, KeccakTranscript<_>>(params, &keys.pk, circuit, &instances)?,
        Transcript::Poseidon => create::<_, ChallengeScalar<G1Affine>, PoseidonTranscript<NativeLoader, _>>(
            params, &keys.pk, circuit, &instances,
        )?,
    };
    Ok(ProofFile {
        kind: PROOF_KIND.into(),
        version: FORMAT_VERSION,
        circuit: CIRCUIT_ID.into(),
        shape,
        key_id: keys.verifier.key_id(),
        transcript: flavour,
        statement: statement.clone(),
        instances: instances.iter().map(fr_to_hex).collect(),
        proof: proof.into(),
    })
}

/// One SHPLONK proof of `circuit` through the transcript `T`.
pub fn create<C, E, T>(
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    circuit: C,
    instances: &[Fr],
) -> Result<Vec<u8>, ProveError>
where
    C: Circuit<Fr>,
    E: EncodedChallenge<G1Affine>,
    T: TranscriptWriterBuffer<Vec<u8>, G1Affine, E>,
{
    let mut transcript = T::init(vec![]);
    create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, E, _, _, _>(
        params,
        pk,
        &[circuit],
        &[&[instances]],
        rand_core::OsRng,
        &mut transcript,
    )
    .map_err(|e| ProveError::Prove(format!("{e:?}")))?;
    Ok(transcript.finalize())
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    #[error("the proof file is a {kind} v{version} for circuit {circuit}; this verifier checks {PROOF_KIND} v{FORMAT_VERSION} for {CIRCUIT_ID}")]
    Format { kind: String, version: u32, circuit: String },
    #[error("the proof was made for verifying key {found}, which this verifier does not pin (it pins: {pinned})")]
    UnknownKey { found: String, pinned: String },
    #[error("the proof's circuit shape differs from its pinned key's shape")]
    ShapeMismatch,
    #[error("the proof's public instances are malformed: {0}")]
    BadInstances(String),
    #[error("the public instances do not match the statement the proof file claims")]
    StatementMismatch,
    #[error("the proof does not verify against the pinned key and instances (as a {0}-transcript proof)")]
    Invalid(Transcript),
    #[error("the proof has {0} bytes after what the verifier reads: a proof is exactly its transcript")]
    TrailingBytes(usize),
}

/// A verifier key made ready once: its id, verifying key and verifier-only
/// parameters (reading a verifying key re-runs the circuit's configuration).
#[derive(Clone)]
pub struct PinnedKey {
    pub file: VerifierKeyFile,
    pub id: String,
    pub(crate) vk: VerifyingKey<G1Affine>,
    pub(crate) params: ParamsKZG<Bn256>,
}

impl PinnedKey {
    pub fn new(file: VerifierKeyFile) -> Result<Self, KeyError> {
        let vk = file.verifying_key()?;
        let points = VerifierPoints::from_bytes(&file.verifier_points).ok_or(KeyError::Points)?;
        let params = points.params(file.shape.k);
        Ok(Self { id: file.key_id(), file, vk, params })
    }

    pub fn verifying_key(&self) -> &VerifyingKey<G1Affine> {
        &self.vk
    }

    /// Verifier-only parameters (g[0], g2, s_g2) at the key's k.
    pub fn verifier_params(&self) -> &ParamsKZG<Bn256> {
        &self.params
    }
}

/// Verifies `proof` against one of the `pinned` keys.
pub fn verify(pinned: &[PinnedKey], proof: &ProofFile) -> Result<(), Rejection> {
    if proof.kind != PROOF_KIND || proof.version != FORMAT_VERSION || proof.circuit != CIRCUIT_ID {
        return Err(Rejection::Format {
            kind: proof.kind.clone(),
            version: proof.version,
            circuit: proof.circuit.clone(),
        });
    }
    let key = pinned.iter().find(|k| k.id == proof.key_id).ok_or_else(|| Rejection::UnknownKey {
        found: proof.key_id.clone(),
        pinned: pinned.iter().map(|k| k.id.clone()).collect::<Vec<_>>().join(", "),
    })?;
    if key.file.shape != proof.shape {
        return Err(Rejection::ShapeMismatch);
    }
    if proof.instances.len() != PUBLIC_INSTANCES {
        return Err(Rejection::BadInstances(format!(
            "{} instances, expected {PUBLIC_INSTANCES}",
            proof.instances.len()
        )));
    }
    let instances = proof
        .instances
        .iter()
        .map(|s| {
            fr_from_hex(s).ok_or_else(|| Rejection::BadInstances(format!("{s:?} is not a canonical field element")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if instances != proof.statement.instances() {
        return Err(Rejection::StatementMismatch);
    }
    let read = Rc::new(Cell::new(0));
    let reader = Counted { bytes: &proof.proof, read: read.clone() };
    let checked = match proof.transcript {
        Transcript::Blake2b => {
            check::<_, Challenge255<G1Affine>, Blake2bRead<_, G1Affine, _>>(&key.params, &key.vk, &instances, reader)
        }
        Transcript::Keccak => {
            check::<_, KeccakChallenge, KeccakTranscript<_>>(&key.params, &key.vk, &instances, reader)
        }
        Transcript::Poseidon => check::<_, ChallengeScalar<G1Affine>, PoseidonTranscript<NativeLoader, _>>(
            &key.params,
            &key.vk,
            &instances,
            reader,
        ),
    };
    checked.map_err(|_| Rejection::Invalid(proof.transcript))?;
    // Bytes the verifier never read would give one proof many encodings.
    match proof.proof.len() - read.get() {
        0 => Ok(()),
        extra => Err(Rejection::TrailingBytes(extra)),
    }
}

/// A proof's bytes, counting what the transcript reads of them.
struct Counted<'a> {
    bytes: &'a [u8],
    read: Rc<Cell<usize>>,
}

impl std::io::Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.bytes.read(buf)?;
        self.read.set(self.read.get() + n);
        Ok(n)
    }
}

/// One SHPLONK verification through the transcript `T`, the proof's own
/// pairing included.
pub fn check<R, E, T>(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    instances: &[Fr],
    proof: R,
) -> Result<(), halo2_base::halo2_proofs::plonk::Error>
where
    R: std::io::Read,
    E: EncodedChallenge<G1Affine>,
    T: TranscriptReadBuffer<R, G1Affine, E>,
{
    let mut transcript = T::init(proof);
    verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, E, _, _>(
        params,
        vk,
        SingleStrategy::new(params),
        &[&[instances]],
        &mut transcript,
    )
}
