//! SRS files in the raw `kzg_bn254_{k}.srs` layout (`ParamsKZG::write_custom`
//! with `SerdeFormat::RawBytes`): `u32 k` LE, 2^k G1 powers of tau, 2^k G1
//! Lagrange points, g2, s_g2. Sizes are checked before any point is parsed.

use std::io::{BufReader, Read};
use std::path::Path;

use halo2_base::halo2_proofs::halo2curves::{
    bn256::{pairing, Fq, Fq2},
    ff,
    serde::SerdeObject,
    CurveAffine,
};
use halo2_base::halo2_proofs::{
    halo2curves::bn256::{Bn256, G1Affine, G2Affine},
    poly::{commitment::ParamsProver, kzg::commitment::ParamsKZG},
    SerdeFormat,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::fsutil::write_atomic;

pub const G1_BYTES: u64 = 64;
pub const G2_BYTES: u64 = 128;
/// The largest k a BN254 FFT domain supports.
pub const MAX_K: u32 = 28;

/// Seed of the development SRS. Anyone can recompute its secret from this:
/// it proves nothing to anybody else. Never deploy it.
pub const DEV_SEED: [u8; 32] = *b"header-chain INSECURE dev SRS!!!";

/// File name for the insecure development SRS: unmistakable on purpose.
pub fn dev_srs_file_name(k: u32) -> String {
    format!("kzg_bn254_{k}.INSECURE-DEV.srs")
}

/// Expected size in bytes of a raw SRS file of degree k.
pub fn raw_size(k: u32) -> u64 {
    4 + 2 * (1u64 << k) * G1_BYTES + 2 * G2_BYTES
}

#[derive(Debug, thiserror::Error)]
pub enum SrsError {
    #[error("cannot read SRS file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("SRS file {path} is {len} bytes, too short for a header; is it an SRS file?")]
    NoHeader { path: String, len: u64 },
    #[error("SRS file {path} says k = {k}, larger than BN254 supports ({MAX_K}); the file is corrupted or not a raw kzg_bn254 SRS")]
    BadK { path: String, k: u32 },
    #[error("SRS file {path} is {len} bytes but its header says k = {k}, which needs {expected} bytes: the file is truncated or corrupted")]
    Size { path: String, len: u64, k: u32, expected: u64 },
    #[error("SRS file {path} holds an invalid curve point ({source}): the file is corrupted")]
    Point { path: String, source: PointError },
    #[error("SRS file {path} has k = {have}, but the circuit needs k = {need}; use a file of k >= {need} (e.g. `cargo xtask srs generate --k {need}` for development)")]
    TooSmall { path: String, have: u32, need: u32 },
    #[error("SRS file {path} fails the pairing check e(g[1], g2) = e(g[0], s_g2): its G1 and G2 powers do not share one secret; the file is corrupted or mixed from two setups")]
    Pairing { path: String },
    #[error("SRS file {path} is not {from} downsized (its points differ): remove it, or make it with `cargo xtask srs downsize`")]
    NotDownsized { path: String, from: String },
    #[error("SRS file {path} has sha256 {found}, but {expected} is pinned; it is not the file the pin names")]
    Pin { path: String, found: String, expected: String },
}

/// Why the points of an SRS file are not usable.
#[derive(Debug, thiserror::Error)]
pub enum PointError {
    #[error("cannot read the points: {0}")]
    Read(#[from] std::io::Error),
    #[error("{what} at byte {offset} is not a point of {group}")]
    NotOnCurve { what: String, offset: u64, group: &'static str },
    #[error("{what} at byte {offset} is not the {group} generator every KZG setup starts from (a scaled setup disguises its secret)")]
    NotTheGenerator { what: &'static str, offset: u64, group: &'static str },
}

/// Reads and checks the header and size of a raw SRS file; returns k.
pub fn read_k(path: &Path) -> Result<u32, SrsError> {
    let shown = path.display().to_string();
    let io = |source| SrsError::Io { path: shown.clone(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut header = [0u8; 4];
    if len < 4 {
        return Err(SrsError::NoHeader { path: shown, len });
    }
    file.read_exact(&mut header).map_err(io)?;
    let k = u32::from_le_bytes(header);
    if k > MAX_K {
        return Err(SrsError::BadK { path: shown, k });
    }
    let expected = raw_size(k);
    if len != expected {
        return Err(SrsError::Size { path: shown, len, k, expected });
    }
    Ok(k)
}

/// Reads a raw SRS file, checking every point is on the curve first (in one
/// streaming pass), then loading it unchecked.
pub fn read(path: &Path) -> Result<ParamsKZG<Bn256>, SrsError> {
    let k = read_k(path)?;
    let shown = path.display().to_string();
    let io = |source| SrsError::Io { path: shown.clone(), source };
    let open = || std::fs::File::open(path).map(|f| BufReader::with_capacity(1 << 20, f));
    check_points(&mut open().map_err(io)?, k).map_err(|source| SrsError::Point { path: shown.clone(), source })?;
    ParamsKZG::<Bn256>::read_custom(&mut open().map_err(io)?, SerdeFormat::RawBytesUnchecked).map_err(io)
}

/// Every coordinate below the modulus and every point on its curve (or the
/// identity): y^2 = x^3 + b. Errors name the point and its byte offset.
pub fn check_points(reader: &mut impl Read, k: u32) -> Result<(), PointError> {
    let mut header = [0u8; 4];
    reader.read_exact(&mut header)?;
    let n = 1u64 << k;
    let mut g1 = [0u8; G1_BYTES as usize];
    for i in 0..2 * n {
        reader.read_exact(&mut g1)?;
        let offset = 4 + i * G1_BYTES;
        let what = if i < n { format!("g[{i}]") } else { format!("g_lagrange[{}]", i - n) };
        let bad = || PointError::NotOnCurve { what: what.clone(), offset, group: "G1" };
        let x = Fq::from_raw_bytes(&g1[..32]).ok_or_else(bad)?;
        let y = Fq::from_raw_bytes(&g1[32..]).ok_or_else(bad)?;
        if !on_curve(x, y, G1Affine::b()) {
            return Err(bad());
        }
        if i == 0 && g1[..] != G1Affine::generator().to_raw_bytes()[..] {
            return Err(PointError::NotTheGenerator { what: "g[0]", offset, group: "G1" });
        }
    }
    let mut g2 = [0u8; G2_BYTES as usize];
    for (j, name) in ["g2", "s_g2"].iter().enumerate() {
        reader.read_exact(&mut g2)?;
        let offset = 4 + 2 * n * G1_BYTES + j as u64 * G2_BYTES;
        let bad = || PointError::NotOnCurve { what: name.to_string(), offset, group: "G2" };
        let x = Fq2::from_raw_bytes(&g2[..64]).ok_or_else(bad)?;
        let y = Fq2::from_raw_bytes(&g2[64..]).ok_or_else(bad)?;
        if !on_curve(x, y, G2Affine::b()) {
            return Err(bad());
        }
        if j == 0 && g2[..] != G2Affine::generator().to_raw_bytes()[..] {
            return Err(PointError::NotTheGenerator { what: "g2", offset, group: "G2" });
        }
    }
    Ok(())
}

fn on_curve<F: ff::Field>(x: F, y: F, b: F) -> bool {
    let identity = bool::from(x.is_zero()) && bool::from(y.is_zero());
    identity || y.square() == x.square() * x + b
}

/// Reads an SRS for a circuit of degree `k`. A larger file is downsized:
/// its first 2^k points are read, and the Lagrange points come from the
/// file's sibling of degree k when there is one (the same name with `_{k}.`
/// for its degree, e.g. `kzg_bn254_17.srs` beside `kzg_bn254_22.srs`), else
/// they are recomputed, which takes a minute at k = 17 and half an hour at
/// k = 21. A sibling must be that file downsized, point for point.
pub fn read_for_k(path: &Path, k: u32) -> Result<ParamsKZG<Bn256>, SrsError> {
    let have = read_k(path)?;
    if have < k {
        return Err(SrsError::TooSmall { path: path.display().to_string(), have, need: k });
    }
    if have == k {
        return read(path);
    }
    match sibling(path, have, k).filter(|sibling| sibling.exists()) {
        Some(sibling) => read_sibling(path, &sibling, k),
        None => downsize(path, k, |_| {}),
    }
}

/// The file of degree `k` beside `path` (degree `have`), by name.
pub fn sibling(path: &Path, have: u32, k: u32) -> Option<std::path::PathBuf> {
    let name = path.file_name()?.to_str()?;
    let tag = format!("_{have}.");
    let at = name.rfind(&tag)?;
    Some(path.with_file_name(format!("{}_{k}.{}", &name[..at], &name[at + tag.len()..])))
}

/// `sibling`, checked to be `path` downsized to `k`: the same first 2^k
/// points and the same G2 points (so its Lagrange points are the only thing
/// taken on trust, and a wrong one only makes proofs fail to verify).
fn read_sibling(path: &Path, sibling: &Path, k: u32) -> Result<ParamsKZG<Bn256>, SrsError> {
    use halo2_base::halo2_proofs::poly::commitment::Params;
    use std::io::{Seek, SeekFrom};
    let small = read(sibling)?;
    let io = |source| SrsError::Io { path: path.display().to_string(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let tail = read_g2_tail(&mut file, read_k(path)?).map_err(io)?;
    let mut powers = vec![0u8; (G1_BYTES << k) as usize];
    file.seek(SeekFrom::Start(4)).and_then(|_| file.read_exact(&mut powers)).map_err(io)?;
    let mut raw = Vec::with_capacity(raw_size(k) as usize);
    small.write_custom(&mut raw, SerdeFormat::RawBytes).expect("writing to memory");
    let same = small.k() == k && raw[4..4 + powers.len()] == powers[..] && raw[raw.len() - tail.len()..] == tail[..];
    if !same {
        return Err(SrsError::NotDownsized { path: sibling.display().to_string(), from: path.display().to_string() });
    }
    Ok(small)
}

/// The INSECURE development SRS of degree `k`, read from `dir` if a
/// previous call wrote it there, else generated and written (k = 21 takes
/// minutes to generate and milliseconds to read).
pub fn cached_insecure_dev(dir: &Path, k: u32) -> Result<ParamsKZG<Bn256>, SrsError> {
    let path = dir.join(dev_srs_file_name(k));
    if path.exists() {
        return read(&path);
    }
    let params = generate_insecure_dev(k);
    std::fs::create_dir_all(dir)
        .and_then(|()| write(&params, &path))
        .map_err(|e| SrsError::Io { path: path.display().to_string(), source: e })?;
    Ok(params)
}

pub fn write(params: &ParamsKZG<Bn256>, path: &Path) -> std::io::Result<()> {
    write_atomic(path, |mut w| params.write_custom(&mut w, SerdeFormat::RawBytes))
}

/// The explicitly insecure, deterministic development SRS:
/// `ParamsKZG::setup(k, ChaCha20Rng::from_seed(DEV_SEED))`, computed faster.
pub fn generate_insecure_dev(k: u32) -> ParamsKZG<Bn256> {
    crate::dev_srs::setup(k, DEV_SEED)
}

/// s·G2 of the development SRS, raw bytes. Every SRS drawn from the public
/// dev seed shares its secret s whatever its k (and so does any file
/// downsized from one): a file, or a verifier key, whose s_g2 equals this
/// can be forged against by anyone. The xtask recognises it by these bytes
/// (`INSECURE_S_G2` in xtask/src/pipeline/insecure_srs.rs, with the others of
/// [`known_insecure_s_g2_raw`]).
pub fn insecure_dev_s_g2_raw() -> Vec<u8> {
    ParamsKZG::<Bn256>::setup(1, ChaCha20Rng::from_seed(DEV_SEED)).s_g2().to_raw_bytes()
}

/// Seed of halo2-base's (and snark-verifier-sdk's) `gen_srs`: ChaCha20 with
/// an all-zero seed, the most common development SRS in the halo2-lib world.
const HALO2_BASE_GEN_SRS_SEED: [u8; 32] = [0; 32];

/// Every development SRS whose secret is public that this workspace or
/// halo2-base makes, by name, with its s·G2 (raw bytes; the same at every
/// k, since `ParamsKZG::setup` draws s first). The xtask recognises each
/// (`INSECURE_S_G2` in xtask/src/pipeline/insecure_srs.rs; the test below keeps them equal).
pub fn known_insecure_s_g2_raw() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("header-chain's development SRS", insecure_dev_s_g2_raw()),
        (
            "halo2-base's gen_srs (ChaCha20, all-zero seed)",
            ParamsKZG::<Bn256>::setup(1, ChaCha20Rng::from_seed(HALO2_BASE_GEN_SRS_SEED)).s_g2().to_raw_bytes(),
        ),
    ]
}

impl VerifierPoints {
    /// The known development setup these points come from, if any (by s·G2,
    /// [`known_insecure_s_g2_raw`]): anyone can forge proofs a key on it accepts.
    pub fn known_insecure_setup(&self) -> Option<&'static str> {
        let s_g2 = self.s_g2.to_raw_bytes();
        known_insecure_s_g2_raw().into_iter().find(|(_, raw)| *raw == s_g2).map(|(name, _)| name)
    }
}

#[cfg(test)]
mod scaled_setup_tests {
    use super::*;
    use halo2_base::halo2_proofs::halo2curves::{bn256::Fr, group::Curve};

    /// g2 and s_g2 both scaled by c: the same secret s in disguise (the
    /// pairing check still holds), which hid the dev SRS from its detector.
    #[test]
    fn a_scaled_g2_is_refused_in_keys_and_srs_files() {
        let params = generate_insecure_dev(2);
        let points = VerifierPoints::of(&params);
        assert!(VerifierPoints::from_bytes(&points.to_bytes()).is_some());
        let c = Fr::from(7);
        let scaled =
            VerifierPoints { g0: points.g0, g2: (points.g2 * c).to_affine(), s_g2: (points.s_g2 * c).to_affine() };
        assert!(VerifierPoints::from_bytes(&scaled.to_bytes()).is_none(), "a key with a scaled g2 loaded");
        assert_eq!(points.known_insecure_setup(), Some("header-chain's development SRS"));
        let other = VerifierPoints::of(&ParamsKZG::<Bn256>::setup(2, ChaCha20Rng::from_seed([9; 32])));
        assert_eq!(other.known_insecure_setup(), None, "a setup of another seed is not one we know");

        let mut raw = Vec::new();
        params.write_custom(&mut raw, SerdeFormat::RawBytes).unwrap();
        check_points(&mut raw.as_slice(), 2).expect("the dev SRS itself is well formed");
        let tail = raw.len() - 2 * G2_BYTES as usize;
        raw[tail..tail + G2_BYTES as usize].copy_from_slice(&scaled.g2.to_raw_bytes());
        raw[tail + G2_BYTES as usize..].copy_from_slice(&scaled.s_g2.to_raw_bytes());
        let e = check_points(&mut raw.as_slice(), 2).unwrap_err();
        assert!(matches!(e, PointError::NotTheGenerator { what: "g2", .. }), "{e}");
        assert!(parse_g2_pair(&raw[tail..], tail as u64).is_err(), "the downsizer took a scaled g2");
    }
}

#[cfg(test)]
mod dev_secret_tests {
    #[test]
    fn the_xtask_knows_every_dev_secret() {
        let xtask = include_str!("../../xtask/src/pipeline/insecure_srs.rs");
        for (name, raw) in super::known_insecure_s_g2_raw() {
            let hex = hex::encode(raw);
            assert!(
                xtask.contains(&format!("\"{hex}\"")),
                "add {name}'s s_g2 {hex} to INSECURE_S_G2 in xtask/src/pipeline/insecure_srs.rs"
            );
        }
    }
}

/// The three points a KZG verifier uses: g[0], g2, s_g2 (raw bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierPoints {
    pub g0: G1Affine,
    pub g2: G2Affine,
    pub s_g2: G2Affine,
}

impl VerifierPoints {
    pub fn of(params: &ParamsKZG<Bn256>) -> Self {
        Self { g0: params.get_g()[0], g2: params.g2(), s_g2: params.s_g2() }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.g0.to_raw_bytes();
        out.extend(self.g2.to_raw_bytes());
        out.extend(self.s_g2.to_raw_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != (G1_BYTES + 2 * G2_BYTES) as usize {
            return None;
        }
        let (g0, rest) = bytes.split_at(G1_BYTES as usize);
        let (g2, s_g2) = rest.split_at(G2_BYTES as usize);
        let points = Self {
            g0: G1Affine::from_raw_bytes(g0)?,
            g2: G2Affine::from_raw_bytes(g2)?,
            s_g2: G2Affine::from_raw_bytes(s_g2)?,
        };
        // Every KZG setup uses the generators: a g2 scaled by c (and s_g2
        // with it) is the same secret in disguise, and hides a known one.
        (points.g0 == G1Affine::generator() && points.g2 == G2Affine::generator()).then_some(points)
    }

    /// Verifier-only parameters for a circuit of degree `k`: the verifier
    /// never touches more than these points.
    pub fn params(&self, k: u32) -> ParamsKZG<Bn256> {
        // A k = 0 raw file holds exactly g[0], one Lagrange point (also g[0]), g2, s_g2.
        let mut tiny = 0u32.to_le_bytes().to_vec();
        tiny.extend(self.g0.to_raw_bytes());
        tiny.extend(self.g0.to_raw_bytes());
        tiny.extend(self.g2.to_raw_bytes());
        tiny.extend(self.s_g2.to_raw_bytes());
        let base = ParamsKZG::<Bn256>::read_custom(&mut tiny.as_slice(), SerdeFormat::RawBytesUnchecked)
            .expect("in-memory k = 0 params");
        base.from_parts(k, vec![self.g0], Some(vec![]), self.g2, self.s_g2)
    }
}

/// Reads the G2 points (g2, s_g2) at the end of a raw SRS file of degree k.
fn read_g2_tail(file: &mut std::fs::File, k: u32) -> std::io::Result<[u8; 2 * G2_BYTES as usize]> {
    use std::io::{Seek, SeekFrom};
    let mut tail = [0u8; 2 * G2_BYTES as usize];
    file.seek(SeekFrom::Start(raw_size(k) - 2 * G2_BYTES))?;
    file.read_exact(&mut tail)?;
    Ok(tail)
}

/// Downsizes a raw SRS of degree `from_k` to `k` reading only what is
/// needed: the first 2^k powers of tau (from the start) and the two G2
/// points (from the end). The Lagrange points are recomputed for the
/// smaller domain, exactly as `ParamsKZG::downsize` does, so the output is
/// byte-identical to halo2's own. Memory stays near the output's size.
/// `progress` is told how many source bytes have been read.
pub fn downsize(source: &Path, k: u32, mut progress: impl FnMut(u64)) -> Result<ParamsKZG<Bn256>, SrsError> {
    let from_k = read_k(source)?;
    let shown = source.display().to_string();
    if k > from_k {
        return Err(SrsError::TooSmall { path: shown, have: from_k, need: k });
    }
    let io = |source| SrsError::Io { path: shown.clone(), source };
    let point_error = |source: PointError| SrsError::Point { path: shown.clone(), source };
    let mut file = std::fs::File::open(source).map_err(io)?;
    let tail = read_g2_tail(&mut file, from_k).map_err(io)?;
    let (g2, s_g2) = parse_g2_pair(&tail, raw_size(from_k) - 2 * G2_BYTES).map_err(point_error)?;
    let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(source).map_err(io)?);
    let mut header = [0u8; 4];
    reader.read_exact(&mut header).map_err(io)?;
    let n = 1usize << k;
    let mut g = Vec::with_capacity(n);
    let mut raw = [0u8; G1_BYTES as usize];
    for i in 0..n {
        reader.read_exact(&mut raw).map_err(io)?;
        let point = parse_g1(&raw).ok_or_else(|| {
            point_error(PointError::NotOnCurve {
                what: format!("g[{i}]"),
                offset: 4 + i as u64 * G1_BYTES,
                group: "G1",
            })
        })?;
        g.push(point);
        if i % 4096 == 4095 {
            progress(4 + (i as u64 + 1) * G1_BYTES);
        }
    }
    progress(4 + n as u64 * G1_BYTES);
    if g[0] != G1Affine::generator() {
        return Err(point_error(PointError::NotTheGenerator { what: "g[0]", offset: 4, group: "G1" }));
    }
    let template = VerifierPoints { g0: g[0], g2, s_g2 }.params(0);
    Ok(template.from_parts(k, g, None, g2, s_g2))
}

fn parse_g1(raw: &[u8]) -> Option<G1Affine> {
    let x = Fq::from_raw_bytes(&raw[..32])?;
    let y = Fq::from_raw_bytes(&raw[32..])?;
    on_curve(x, y, G1Affine::b()).then(|| G1Affine::from_raw_bytes_unchecked(raw))
}

/// g2 and s_g2 from the file's last 256 bytes, which start at byte `offset`.
fn parse_g2_pair(tail: &[u8], offset: u64) -> Result<(G2Affine, G2Affine), PointError> {
    let one = |raw: &[u8], name: &str, offset: u64| -> Result<G2Affine, PointError> {
        let bad = || PointError::NotOnCurve { what: name.to_string(), offset, group: "G2" };
        let x = Fq2::from_raw_bytes(&raw[..64]).ok_or_else(bad)?;
        let y = Fq2::from_raw_bytes(&raw[64..]).ok_or_else(bad)?;
        on_curve(x, y, G2Affine::b()).then(|| G2Affine::from_raw_bytes_unchecked(raw)).ok_or_else(bad)
    };
    let g2 = one(&tail[..G2_BYTES as usize], "g2", offset)?;
    if g2 != G2Affine::generator() {
        return Err(PointError::NotTheGenerator { what: "g2", offset, group: "G2" });
    }
    Ok((g2, one(&tail[G2_BYTES as usize..], "s_g2", offset + G2_BYTES)?))
}

/// What `verify_file` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SrsReport {
    pub k: u32,
    pub bytes: u64,
    pub sha256: String,
}

/// Checks a raw SRS file: size and header consistent with k, every point on
/// its curve, the pairing check e(g[1], g2) = e(g[0], s_g2) (the G1 and G2
/// powers share one secret), and, when given, the sha256 pin.
pub fn verify_file(path: &Path, pinned_sha256: Option<&str>) -> Result<SrsReport, SrsError> {
    use sha2::{Digest, Sha256};
    let k = read_k(path)?;
    let shown = path.display().to_string();
    let io = |source| SrsError::Io { path: shown.clone(), source };
    // One pass hashes the file while checking its points.
    struct Tee<R, H> {
        inner: R,
        hasher: H,
    }
    impl<R: Read, H: Digest> Read for Tee<R, H> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.hasher.update(&buf[..n]);
            Ok(n)
        }
    }
    let mut tee =
        Tee { inner: BufReader::with_capacity(1 << 20, std::fs::File::open(path).map_err(io)?), hasher: Sha256::new() };
    check_points(&mut tee, k).map_err(|source| SrsError::Point { path: shown.clone(), source })?;
    let sha256 = hex::encode(tee.hasher.finalize());
    if let Some(expected) = pinned_sha256 {
        if expected != sha256 {
            return Err(SrsError::Pin { path: shown, found: sha256, expected: expected.to_string() });
        }
    }
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut first = [0u8; 2 * G1_BYTES as usize];
    file.read_exact(&mut [0u8; 4]).map_err(io)?;
    file.read_exact(&mut first[..G1_BYTES as usize * if k == 0 { 1 } else { 2 }]).map_err(io)?;
    let tail = read_g2_tail(&mut file, k).map_err(io)?;
    let (g2, s_g2) = parse_g2_pair(&tail, raw_size(k) - 2 * G2_BYTES)
        .map_err(|source| SrsError::Point { path: shown.clone(), source })?;
    if k > 0 {
        let g0 = G1Affine::from_raw_bytes_unchecked(&first[..64]);
        let g1 = G1Affine::from_raw_bytes_unchecked(&first[64..]);
        if pairing(&g1, &g2) != pairing(&g0, &s_g2) {
            return Err(SrsError::Pairing { path: shown });
        }
    }
    Ok(SrsReport { k, bytes: raw_size(k), sha256 })
}
