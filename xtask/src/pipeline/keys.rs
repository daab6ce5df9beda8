//! The verifier keys the verifier image pins (the library behind
//! `cmd/keys.rs`, used by image, run and release too). A key is
//! made from the prover image's SRS and the circuit for N-header chains, so
//! it matches exactly the proofs that prover makes.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::pipeline::programs;
use crate::spec::project::Project;

pub fn key_path(project: &Project, headers: usize) -> PathBuf {
    project.target_dir.join("keys").join(format!("header-chain-{headers}.key.json"))
}

/// The range key for `headers`-header ranges proven in segments of `segment_size`.
pub fn range_key_path(project: &Project, headers: usize, segment_size: usize) -> PathBuf {
    project.target_dir.join("keys").join(format!("header-range-{headers}-by-{segment_size}.key.json"))
}

/// What a key file's name says it is: `header-chain-N.key.json` (N-header
/// chains) or `header-range-N-by-S.key.json` (N-header ranges in segments of S).
fn key_for_name(name: &str) -> Option<(usize, Option<usize>)> {
    if let Some(n) = name.strip_prefix("header-chain-").and_then(|r| r.strip_suffix(".key.json")) {
        return Some((n.parse().ok()?, None));
    }
    let (n, s) = name.strip_prefix("header-range-")?.strip_suffix(".key.json")?.split_once("-by-")?;
    Some((n.parse().ok()?, Some(s.parse().ok()?)))
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
    let (source, srs) = prover_srs(project, prover_image)?;
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

/// The SRS file of `prover_image` (made if it is the development SRS), and
/// the manifest's name for it.
pub fn prover_srs(project: &Project, prover_image: &str) -> Result<(PathBuf, String)> {
    let manifests = project.manifests()?;
    let image = manifests.image(prover_image).with_context(|| format!("no image named {prover_image:?}"))?;
    let Some(srs) = &image.srs else {
        bail!("image {prover_image} declares no [srs]; keys are made from the prover's SRS")
    };
    // Its smaller siblings too: keygen reads them instead of recomputing.
    ensure_dev_srs_files(project, image)?;
    Ok((crate::pipeline::srs::srs_for_image(project, image, srs)?, srs.source.to_string()))
}

/// Generates the development SRS files `image` carries beside its `[srs]`
/// (e.g. the smaller degrees a prover reads instead of recomputing them).
fn ensure_dev_srs_files(project: &Project, image: &crate::spec::manifest::Image) -> Result<()> {
    for file in &image.files {
        let source = project.host(&file.source);
        if let Some(k) = crate::pipeline::srs::dev_k_of(project, &source).filter(|_| !source.exists()) {
            crate::pipeline::srs::ensure_dev(project, k)?;
        }
    }
    Ok(())
}

/// Makes the files that the selected images carry, that are missing and
/// that the xtask knows how to make: development SRS files (at their
/// default path, e.g. a prover's smaller siblings of its SRS) and verifier
/// keys (files named `header-chain-N.key.json` or
/// `header-range-N-by-S.key.json`, from the prover image of the pair each
/// verifier belongs to).
pub fn ensure_generated_files(
    project: &Project,
    manifests: &crate::spec::manifest::Manifests,
    images: &[&crate::spec::manifest::Image],
) -> Result<()> {
    for image in images {
        ensure_dev_srs_files(project, image)?;
    }
    for image in images {
        for file in &image.files {
            if project.host(&file.source).exists() {
                continue;
            }
            // One process makes a key; another waits, then finds it made
            // (two range keygens at once would not fit in memory).
            let _making = crate::support::dir_lock::DirLock::take(&project.target_dir.join("keys"), "key generation")?;
            if project.host(&file.source).exists() {
                continue;
            }
            let Some((headers, segment_size)) = key_for_name(file.source.file_name()) else {
                continue; // not ours to make: image planning reports it
            };
            let prover =
                manifests.pairs.iter().find(|p| p.verifier == image.name).map(|p| p.prover.to_string()).with_context(
                    || {
                        format!(
                            "{} needs {}, but no pair names {} as a verifier, so no prover SRS to make it from",
                            image.manifest.display(),
                            file.source,
                            image.name
                        )
                    },
                )?;
            eprintln!("making the verifier key {} from {prover}'s SRS", file.source.file_name());
            make_any_key(project, &prover, headers, segment_size)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::key_for_name;

    #[test]
    fn key_names_say_what_to_make() {
        assert_eq!(key_for_name("header-chain-8.key.json"), Some((8, None)));
        assert_eq!(key_for_name("header-range-20-by-16.key.json"), Some((20, Some(16))));
        for other in
            ["header-range-20.key.json", "header-chain-x.key.json", "header-range-20-by-.key.json", "keys.json"]
        {
            assert_eq!(key_for_name(other), None, "{other}");
        }
    }
}
