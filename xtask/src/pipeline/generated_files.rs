//! The files an image carries that the xtask makes when they are missing:
//! development SRS files at their default paths, and files whose manifest
//! entry has a `make` recipe (a program of the image's pair run on this
//! machine, e.g. a verifier key from the prover image's SRS). No pair or
//! file is named here: the manifests say what to make and how.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::pipeline::programs;
use crate::spec::manifest::{FileEntry, Image, Manifests};
use crate::spec::project::Project;

/// The SRS file of `prover_image` (made if it is the development SRS), and
/// the manifest's name for it.
pub fn image_srs_file(project: &Project, prover_image: &str) -> Result<(PathBuf, String)> {
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
fn ensure_dev_srs_files(project: &Project, image: &Image) -> Result<()> {
    for file in &image.files {
        let source = project.host(&file.source);
        if let Some(k) = crate::pipeline::srs::dev_k_of(project, &source).filter(|_| !source.exists()) {
            crate::pipeline::srs::ensure_dev(project, k)?;
        }
    }
    Ok(())
}

/// Makes the files that the selected images carry, that are missing and
/// that the manifests say how to make: development SRS files (at their
/// default path, e.g. a prover's smaller siblings of its SRS) and files with
/// a `make` recipe.
pub fn ensure_generated_files(project: &Project, manifests: &Manifests, images: &[&Image]) -> Result<()> {
    for image in images {
        ensure_dev_srs_files(project, image)?;
    }
    for image in images {
        for file in image.files.iter().filter(|f| f.make.is_some()) {
            if project.host(&file.source).exists() {
                continue;
            }
            let out = project.host(&file.source);
            // One process makes a file; another waits, then finds it made
            // (two range keygens at once would not fit in memory).
            let dir = out.parent().context("a generated file has a directory")?;
            let _making = crate::support::dir_lock::DirLock::take(dir, "making generated files")?;
            if !out.exists() {
                make(project, manifests, image, file, out)?;
            }
        }
    }
    Ok(())
}

/// Runs `file`'s recipe to write `out`.
fn make(project: &Project, manifests: &Manifests, image: &Image, file: &FileEntry, out: PathBuf) -> Result<()> {
    let recipe = file.make.as_ref().expect("a recipe");
    let pair =
        manifests.pairs.iter().find(|p| p.prover == image.name || p.verifier == image.name).with_context(|| {
            format!(
                "{} makes {} with a program of its pair, but no pair names {}",
                image.manifest.display(),
                file.source,
                image.name
            )
        })?;
    let srs = if recipe.args.iter().any(|a| a.get_ref().contains("${prover.srs}")) {
        image_srs_file(project, pair.prover.as_str())?.0.display().to_string()
    } else {
        String::new()
    };
    let program_image = match recipe.program.get_ref().as_str() {
        "prover" => pair.prover.as_str(),
        _ => pair.verifier.as_str(),
    };
    let bin = &manifests.image(program_image).context("a pair's image")?.bin;
    let program = programs::program(project, bin)?;
    std::fs::create_dir_all(out.parent().expect("checked"))?;
    let args = recipe.resolve(&out.display().to_string(), &srs);
    eprintln!("making {} ({}'s recipe: {bin} {})", file.source, image.name, args.join(" "));
    let spinner = crate::support::progress::units(&format!("making {}", file.source.file_name()));
    let made = programs::run(&program, &args);
    spinner.finish_and_clear();
    made.with_context(|| format!("{}'s recipe for {} failed", image.manifest.display(), file.source))?;
    if !out.exists() {
        bail!(
            "{}'s recipe for {} succeeded but wrote no {}: its args must pass ${{out}} where {bin} writes its output",
            image.manifest.display(),
            file.source,
            out.display()
        );
    }
    Ok(())
}
