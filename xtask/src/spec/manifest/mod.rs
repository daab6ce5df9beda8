//! Image and pair manifests: one TOML file per image under
//! `manifests/images/`, one per deployable prover/verifier pair under
//! `manifests/pairs/`. Parsing is strict (`deny_unknown_fields`), field
//! types validate themselves (so TOML reports line and column), and
//! cross-file rules (unique names, pairs naming real images, packages and
//! binaries that exist) are checked in [`load`].

pub mod size;
pub mod workflow;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

pub use size::{DiskSize, MemorySize};
pub use workflow::Workflow;

/// The most vCPUs a manifest may ask for.
pub const MAX_CPUS: u32 = 256;
/// Where Gevulot mounts the task workspace: nothing of the image may live there.
pub const WORKSPACE_MOUNT: &str = "/workspace";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageFile {
    pub image: ImageSection,
    pub nanos: Option<NanosSection>,
    pub srs: Option<SrsSection>,
    #[serde(default)]
    pub env: BTreeMap<EnvName, String>,
    #[serde(default)]
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSection {
    pub name: Spanned<ImageName>,
    /// The cargo package that holds the binary.
    pub package: Spanned<String>,
    /// The binary target in that package.
    pub bin: Spanned<String>,
    /// argv[1..] of the program inside the image.
    #[serde(default)]
    pub args: Vec<String>,
    pub memory: MemorySize,
    pub cpus: Cpus,
}

/// The Nanos release an image is built with, and how.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NanosSection {
    /// The Nanos release (`ops --nanos-version`).
    pub version: NanosVersion,
    /// Who writes the image: `ops` (default) or our deterministic `native` writer.
    #[serde(default)]
    pub builder: Builder,
    /// kernel.img and boot.img (see [`HostPath`]); default: the pinned
    /// version in ops's home (`~/.ops/VERSION/`).
    pub kernel: Option<HostPath>,
    pub boot: Option<HostPath>,
    /// Pinned sha256 of kernel.img and boot.img, checked on every build.
    pub kernel_sha256: Option<Sha256Hex>,
    pub boot_sha256: Option<Sha256Hex>,
    /// A fixed root filesystem size (native builder); default: what the files need.
    pub root_size: Option<DiskSize>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Builder {
    #[default]
    Ops,
    Native,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SrsSection {
    /// The SRS file on the host (see [`HostPath`]).
    pub source: HostPath,
    /// Pinned sha256 of `source`.
    pub sha256: Sha256Hex,
    /// The degree the circuit needs.
    pub k: SrsDegree,
    /// Where the program finds the SRS inside the image.
    pub path: GuestPath,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// The file on the host (see [`HostPath`]).
    pub source: HostPath,
    /// Absolute path inside the image.
    pub path: GuestPath,
    /// How the xtask makes `source` when it is missing.
    pub make: Option<MakeSection>,
}

/// A generated file's recipe: a program of the image's pair, run on this
/// machine (e.g. a verifier key made from the prover image's SRS).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MakeSection {
    /// `prover` or `verifier`: that image of the pair, its program.
    pub program: Spanned<String>,
    /// Its arguments: `${out}` is the file to write (`source`),
    /// `${prover.srs}` the pair's prover image's `[srs]` file.
    pub args: Vec<Spanned<String>>,
}

/// What a `make` recipe's placeholders may name.
pub const MAKE_PLACEHOLDERS: &str = "${out}, ${prover.srs}";

impl MakeSection {
    /// The arguments with `${out}` and `${prover.srs}` replaced.
    pub fn resolve(&self, out: &str, prover_srs: &str) -> Vec<String> {
        self.args
            .iter()
            .map(|a| {
                workflow::substitute(a.get_ref(), |scope, name| match (scope, name) {
                    ("out", "") => Some(out.to_string()),
                    ("prover", "srs") => Some(prover_srs.to_string()),
                    _ => None,
                })
                .expect("validated placeholders")
            })
            .collect()
    }

    /// Every problem with the recipe, at its position.
    fn problems(&self) -> Vec<(std::ops::Range<usize>, String)> {
        let mut found = Vec::new();
        if !matches!(self.program.get_ref().as_str(), "prover" | "verifier") {
            found.push((
                self.program.span(),
                format!(
                    "key `files.make.program`: {:?} is not a program of the pair: give \"prover\" or \"verifier\"",
                    self.program.get_ref()
                ),
            ));
        }
        let mut writes = false;
        for arg in &self.args {
            let checked = workflow::substitute(arg.get_ref(), |scope, name| match (scope, name) {
                ("out", "") => {
                    writes = true;
                    Some(String::new())
                }
                ("prover", "srs") => Some(String::new()),
                _ => None,
            });
            if let Err(e) = checked {
                found.push((
                    arg.span(),
                    format!(
                        "key `files.make.args`: {e} names nothing a recipe can use; it can use: {MAKE_PLACEHOLDERS}"
                    ),
                ));
            }
        }
        if !writes {
            found.push((
                self.program.span(),
                "key `files.make.args`: the recipe never names the file it makes: give ${out} where the program takes its output".into(),
            ));
        }
        found
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairFile {
    pub pair: PairSection,
    /// The workflow (see [`workflow`]).
    #[serde(default)]
    pub inputs: BTreeMap<workflow::FileName, Spanned<String>>,
    pub prove: Spanned<workflow::ProveSection>,
    pub verify: Spanned<workflow::VerifySection>,
    pub preflight: Option<Spanned<workflow::CheckSection>>,
    pub check: Spanned<workflow::CheckSection>,
    #[serde(default)]
    pub defaults: BTreeMap<workflow::FileName, Spanned<HostPath>>,
    pub capture: Option<Spanned<workflow::CaptureSection>>,
    pub segments: Option<Spanned<workflow::SegmentsSection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairSection {
    pub name: Spanned<ImageName>,
    pub prover: Spanned<String>,
    pub verifier: Spanned<String>,
}

macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(text).map(|()| Self(text.to_string()))
            }

            #[allow(dead_code)]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

validated_string!(
    /// An image or pair name: it becomes a file name (ops cuts names at `.`).
    ImageName,
    |s| {
        let ok_first = s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let ok_rest = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if s.is_empty() || s.len() > 64 || !ok_first || !ok_rest {
            return Err(format!(
                "name {s:?} is not a safe file name: use 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit"
            ));
        }
        Ok(())
    }
);

validated_string!(
    /// An absolute path inside the image, outside the workspace mount.
    GuestPath,
    |s| {
        if !s.starts_with('/') {
            return Err(format!("path {s:?} inside the image must be absolute (start with '/')"));
        }
        if s.split('/').any(|c| c == ".." || c == ".") {
            return Err(format!("path {s:?} inside the image must not contain '.' or '..' components"));
        }
        if s == "/" || s.ends_with('/') || s.contains("//") {
            return Err(format!("path {s:?} inside the image must name a file, like \"/srs/kzg_bn254_15.srs\""));
        }
        if s == WORKSPACE_MOUNT || s.starts_with(&format!("{WORKSPACE_MOUNT}/")) {
            return Err(format!(
                "path {s:?} is under {WORKSPACE_MOUNT}, where Gevulot mounts the task workspace over the image; choose another directory"
            ));
        }
        Ok(())
    }
);

validated_string!(
    /// An environment variable name.
    EnvName,
    |s| {
        let ok = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(format!("environment variable name {s:?} must be letters, digits and '_', not starting with a digit"));
        }
        Ok(())
    }
);

validated_string!(
    /// A sha256 digest as 64 lowercase hex digits.
    Sha256Hex,
    |s| {
        if s.len() != 64 || !s.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
            return Err(format!("sha256 {s:?} must be 64 lowercase hex digits (as `sha256sum` prints)"));
        }
        Ok(())
    }
);

validated_string!(
    /// A Nanos release version such as "0.1.52".
    NanosVersion,
    |s| {
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
            return Err(format!("Nanos version {s:?} must look like \"0.1.52\" (as `ops version` prints it)"));
        }
        Ok(())
    }
);

