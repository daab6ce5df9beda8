//! An image as data: the plan (what is staged from where, ops's
//! `config.json`), the digests of its inputs, and the record written beside
//! a built image. Both builders (ops in `image.rs`, the native writer in
//! `native.rs`) share these; this module depends on neither.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::spec::manifest::{Image, WORKSPACE_MOUNT};
use crate::support::hashing::sha256_file;

/// ops's config.json, with ops's canonical key spelling.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct OpsConfig {
    pub program: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub files: Vec<String>,
    pub mounts: BTreeMap<String, String>,
    pub manifest_passthrough: BTreeMap<String, String>,
    pub reboot_on_exit: bool,
    pub run_config: RunConfig,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RunConfig {
    #[serde(rename = "CPUs")]
    pub cpus: u32,
    #[serde(rename = "Memory")]
    pub memory: String,
}

/// The Gevulot conventions: the workspace is mount `%1` (ops renumbers it to
/// the node's 9p tag 0), the root filesystem is read-only, one task per boot.
pub fn ops_config(image: &Image) -> OpsConfig {
    let mut files: Vec<String> = image.srs.iter().map(|s| staged_name(s.path.as_str())).collect();
    files.extend(image.files.iter().map(|f| staged_name(f.path.as_str())));
    files.sort();
    OpsConfig {
        program: image.bin.clone(),
        args: image.args.clone(),
        env: image.env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        files,
        mounts: BTreeMap::from([("%1".to_string(), WORKSPACE_MOUNT.to_string())]),
        manifest_passthrough: BTreeMap::from([("readonly_rootfs".to_string(), "true".to_string())]),
        reboot_on_exit: true,
        run_config: RunConfig { cpus: image.cpus.get(), memory: image.memory.qemu() },
    }
}

/// An image path as ops's `Files` takes it: relative to the staging directory.
pub fn staged_name(guest: &str) -> String {
    guest.trim_start_matches('/').to_string()
}

pub fn config_json(config: &OpsConfig) -> String {
    serde_json::to_string_pretty(config).expect("config serializes") + "\n"
}

/// What one image is made of, as data.
#[derive(Debug, Serialize)]
pub struct ImagePlan {
    pub image: String,
    pub nanos_version: String,
    /// Host file → path relative to the staging directory.
    pub stage: Vec<(PathBuf, String)>,
    pub config: OpsConfig,
    pub stage_dir: PathBuf,
    pub output: PathBuf,
    pub record: PathBuf,
}

/// The record written beside an image.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageRecord {
    pub image: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    /// The Gevulot image checksum.
    pub blake3: String,
    /// "ops" or "native".
    pub builder: String,
    /// `ops version`'s answer (ops builds only).
    pub ops_version: Option<String>,
    /// What `cargo xtask inspect` reports as the content digest (native builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_digest: Option<String>,
    pub inputs: Inputs,
}

/// Digests of everything that goes into an image: if these are equal, the
/// image need not be rebuilt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Inputs {
    pub nanos_version: String,
    pub program_sha256: String,
    pub config_sha256: String,
    /// Staged path → sha256.
    pub files: BTreeMap<String, String>,
    pub kernel_sha256: String,
    pub boot_sha256: String,
    /// Who writes the image: `ops <sha256 of the ops binary>`, or the native writer's id.
    pub builder: String,
}

/// Everything the image is made of, as digests.
pub fn inputs(plan: &ImagePlan, kernel_sha256: String, boot_sha256: String, builder: String) -> Result<Inputs> {
    let mut files = BTreeMap::new();
    for (source, staged) in plan.stage.iter().skip(1) {
        files.insert(staged.clone(), sha256_file(source).with_context(|| format!("cannot read {}", source.display()))?);
    }
    Ok(Inputs {
        nanos_version: plan.nanos_version.clone(),
        program_sha256: sha256_file(&plan.stage[0].0)?,
        config_sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(config_json(&plan.config).as_bytes())),
        files,
        kernel_sha256,
        boot_sha256,
        builder,
    })
}

impl crate::spec::records::Record for ImageRecord {
    const KIND: &'static str = "nanos-image";
    const WHAT: &'static str = "an image record";
    const VERSION: u32 = 1;
    const REMAKE: &'static str = "build the image again (`cargo xtask image NAME`)";

    /// Records from before the envelope hold exactly version 1's fields.
    fn legacy(
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        fields.contains_key("image").then_some(fields)
    }
}

/// The record at `path`, if there is a readable one (otherwise the image is built again).
pub fn load_record(path: &Path) -> Option<ImageRecord> {
    crate::spec::records::load(path).ok()
}
