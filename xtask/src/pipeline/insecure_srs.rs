//! Finding an INSECURE development SRS in an image: any SRS file, or any
//! verifier key, whose s·G2 is one whose secret is public (whatever its k,
//! downsized or not): header-chain's development SRS, and halo2-base's
//! `gen_srs` (ChaCha20, all-zero seed; snark-verifier-sdk's too). Anyone can
//! derive those secrets and forge proofs, so `deploy` refuses such images
//! unless told `--allow-insecure-srs`, and `image`, `run` and `exec` warn.
//! Keys and SRS files whose g2 is not the generator are refused by their
//! loaders (header-chain), so a scaled copy cannot hide a known secret.

use std::path::Path;

use anyhow::{Context, Result};

use crate::pipeline::srs::{raw_size, MAX_K};
use nanos_image::tfs::EntryKind;

/// s·G2 of each development SRS whose secret is public, raw: the last 128
/// bytes of every such SRS file, whatever its k, and of every verifier key
/// made from one. Constants here, so the xtask needs no curve arithmetic;
/// header-chain's `known_insecure_s_g2_raw` test keeps them equal to the
/// setups themselves, and `tests/tests/deploy_exec.rs` checks the first
/// against the real dev SRS and key the images carry.
const INSECURE_S_G2: &[(&str, &str)] = &[
    (
        "header-chain's development SRS",
        "0e9aeb983e5b2e023d13474d1eb09b695111b6f5a59ea8a0c660cb7af2fc4921cf6ae27f512a69f615bac1f788b088765f3b73b33207ae0390ba5e794b6a251384dbcc6ddca0c216a8038534250b9c769917132c90a3b27d3729b59bd7b9d423f57af5b12d6f256d2b66ac60a6b4a050185a31081e74fd1244b69eda4766cb0c",
    ),
    (
        "halo2-base's gen_srs (all-zero seed)",
        "c6028acf442000db193bcafb62458dfa8be0661c78d1be3827b86ead1025f604f77752bd0d0f9473b4ffd38b4dad54330c0655ab98caf32abe9786dca00c9f262d6ff2a651a32a8d583df27a8b76fd73043de566a2113970ddd5739de5cb15167c858b5b5a0ef256d3c5e0fb49c6b0f0b083128a5f5c4a42e34f7397d6664515",
    ),
];
const G2_BYTES: u64 = 128;

fn has_insecure_dev_secret(s_g2_raw: &[u8]) -> bool {
    INSECURE_S_G2.iter().any(|(_, hex)| hex::decode(hex).expect("a hex constant") == s_g2_raw)
}

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
    /// A byte other than whitespace has been seen.
    json_started: bool,
}

impl Scan {
    fn new(length: u64) -> Self {
        Self {
            length,
            head: Vec::new(),
            tail: Vec::new(),
            json: (length <= MAX_KEY_FILE).then(Vec::new),
            json_started: false,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        if self.head.len() < 4 {
            self.head.extend_from_slice(&bytes[..bytes.len().min(4 - self.head.len())]);
        }
        // JSON may start with any whitespace (the parser allows it); a file
        // whose first other byte is not `{` is not a key.
        if !self.json_started {
            if let Some(first) = bytes.iter().find(|b| !b.is_ascii_whitespace()) {
                self.json_started = true;
                if *first != b'{' {
                    self.json = None;
                }
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
    let disk: &dyn nanos_image::Disk = &file;
    let fs = nanos_image::inspect::root_filesystem(disk).map_err(|e| anyhow::anyhow!("{}: {e}", image.display()))?;
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

/// A verifier key (JSON, `verifier_points` = g[0] ‖ g2 ‖ s_g2 as 0x-hex)
/// whose s_g2 is the dev one.
fn is_dev_key(bytes: &[u8]) -> bool {
    let Ok(key) = serde_json::from_slice::<serde_json::Value>(bytes) else { return false };
    let Some(points) = key["verifier_points"].as_str().and_then(|h| hex::decode(h.trim_start_matches("0x")).ok())
    else {
        return false;
    };
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

    /// A raw SRS file of degree k whose s_g2 is `s_g2` (the other points are
    /// filler: the check reads the header, the size and the tail).
    fn srs_file(k: u32, s_g2: &[u8]) -> Vec<u8> {
        let mut raw = k.to_le_bytes().to_vec();
        raw.resize((raw_size(k) - G2_BYTES) as usize, 0x11);
        raw.extend_from_slice(s_g2);
        raw
    }

    #[test]
    fn every_known_secret_is_recognised_in_keys_whatever_the_whitespace() {
        for (name, hex_s_g2) in INSECURE_S_G2 {
            let s_g2 = hex::decode(hex_s_g2).unwrap();
            let points = [vec![0x22; 64 + 128], s_g2.clone()].concat();
            let key = serde_json::json!({ "verifier_points": format!("0x{}", hex::encode(points)) }).to_string();
            for text in [key.clone(), format!("\n \t{key}"), format!("{}{key}\n", " ".repeat(5000))] {
                // Fed in chunks, as images are read: the first chunk may be all whitespace.
                let mut scan = Scan::new(text.len() as u64);
                text.as_bytes().chunks(7).for_each(|c| scan.feed(c));
                assert!(scan.carries_dev_secret(), "{name}, key starting {:?}", &text[..3]);
            }
            assert!(is_dev_srs(&14u32.to_le_bytes(), &s_g2, raw_size(14)), "{name}'s SRS file");
        }
        // Not JSON after the whitespace: not a key.
        let mut scan = Scan::new(10);
        scan.feed(b"  [1, 2]  ");
        assert!(!scan.carries_dev_secret());
    }

    #[test]
    fn the_dev_secret_is_recognised_at_any_k_and_nothing_else_is() {
        let dev_s_g2 = hex::decode(INSECURE_S_G2[0].1).unwrap();
        let raw = srs_file(3, &dev_s_g2);
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
        // Another secret, at another k.
        let mut other_s_g2 = dev_s_g2.clone();
        other_s_g2[5] ^= 1;
        let raw = srs_file(10, &other_s_g2);
        assert!(!is_dev_srs(&raw[..4], &raw[raw.len() - G2_BYTES as usize..], raw.len() as u64));
        assert!(is_dev_srs(&10u32.to_le_bytes(), &dev_s_g2, raw_size(10)));
        // Keys: the points' last 128 bytes decide.
        let key = |s_g2: &[u8]| {
            let points = [vec![0x22; 64 + 128], s_g2.to_vec()].concat();
            serde_json::json!({ "kind": "header-chain-verifier-key", "verifier_points": format!("0x{}", hex::encode(points)) })
                .to_string()
        };
        assert!(is_dev_key(key(&dev_s_g2).as_bytes()));
        assert!(!is_dev_key(key(&other_s_g2).as_bytes()));
        assert!(!is_dev_key(b"{}"));
    }
}
