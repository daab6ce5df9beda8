//! Streaming file digests.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// sha256 and BLAKE3 of a file in one streaming pass: each chunk is read
/// once and hashed by both digests in parallel (one on a scoped thread).
/// `progress` is told the bytes hashed so far.
pub fn sha256_and_blake3(path: &Path, mut progress: impl FnMut(u64)) -> std::io::Result<(String, String)> {
    const CHUNK: usize = 4 << 20;
    let mut file = std::fs::File::open(path)?;
    let mut sha = Sha256::new();
    let mut blake = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    loop {
        // Fill the chunk (read may return less than asked).
        let mut filled = 0;
        while filled < CHUNK {
            let n = file.read(&mut buf[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        let chunk = &buf[..filled];
        std::thread::scope(|s| {
            s.spawn(|| {
                blake.update(chunk);
            });
            sha.update(chunk);
        });
        done += filled as u64;
        progress(done);
        if filled < CHUNK {
            break;
        }
    }
    Ok((hex::encode(sha.finalize()), blake.finalize().to_hex().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_digests_match_the_one_pass_reference() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        // Larger than one chunk, not a multiple of it.
        let data: Vec<u8> = (0..(9 << 20) + 123).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let mut last = 0;
        let (sha, b3) = sha256_and_blake3(&path, |n| last = n).unwrap();
        assert_eq!(sha, hex::encode(Sha256::digest(&data)));
        assert_eq!(b3, blake3::hash(&data).to_hex().to_string());
        assert_eq!(sha, sha256_file(&path).unwrap());
        assert_eq!(last, data.len() as u64);
        std::fs::write(&path, b"").unwrap();
        let (sha, b3) = sha256_and_blake3(&path, |_| {}).unwrap();
        assert_eq!(sha, hex::encode(Sha256::digest(b"")));
        assert_eq!(b3, blake3::hash(b"").to_hex().to_string());
    }
}