/// The placeholder for cargo's target directory in host paths.
pub const TARGET_PLACEHOLDER: &str = "${target}";

validated_string!(
    /// A file on the host, as a manifest names it: relative to the workspace
    /// root (or absolute), or under cargo's target directory when it starts
    /// with `${target}/`. Generated inputs (the development SRS, verifier
    /// keys) live there, and `CARGO_TARGET_DIR` may move it out of the tree.
    HostPath,
    |s| {
        if s.is_empty() {
            return Err("host path is empty: name a file, like \"${target}/keys/header-chain-8.key.json\"".into());
        }
        let rest = match s.strip_prefix(TARGET_PLACEHOLDER) {
            Some(rest) => match rest.strip_prefix('/') {
                Some(rest) if !rest.is_empty() => rest,
                _ => return Err(format!("host path {s:?}: `{TARGET_PLACEHOLDER}` must be followed by `/` and a file under the target directory")),
            },
            None => s,
        };
        if let Some(at) = rest.find("${") {
            let name: String = rest[at..].chars().take_while(|c| *c != '}').chain(['}']).collect();
            return Err(format!(
                "host path {s:?}: unknown placeholder `{name}`; the one placeholder is `{TARGET_PLACEHOLDER}` (cargo's target directory), at the start"
            ));
        }
        if rest.len() < s.len() && (rest.starts_with('/') || rest.split('/').any(|c| c == "..")) {
            return Err(format!("host path {s:?}: what follows `{TARGET_PLACEHOLDER}/` must stay inside the target directory (no '..', not absolute)"));
        }
        Ok(())
    }
);

