//! An image's files on the host: the image path of each file an image
//! carries (its SRS, its `files`) mapped to the host file it is made from.
//! `run` gives native programs host paths through it, and the host's check
//! reads `${prover|verifier.env.VAR}` files the same way.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::spec::manifest::Image;
use crate::spec::project::Project;

/// Image path → host file, for everything the image would carry.
pub fn image_paths(project: &Project, image: &Image) -> Result<BTreeMap<String, String>> {
    let mut paths = BTreeMap::new();
    if let Some(srs) = &image.srs {
        let file = crate::pipeline::srs::srs_for_image(project, image, srs)?;
        paths.insert(srs.path.to_string(), file.display().to_string());
    }
    for f in &image.files {
        paths.insert(f.path.to_string(), project.host(&f.source).display().to_string());
    }
    Ok(paths)
}

/// Replaces every comma-separated part of `value` that is an image path.
pub fn translate(value: &str, paths: &BTreeMap<String, String>) -> String {
    value
        .split(',')
        .map(|part| paths.get(part).cloned().unwrap_or_else(|| part.to_string()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_are_translated_in_lists_and_values() {
        let paths = BTreeMap::from([("/keys/a.json".to_string(), "/host/a.json".to_string())]);
        assert_eq!(translate("/keys/a.json", &paths), "/host/a.json");
        assert_eq!(translate("/keys/a.json,/keys/b.json", &paths), "/host/a.json,/keys/b.json");
        assert_eq!(translate("info", &paths), "info");
    }
}
