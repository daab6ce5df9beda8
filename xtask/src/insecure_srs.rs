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

/// The paths in `image` that carry the development SRS's secret.
pub fn insecure_files_in_image(image: &Path) -> Result<Vec<String>> {
    let file = std::fs::File::open(image).with_context(|| format!("cannot open the image {}", image.display()))?;
    let disk: &dyn crate::nanos::Disk = &file;
    let fs = crate::nanos::inspect::root_filesystem(disk).map_err(|e| anyhow::anyhow!("{}: {e}", image.display()))?;
    let mut found = Vec::new();
    for (path, kind, node) in fs.entries() {
        let EntryKind::File { length } = kind else { continue };
        let mut head = Vec::new();
        let mut tail = Vec::new();
        let mut whole = Vec::new();
        fs.read_file(disk, &path, node, &mut |bytes| {
            if head.len() < 4 {
                head.extend_from_slice(&bytes[..bytes.len().min(4 - head.len())]);
            }
            tail.extend_from_slice(bytes);
            let keep = tail.len().saturating_sub(G2_BYTES as usize);
            tail.drain(..keep);
            if length <= MAX_KEY_FILE {
                whole.extend_from_slice(bytes);
            }
        })
        .map_err(|e| anyhow::anyhow!("{}: {e}", image.display()))?;
        if is_dev_srs(&head, &tail, length) || is_dev_key(&whole) {
            found.push(path);
        }
    }
    Ok(found)
}

/// The host files (an image's sources, for `run`) that carry the dev secret.
pub fn insecure_host_files(files: &[std::path::PathBuf]) -> Vec<String> {
    files
        .iter()
        .filter(|path| {
            let Ok(length) = std::fs::metadata(path).map(|m| m.len()) else { return false };
            let read_tail = || -> std::io::Result<(Vec<u8>, Vec<u8>)> {
                use std::io::{Read, Seek, SeekFrom};
                let mut f = std::fs::File::open(path)?;
                let mut head = vec![0u8; 4.min(length as usize)];
                f.read_exact(&mut head)?;
                let g2 = G2_BYTES.min(length);
                f.seek(SeekFrom::Start(length - g2))?;
                let mut tail = vec![0u8; g2 as usize];
                f.read_exact(&mut tail)?;
                Ok((head, tail))
            };
            let srs = read_tail().is_ok_and(|(head, tail)| is_dev_srs(&head, &tail, length));
            srs || (length <= MAX_KEY_FILE && std::fs::read(path).is_ok_and(|b| is_dev_key(&b)))
        })
        .map(|p| p.display().to_string())
        .collect()
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