impl HostPath {
    /// The file on this machine: under `target_dir` for `${target}/…`, else
    /// under `root` (absolute paths stay as they are).
    pub fn resolve(&self, root: &Path, target_dir: &Path) -> PathBuf {
        match self.under_target() {
            Some(rest) => target_dir.join(rest),
            None => root.join(&self.0),
        }
    }

    /// What follows `${target}/`, when the path is under the target directory.
    pub fn under_target(&self) -> Option<&str> {
        self.0.strip_prefix(TARGET_PLACEHOLDER).and_then(|r| r.strip_prefix('/'))
    }

    /// The last component, e.g. `header-chain-8.key.json`.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Cpus(u32);

impl Cpus {
    pub fn get(self) -> u32 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        if n < 1 || n > MAX_CPUS as i64 {
            return Err(serde::de::Error::custom(format!(
                "cpus = {n} is out of range: give 1 to {MAX_CPUS} (a Gevulot node defaults to 2)"
            )));
        }
        Ok(Cpus(n as u32))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SrsDegree(u32);

impl SrsDegree {
    pub fn get(self) -> u32 {
        self.0
    }
}

impl<'de> Deserialize<'de> for SrsDegree {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let k = i64::deserialize(d)?;
        if !(1..=28).contains(&k) {
            return Err(serde::de::Error::custom(format!(
                "k = {k} is out of range: BN254 SRS files have 1 <= k <= 28"
            )));
        }
        Ok(SrsDegree(k as u32))
    }
}

/// A problem in one manifest file, located as precisely as TOML allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub file: PathBuf,
    /// 1-based line and column, where known.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ManifestError {}

/// All errors found, so a user fixes them in one pass.
#[derive(Debug)]
pub struct ManifestErrors(pub Vec<ManifestError>);

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ManifestErrors {}

fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A source file kept for locating errors after parsing.
struct Source {
    path: PathBuf,
    text: String,
}

impl Source {
    fn error_at(&self, span: std::ops::Range<usize>, message: String) -> ManifestError {
        ManifestError { file: self.path.clone(), position: Some(position(&self.text, span.start)), message }
    }

    fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ManifestError> {
        toml::from_str(&self.text).map_err(|e| ManifestError {
            file: self.path.clone(),
            position: e.span().map(|s| position(&self.text, s.start)),
            message: e.message().trim().to_string(),
        })
    }
}

/// One image, validated.
#[derive(Debug)]
pub struct Image {
    pub manifest: PathBuf,
    pub name: ImageName,
    pub package: String,
    pub bin: String,
    pub args: Vec<String>,
    pub memory: MemorySize,
    pub cpus: Cpus,
    pub nanos: Option<NanosSection>,
    pub srs: Option<SrsSection>,
    pub env: BTreeMap<EnvName, String>,
    pub files: Vec<FileEntry>,
}

#[derive(Debug)]
pub struct Pair {
    pub manifest: PathBuf,
    pub name: ImageName,
    pub prover: ImageName,
    pub verifier: ImageName,
    pub workflow: Workflow,
}

/// A pair's images as loaded so far, for checking its workflow.
struct PairImagesOf<'a> {
    images: &'a [Image],
    prover: &'a str,
    verifier: &'a str,
}

