//! The verifier keys the verifier image pins (the library behind
//! `cmd/keys.rs`, used by image, run and release too). A key is
//! made from the prover image's SRS and the circuit for N-header chains, so
//! it matches exactly the proofs that prover makes.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::programs;
use crate::project::Project;

pub fn key_path(project: &Project, headers: usize) -> PathBuf {
    project.target_dir.join("keys").join(format!("header-chain-{headers}.key.json"))
}

/// Writes the key for `headers`-header chains with the prover binary (from
/// the prover image's SRS); returns its path and key id.
pub fn make_key(project: &Project, prover_image: &str, headers: usize) -> Result<(PathBuf, String)> {
    let (source, srs) = prover_srs(project, prover_image)?;
    let path = key_path(project, headers);
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    let prover = programs::program(project, programs::PROVER_BIN)?;
    let spinner = crate::progress::units(&format!("making the verifier key for {headers} headers"));
    let printed = programs::run(
        &prover,
        &crate::os_args!["keygen", "--headers", headers.to_string(), "--srs", &source, "--out", &path],
    );
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
    Ok((crate::srs::srs_for_image(project, image, srs)?, srs.source.to_string()))
}

/// Makes the verifier keys that the selected images carry and that are
/// missing (files named `header-chain-N.key.json`), from the prover image of
/// the pair each verifier belongs to.
pub fn ensure_verifier_files(
    project: &Project,
    manifests: &crate::manifest::Manifests,
    images: &[&crate::manifest::Image],
) -> Result<()> {
    for image in images {
        for file in &image.files {
            if project.host(&file.source).exists() {
                continue;
            }
            let name = file.source.file_name();
            let Some(headers) = name
                .strip_prefix("header-chain-")
                .and_then(|r| r.strip_suffix(".key.json"))
                .and_then(|n| n.parse().ok())
            else {
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
            eprintln!("making the verifier key for {headers} headers from {prover}'s SRS");
            make_key(project, &prover, headers)?;
        }
    }
    Ok(())
}
