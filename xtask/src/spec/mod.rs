//! What is declared and recorded: the TOML manifests (images and pairs),
//! the workspace they live in, and an image as a plan with its record.

pub mod image_plan;
pub mod manifest;
pub mod project;
pub mod records;