impl PairImagesOf<'_> {
    fn of(&self, role: workflow::Role) -> Option<&Image> {
        let wanted = match role {
            workflow::Role::Prover => self.prover,
            workflow::Role::Verifier => self.verifier,
        };
        self.images.iter().find(|i| i.name.as_str() == wanted)
    }
}

impl workflow::PairImages for PairImagesOf<'_> {
    fn sets(&self, role: workflow::Role, var: &str) -> Option<bool> {
        Some(self.of(role)?.env.keys().any(|k| k.as_str() == var))
    }
    fn carries(&self, role: workflow::Role, path: &str) -> Option<bool> {
        let image = self.of(role)?;
        Some(
            image.srs.as_ref().is_some_and(|s| s.path.as_str() == path)
                || image.files.iter().any(|f| f.path.as_str() == path),
        )
    }
}

/// Every manifest of the workspace, validated together.
#[derive(Debug)]
pub struct Manifests {
    pub images: Vec<Image>,
    pub pairs: Vec<Pair>,
}

/// What the workspace offers to build: package name → its binary targets.
pub type WorkspaceBinaries = BTreeMap<String, BTreeSet<String>>;

impl Manifests {
    pub fn image(&self, name: &str) -> Option<&Image> {
        self.images.iter().find(|i| i.name.as_str() == name)
    }

