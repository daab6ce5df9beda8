//! The header-chain circuit's own names and keys: where its verifier keys
//! live (`header-chain-N`, the range key `header-range-N-by-S`) and how
//! the prover makes one for N headers. Only the commands about that
//! circuit use it (`keys`, the EVM commands, the prover benchmarks);
//! images, runs, releases and deployments read what the manifests declare
//! (`generated_files`: a file's `make` recipe).

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::pipeline::generated_files::image_srs_file;
use crate::pipeline::programs;
use crate::spec::project::Project;

/// The header-chain pair, its prover images and the committed witness the
/// benchmarks prove: the names the committed manifests give them.
pub const PAIR: &str = "header-chain";
pub const PROVER_IMAGE: &str = "header-prover";
pub const RANGE_PROVER_IMAGE: &str = "range-prover";
/// The image whose pinned range key the EVM commands use by default.
pub const RANGE_VERIFIER_IMAGE: &str = "range-verifier";
pub const FIXTURE: &str = "tests/fixtures/anvil-chain-8.witness.json";

/// The name a chain key, its EVM record and its sources go by.
pub fn chain_key_name(headers: usize) -> String {
    format!("header-chain-{headers}")
}

/// The key for `headers`-header chains.
pub fn key_path(project: &Project, headers: usize) -> PathBuf {
    project.target_dir.join("keys").join(format!("{}.key.json", chain_key_name(headers)))
}

/// The range key for `headers`-header ranges proven in segments of `segment_size`.
pub fn range_key_path(project: &Project, headers: usize, segment_size: usize) -> PathBuf {
    project.target_dir.join("keys").join(format!("header-range-{headers}-by-{segment_size}.key.json"))
}

/// Writes the key for `headers`-header chains with the prover binary (from
/// the prover image's SRS); returns its path and key id.
pub fn make_key(project: &Project, prover_image: &str, headers: usize) -> Result<(PathBuf, String)> {
    make_any_key(project, prover_image, headers, None)
}

/// The chain key, or with `segment_size` the range key (minutes: the
/// aggregation's and the wrapper's verifying keys, k = 21 and 22).
pub fn make_any_key(
    project: &Project,
    prover_image: &str,
    headers: usize,
    segment_size: Option<usize>,
) -> Result<(PathBuf, String)> {
    let (source, srs) = image_srs_file(project, prover_image)?;
    let path = match segment_size {
        None => key_path(project, headers),
        Some(size) => range_key_path(project, headers, size),
    };
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    let prover = programs::program(project, programs::PROVER_BIN)?;
    let mut args =
        crate::os_args!["keygen", "--headers", headers.to_string(), "--srs", &source, "--out", &path].to_vec();
    let what = match segment_size {
        None => format!("making the verifier key for {headers} headers"),
        Some(size) => {
            args.extend(crate::os_args!["--segment-size", size.to_string()]);
            format!("making the range key for {headers} headers in segments of {size} (minutes)")
        }
    };
    let spinner = crate::support::progress::units(&what);
    let printed = programs::run(&prover, &args);
    spinner.finish_and_clear();
    let printed = printed.with_context(|| format!("image {prover_image}'s SRS ({}) cannot make it", srs))?;
    // "verifier key <id> for N headers (k = K) written to PATH"
    let id = printed
        .split_whitespace()
        .skip_while(|w| *w != "key")
        .nth(1)
        .with_context(|| format!("the prover printed no key id: {printed:?}"))?;
    Ok((path, id.to_string()))
}
