//! `cargo xtask new-pair NAME`: a prover and verifier crate pair on the
//! shim crate, their image manifests and the pair manifest with its
//! workflow, ready to build, image and `run`. The files come from
//! `xtask/templates/pair/` with `{{name}}` replaced; everything is checked
//! before anything is written, and nothing is left half-written.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::spec::project::Project;

#[derive(clap::Args, Debug)]
pub struct NewPairFlags {
    /// The pair's name: lowercase letters, digits and '-', starting with a
    /// letter. Its crates are NAME-prover and NAME-verifier.
    pub name: String,
    /// Rewrite an existing pair's scaffolded files from the templates (keeps
    /// the committed example pair the templates' output; the pair's other
    /// files are left alone).
    #[arg(long)]
    pub regenerate: bool,
}

/// The scaffold: (path relative to the workspace root, template).
const TEMPLATES: [(&str, &str); 8] = [
    ("pairs/{{name}}/prover/Cargo.toml", include_str!("../../templates/pair/prover.Cargo.toml")),
    ("pairs/{{name}}/prover/src/main.rs", include_str!("../../templates/pair/prover.main.rs")),
    ("pairs/{{name}}/verifier/Cargo.toml", include_str!("../../templates/pair/verifier.Cargo.toml")),
    ("pairs/{{name}}/verifier/src/main.rs", include_str!("../../templates/pair/verifier.main.rs")),
    ("pairs/{{name}}/example-input.txt", include_str!("../../templates/pair/example-input.txt")),
    ("manifests/images/{{name}}-prover.toml", include_str!("../../templates/pair/prover-image.toml")),
    ("manifests/images/{{name}}-verifier.toml", include_str!("../../templates/pair/verifier-image.toml")),
    ("manifests/pairs/{{name}}.toml", include_str!("../../templates/pair/pair.toml")),
];

/// The files of pair `name`, rendered: (relative path, contents).
pub fn render(name: &str) -> Result<Vec<(PathBuf, String)>> {
    check_name(name).map_err(anyhow::Error::msg)?;
    Ok(TEMPLATES
        .iter()
        .map(|(path, text)| (PathBuf::from(path.replace("{{name}}", name)), text.replace("{{name}}", name)))
        .collect())
}

/// A name cargo accepts for `NAME-prover` and that is a safe image name.
fn check_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} cannot name a pair: use 1 to 40 lowercase letters, digits and single '-', starting with a letter (its crates are NAME-prover and NAME-verifier)"
        ))
    }
}

impl NewPairFlags {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let project = Project::locate()?;
        let files = render(&self.name)?;
        if self.regenerate {
            let changed = regenerate(&project, &self.name, &files)?;
            println!(
                "pair {}: {} of {} scaffolded files rewritten from the templates",
                self.name,
                changed.len(),
                files.len()
            );
            for path in changed {
                println!("  {}", path.display());
            }
            return Ok(());
        }
        scaffold(&project, &self.name, &files)?;
        // The new crates join Cargo.lock (no dependency changes: offline).
        let _dir = sh.push_dir(&project.root);
        cmd!(sh, "cargo update --workspace --offline --quiet").run().context(
            "the scaffold is written, but Cargo.lock could not take its crates; run `cargo update --workspace`",
        )?;
        println!("pair {} scaffolded:", self.name);
        for (path, _) in &files {
            println!("  {}", path.display());
        }
        println!(
            "next: cargo xtask run {name}   (its example input; --input data=FILE for another, --vm to boot the images)",
            name = self.name
        );
        Ok(())
    }
}

/// Writes `files` under `root` after checking that neither they nor the
/// pair's name exist yet; on a failed write, removes what it wrote.
pub fn scaffold(project: &Project, name: &str, files: &[(PathBuf, String)]) -> Result<()> {
    let root = &project.root;
    let manifests = project.manifests()?;
    if manifests.pairs.iter().any(|p| p.name.as_str() == name) {
        bail!("a pair named {name:?} already exists; choose another name");
    }
    for image in [format!("{name}-prover"), format!("{name}-verifier")] {
        if manifests.image(&image).is_some() {
            bail!("an image named {image:?} already exists; choose another pair name");
        }
    }
    let taken: Vec<String> = std::iter::once(root.join("pairs").join(name))
        .chain(files.iter().map(|(p, _)| root.join(p)))
        .filter(|p| p.exists())
        .map(|p| p.strip_prefix(root).unwrap_or(&p).display().to_string())
        .collect();
    if !taken.is_empty() {
        bail!("{} already exist{}; nothing was written", taken.join(", "), if taken.len() == 1 { "s" } else { "" });
    }
    let mut written = Vec::new();
    let result = (|| -> Result<()> {
        for (path, text) in files {
            let full = root.join(path);
            std::fs::create_dir_all(full.parent().expect("has a parent"))?;
            atomic_write::write_atomic(&full, |w| w.write_all(text.as_bytes()))
                .with_context(|| format!("cannot write {}", full.display()))?;
            written.push(full);
        }
        Ok(())
    })();
    if result.is_err() {
        for file in &written {
            let _ = std::fs::remove_file(file);
        }
        let _ = remove_empty_dirs(&root.join("pairs").join(name));
    }
    result
}

/// Rewrites the scaffolded files of the existing pair `name` whose text
/// differs from `files` (each atomically); returns those rewritten.
pub fn regenerate(project: &Project, name: &str, files: &[(PathBuf, String)]) -> Result<Vec<PathBuf>> {
    if project.manifests()?.pairs.iter().all(|p| p.name.as_str() != name) {
        bail!("no pair named {name:?} to regenerate; without --regenerate, `new-pair {name}` scaffolds it");
    }
    let mut changed = Vec::new();
    for (path, text) in files {
        let full = project.root.join(path);
        if std::fs::read_to_string(&full).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        std::fs::create_dir_all(full.parent().expect("has a parent"))?;
        atomic_write::write_atomic(&full, |w| w.write_all(text.as_bytes()))
            .with_context(|| format!("cannot write {}", full.display()))?;
        changed.push(path.clone());
    }
    Ok(changed)
}

fn remove_empty_dirs(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            remove_empty_dirs(&path)?;
        }
    }
    std::fs::remove_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cargo_and_images_accept() {
        for good in ["blake-chain", "p1", "my-zk-pair"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Blake", "1pair", "a_b", "a--b", "pair-", "a.b", &"x".repeat(41)] {
            assert!(check_name(bad).unwrap_err().contains("cannot name a pair"), "{bad}");
        }
    }

    #[test]
    fn every_template_placeholder_is_filled() {
        for (path, text) in render("demo").unwrap() {
            assert!(!text.contains("{{") && !path.display().to_string().contains("{{"), "{}", path.display());
        }
    }
}