    /// The declared pair names, for error messages.
    pub fn pair_names(&self) -> String {
        self.pairs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// The pair called `name`, or an error listing the declared ones.
    pub fn pair_named(&self, name: &str) -> Result<&Pair, String> {
        self.pairs
            .iter()
            .find(|p| p.name.as_str() == name)
            .ok_or_else(|| format!("no pair named {name:?}; declared: {}", self.pair_names()))
    }

    /// The images named (all, when none is), or an error naming the unknown ones.
    pub fn select(&self, names: &[String]) -> Result<Vec<&Image>, String> {
        if names.is_empty() {
            return Ok(self.images.iter().collect());
        }
        let mut chosen = Vec::new();
        for name in names {
            match self.image(name) {
                Some(image) if !chosen.iter().any(|c: &&Image| c.name == image.name) => chosen.push(image),
                Some(_) => {}
                None => {
                    return Err(format!(
                        "no image named {name:?}; the manifests declare: {}",
                        self.images.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
                    ))
                }
            }
        }
        Ok(chosen)
    }
}

fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(ManifestError { file: dir.to_path_buf(), position: None, message: format!("cannot list: {e}") })
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

fn read_source(path: &Path, shown: PathBuf) -> Result<Source, ManifestError> {
    std::fs::read_to_string(path).map(|text| Source { path: shown.clone(), text }).map_err(|e| ManifestError {
        file: shown,
        position: None,
        message: format!("cannot read: {e}"),
    })
}

/// Loads and validates every manifest under `root/manifests`. Paths in
/// errors are shown relative to `root`.
/// Another manifests directory than the workspace's `manifests/` (for a
/// second set of images and pairs; sources stay relative to the workspace).
pub const MANIFESTS_DIR_ENV: &str = "XTASK_MANIFESTS_DIR";

pub fn load(root: &Path, binaries: &WorkspaceBinaries) -> Result<Manifests, ManifestErrors> {
    let base = std::env::var_os(MANIFESTS_DIR_ENV).map(PathBuf::from).unwrap_or_else(|| root.join("manifests"));
    load_from(root, &base, binaries)
}

/// Loads `base/images/*.toml` and `base/pairs/*.toml`.
pub fn load_from(root: &Path, base: &Path, binaries: &WorkspaceBinaries) -> Result<Manifests, ManifestErrors> {
    let shown = |p: &Path| p.strip_prefix(root).unwrap_or(p).to_path_buf();
    let mut errors = Vec::new();
    let images = load_images(&base.join("images"), &shown, binaries, &mut errors);
    // A pair naming an image whose manifest failed is noise: report the
    // image's own error, and the pair's references once images load.
    let images_failed = !errors.is_empty();
    let pairs = load_pairs(&base.join("pairs"), &shown, &images, images_failed, &mut errors);
    // Said only when every pair loaded, or it would be noise.
    if errors.is_empty() {
        errors.extend(recipes_without_a_pair(&images, &pairs));
    }
    if errors.is_empty() {
        Ok(Manifests { images, pairs })
    } else {
        Err(ManifestErrors(errors))
    }
}

/// The manifests (`*.toml`) of `dir`, each read; what cannot be is an error.
fn sources(dir: &Path, shown: &dyn Fn(&Path) -> PathBuf, errors: &mut Vec<ManifestError>) -> Vec<Source> {
    let files = toml_files(dir).unwrap_or_else(|e| {
        errors.push(e);
        Vec::new()
    });
    files.iter().filter_map(|path| read_source(path, shown(path)).map_err(|e| errors.push(e)).ok()).collect()
}

fn load_images(
    dir: &Path,
    shown: &dyn Fn(&Path) -> PathBuf,
    binaries: &WorkspaceBinaries,
    errors: &mut Vec<ManifestError>,
) -> Vec<Image> {
    let listed_before = errors.len();
    let sources = sources(dir, shown, errors);
    if sources.is_empty() && errors.len() == listed_before && !dir_has_toml(dir) {
        errors.push(ManifestError {
            file: shown(dir),
            position: None,
            message: "no image manifests (*.toml) found; add one per image".into(),
        });
    }
    let mut images: Vec<Image> = Vec::new();
    for source in sources {
        let parsed: ImageFile = match source.parse() {
            Ok(p) => p,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if let Some(first) = images.iter().find(|i| i.name == *parsed.image.name.get_ref()) {
            errors.push(source.error_at(
                parsed.image.name.span(),
                format!(
                    "image name {:?} is already used by {}; image names must be unique",
                    first.name.as_str(),
                    first.manifest.display()
                ),
            ));
            continue;
        }
        errors.extend(image_problems(&source, &parsed, binaries));
        let ImageFile { image, nanos, srs, env, files } = parsed;
        images.push(Image {
            manifest: source.path.clone(),
            name: image.name.into_inner(),
            package: image.package.into_inner(),
            bin: image.bin.into_inner(),
            args: image.args,
            memory: image.memory,
            cpus: image.cpus,
            nanos,
            srs,
            env,
            files,
        });
    }
    images
}

/// Whether `dir` lists any manifest at all (read or not).
fn dir_has_toml(dir: &Path) -> bool {
    toml_files(dir).is_ok_and(|f| !f.is_empty())
}

/// What is wrong with one parsed image manifest: a package or binary the
/// workspace lacks, an image path given twice, a bad `make` recipe.
fn image_problems(source: &Source, parsed: &ImageFile, binaries: &WorkspaceBinaries) -> Vec<ManifestError> {
    let mut errors = Vec::new();
    let image = &parsed.image;
    match binaries.get(image.package.get_ref()) {
        None => errors.push(source.error_at(
            image.package.span(),
            format!(
                "key `image.package`: no workspace package {:?}; the workspace has: {}",
                image.package.get_ref(),
                binaries.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )),
        Some(bins) if !bins.contains(image.bin.get_ref()) => errors.push(source.error_at(
            image.bin.span(),
            format!(
                "key `image.bin`: package {:?} has no binary {:?}; its binaries: {}",
                image.package.get_ref(),
                image.bin.get_ref(),
                if bins.is_empty() {
                    "(none)".to_string()
                } else {
                    bins.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            ),
        )),
        Some(_) => {}
    }
    let mut guest_paths: BTreeSet<&str> = BTreeSet::new();
    let program_path = format!("/{}", image.bin.get_ref());
    guest_paths.insert(&program_path);
    for path in parsed.srs.iter().map(|s| &s.path).chain(parsed.files.iter().map(|f| &f.path)) {
        if !guest_paths.insert(path.as_str()) {
            errors.push(ManifestError {
                file: source.path.clone(),
                position: None,
                message: format!(
                    "path {:?} inside the image is given twice (the program itself lives at {program_path})",
                    path.as_str()
                ),
            });
        }
    }
    for recipe in parsed.files.iter().filter_map(|f| f.make.as_ref()) {
        errors.extend(recipe.problems().into_iter().map(|(span, message)| source.error_at(span, message)));
    }
    errors
}

fn load_pairs(
    dir: &Path,
    shown: &dyn Fn(&Path) -> PathBuf,
    images: &[Image],
    images_failed: bool,
    errors: &mut Vec<ManifestError>,
) -> Vec<Pair> {
    let mut pairs: Vec<Pair> = Vec::new();
    for source in sources(dir, shown, errors) {
        let parsed: PairFile = match source.parse() {
            Ok(p) => p,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if let Some(first) = pairs.iter().find(|p| p.name == *parsed.pair.name.get_ref()) {
            errors.push(source.error_at(
                parsed.pair.name.span(),
                format!(
                    "pair name {:?} is already used by {}; pair names must be unique",
                    first.name.as_str(),
                    first.manifest.display()
                ),
            ));
            continue;
        }
        match load_pair(&source, parsed, images, images_failed) {
            Ok(pair) => pairs.push(pair),
            Err(problems) => errors.extend(problems),
        }
    }
    pairs
}

/// One pair: its images resolved, its workflow validated against them.
fn load_pair(
    source: &Source,
    parsed: PairFile,
    images: &[Image],
    images_failed: bool,
) -> Result<Pair, Vec<ManifestError>> {
    let PairFile { pair, inputs, prove, verify, preflight, check, defaults, capture, segments } = parsed;
    let mut errors = Vec::new();
    let mut resolve = |key: &str, role: &Spanned<String>| -> Option<ImageName> {
        let wanted = role.get_ref();
        match images.iter().find(|i| i.name.as_str() == wanted) {
            Some(i) => Some(i.name.clone()),
            None if images_failed => None,
            None => {
                errors.push(source.error_at(
                    role.span(),
                    format!(
                            "key `pair.{key}`: no image named {wanted:?}; declared images: {}",
                            images
                                .iter()
                                .map(|i| i.name.as_str())
                                .collect::<BTreeSet<_>>()
                                .into_iter()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                ));
                None
            }
        }
    };
    let prover = resolve("prover", &pair.prover);
    let verifier = resolve("verifier", &pair.verifier);
    let pair_images = PairImagesOf { images, prover: pair.prover.get_ref(), verifier: pair.verifier.get_ref() };
    let sections = workflow::WorkflowSections { inputs, prove, verify, preflight, check, defaults, capture, segments };
    let workflow = match workflow::validate(sections, &pair_images) {
        Ok(w) => Some(w),
        Err(problems) => {
            errors.extend(problems.into_iter().map(|(span, message)| source.error_at(span, message)));
            None
        }
    };
    if prover.is_some() && prover == verifier {
        errors.push(source.error_at(
            pair.verifier.span(),
            "key `pair.verifier`: the verifier must be a different image from the prover".into(),
        ));
        return Err(errors);
    }
    match (prover, verifier, workflow) {
        (Some(prover), Some(verifier), Some(workflow)) if errors.is_empty() => {
            Ok(Pair { manifest: source.path.clone(), name: pair.name.into_inner(), prover, verifier, workflow })
        }
        _ => Err(errors),
    }
}

/// A `make` recipe runs a program of the image's pair: an image with one
/// must be in a pair.
fn recipes_without_a_pair(images: &[Image], pairs: &[Pair]) -> Vec<ManifestError> {
    images
        .iter()
        .filter(|i| i.files.iter().any(|f| f.make.is_some()))
        .filter(|i| !pairs.iter().any(|p| p.prover == i.name || p.verifier == i.name))
        .map(|image| ManifestError {
            file: image.manifest.clone(),
            position: None,
            message: format!(
                "a [[files]] entry has a `make` recipe, which runs a program of the image's pair, but no pair names image {:?}: add it to a pair, or drop `make` and provide the file",
                image.name.as_str()
            ),
        })
        .collect()
}
