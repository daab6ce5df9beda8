//! Finding the INSECURE development SRS in an image: any SRS file, or any
//! verifier key, whose s·G2 is the dev seed's (whatever its k, downsized or
//! not). Anyone can derive that secret and forge proofs, so `deploy`
//! refuses such images unless told `--allow-insecure-srs`, and `image` and
//! `run` warn.

use std::path::Path;

use anyhow::{Context, Result};
use header_chain::proof::VerifierKeyFile;
use header_chain::srs::{has_insecure_dev_secret, raw_size, G2_BYTES, MAX_K};

use crate::nanos::tfs::EntryKind;

/// Key files are small JSON documents; larger files are not read whole.
const MAX_KEY_FILE: u64 = 64 << 20;

/// One file's bytes streamed through: what the checks need, without
/// holding more than a key file's worth.
struct Scan {
    length: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
    /// The whole file, kept only while it can be a key (small, JSON).
    json: Option<Vec<u8>>,
}

impl Scan {
    fn new(length: u64) -> Self {
        Self { length, head: Vec::new(), tail: Vec::new(), json: (length <= MAX_KEY_FILE).then(Vec::new) }
    }

    fn feed(&mut self, bytes: &[u8]) {
        if self.head.len() < 4 {
            self.head.extend_from_slice(&bytes[..bytes.len().min(4 - self.head.len())]);
            if self.head.first().is_some_and(|b| *b != b'{') {
                self.json = None;
            }
        }
        let g2 = G2_BYTES as usize;
        if bytes.len() >= g2 {
            self.tail = bytes[bytes.len() - g2..].to_vec();
        } else {
            self.tail.extend_from_slice(bytes);
            let extra = self.tail.len().saturating_sub(g2);
            self.tail.drain(..extra);
        }
        if let Some(json) = &mut self.json {
            json.extend_from_slice(bytes);
        }
    }

    fn carries_dev_secret(&self) -> bool {
        is_dev_srs(&self.head, &self.tail, self.length) || self.json.as_deref().is_some_and(is_dev_key)
    }
}

/// The paths in `image` that carry the development SRS's secret.
pub fn insecure_files_in_image(image: &Path) -> Result<Vec<String>> {
    let file = std::fs::File::open(image).with_context(|| format!("cannot open the image {}", image.display()))?;
    let disk: &dyn crate::nanos::Disk = &file;
    let fs = crate::nanos::inspect::root_filesystem(disk).map_err(|e| anyhow::anyhow!("{}: {e}", image.display()))?;
    let mut found = Vec::new();
    for (path, kind, node) in fs.entries() {
        let EntryKind::File { length } = kind else { continue };
        let mut scan = Scan::new(length);
        fs.read_file(disk, &path, node, &mut |bytes| scan.feed(bytes))
            .map_err(|e| anyhow::anyhow!("{}: {e}", image.display()))?;
        if scan.carries_dev_secret() {
            found.push(path);
        }
    }
    Ok(found)
}

/// The host files (an image's sources, for `run`) that carry the dev secret.
pub fn insecure_host_files(files: &[std::path::PathBuf]) -> Vec<String> {
    let carries = |path: &Path| -> std::io::Result<bool> {
        use std::io::Read;
        let mut file = std::fs::File::open(path)?;
        let mut scan = Scan::new(file.metadata()?.len());
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                return Ok(scan.carries_dev_secret());
            }
            scan.feed(&buf[..n]);
        }
    };
    files.iter().filter(|p| carries(p).unwrap_or(false)).map(|p| p.display().to_string()).collect()
}

/// A raw `kzg_bn254_{k}.srs` (size matches its header) ending in the dev s·G2.
fn is_dev_srs(head: &[u8], tail: &[u8], length: u64) -> bool {
    let Ok(k) = <[u8; 4]>::try_from(head).map(u32::from_le_bytes) else { return false };
    k <= MAX_K && length == raw_size(k) && has_insecure_dev_secret(tail)
}

/// A verifier key whose verifier points carry the dev s·G2.
fn is_dev_key(bytes: &[u8]) -> bool {
    let Ok(key) = serde_json::from_slice::<VerifierKeyFile>(bytes) else { return false };
    let points: &[u8] = &key.verifier_points;
    points.len() >= G2_BYTES as usize && has_insecure_dev_secret(&points[points.len() - G2_BYTES as usize..])
}

/// The one-line warning for `image` and `run`.
pub fn warning(image: &str, files: &[String]) -> String {
    format!(
        "warning: image {image} carries the INSECURE development SRS ({}): anyone can forge proofs against it; use a ceremony SRS before deploying (README, \"Security notes\")",
        files.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_secret_is_recognised_at_any_k_and_nothing_else_is() {
        let dev = header_chain::srs::generate_insecure_dev(3);
        let mut raw = Vec::new();
        dev.write_custom(&mut raw, header_chain::halo2_proofs::SerdeFormat::RawBytes).unwrap();
        let tail = &raw[raw.len() - G2_BYTES as usize..];
        assert!(is_dev_srs(&raw[..4], tail, raw.len() as u64));
        // Streamed in chunks smaller and larger than the 128-byte tail, from memory and from disk.
        for chunk in [7, 100, 4096] {
            let mut scan = Scan::new(raw.len() as u64);
            raw.chunks(chunk).for_each(|c| scan.feed(c));
            assert!(scan.carries_dev_secret(), "chunks of {chunk}");
        }
        let dir = tempfile::tempdir().unwrap();
        let (dev_file, other_file) = (dir.path().join("dev.srs"), dir.path().join("other.bin"));
        std::fs::write(&dev_file, &raw).unwrap();
        std::fs::write(&other_file, &raw[..raw.len() - 1]).unwrap();
        assert_eq!(insecure_host_files(&[dev_file.clone(), other_file]), vec![dev_file.display().to_string()]);
        // Wrong size for its header: not an SRS file.
        assert!(!is_dev_srs(&raw[..4], tail, raw.len() as u64 + 1));
        // Another secret.
        use rand_core::SeedableRng;
        let other = header_chain::halo2_proofs::poly::kzg::commitment::ParamsKZG::<
            header_chain::halo2_proofs::halo2curves::bn256::Bn256,
        >::setup(3, rand_chacha::ChaCha20Rng::from_seed([9; 32]));
        let mut raw = Vec::new();
        other.write_custom(&mut raw, header_chain::halo2_proofs::SerdeFormat::RawBytes).unwrap();
        assert!(!is_dev_srs(&raw[..4], &raw[raw.len() - G2_BYTES as usize..], raw.len() as u64));
        assert!(!is_dev_key(b"{}"));
    }
}
