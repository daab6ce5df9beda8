//! `cargo xtask release` and `cargo xtask inspect` on the real manifests:
//! two releases give the same SHA256SUMS; `--verify` rebuilds from a clean
//! checkout (another path, an empty target directory) and finds every image
//! byte-identical; inspect reads the images back. The Nanos kernel.img and
//! boot.img are TEST DOUBLES (end_to_end::write_nanos_doubles): the writer
//! treats the kernel as opaque payload, so this checks our bytes, not
//! Nanos's boot.

use end_to_end::{output_text as text, workspace_root as root};
use std::path::Path;
use std::process::{Command, Output};

use sha3::Digest;

fn xtask(args: &[&str]) -> Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root())
        // kernel.img/boot.img TEST DOUBLES from --ops-home, not a real kernel.
        .env_remove("XTASK_NANOS_DIR")
        .arg("xtask")
        .args(args)
        .output()
        .unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

const RELEASED: [&str; 4] = ["blake-chain-prover", "blake-chain-verifier", "header-prover", "header-verifier"];

#[test]
fn releases_are_reproducible_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let ops_home = dir.path().join("ops-home");
    end_to_end::write_nanos_doubles(&ops_home.join(".ops/0.1.52")).unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    let home = ops_home.to_str().unwrap();
    let url = "https://images.example.org/v1";

    // The four small images: the range images are the same programs with a
    // 268 MB SRS and a key minutes to make, which the clean rebuild below
    // would make again from nothing.
    let release = |out: &Path| {
        let mut args = RELEASED.to_vec();
        args.splice(0..0, ["release", "--ops-home", home, "--out", out.to_str().unwrap(), "--url", url, "--json"]);
        json(&xtask(&args))
    };
    let (first, again) = (release(&one), release(&two));
    assert_eq!(first, again, "two releases of the same sources differ");
    let sums = std::fs::read_to_string(one.join("SHA256SUMS")).unwrap();
    assert_eq!(sums, std::fs::read_to_string(two.join("SHA256SUMS")).unwrap());
    assert_eq!(std::fs::read(one.join("release.json")).unwrap(), std::fs::read(two.join("release.json")).unwrap());

    // SHA256SUMS is what `sha256sum -c` checks.
    let check = Command::new("sha256sum").arg("-c").arg("SHA256SUMS").current_dir(&one).output().unwrap();
    assert!(check.status.success(), "{}", text(&check));
    assert_eq!(sums.lines().count(), RELEASED.len(), "every image named");

    let images = first["images"].as_array().unwrap();
    for image in images {
        let name = image["image"].as_str().unwrap();
        let file = one.join(image["file"].as_str().unwrap());
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(image["blake3"], blake3::hash(&bytes).to_hex().to_string());
        assert_eq!(image["size"], bytes.len() as u64);
        // The Gevulot program hash for URL/NAME.img: SHA3-256 of name, file
        // name, URL and BLAKE3 checksum, concatenated.
        let image_url = format!("{url}/{name}.img");
        assert_eq!(image["image_url"], image_url);
        let expected = sha3::Sha3_256::digest(
            format!("{name}{name}.img{image_url}{}", image["blake3"].as_str().unwrap()).as_bytes(),
        );
        assert_eq!(image["program_hash"], hex::encode(expected));

        // inspect reads it back: the manifest and every file.
        let report = json(&xtask(&["inspect", "--json", file.to_str().unwrap()]));
        assert_eq!(report["content_digest"], image["content_digest"]);
        let rootfs = &report["filesystems"][1];
        let bin = match name {
            "header-prover" => "prover",
            "header-verifier" => "verifier",
            other => other, // scaffolded pairs: the binary is named as its image
        };
        assert_eq!(rootfs["manifest"]["program"], format!("/{bin}"));
        assert_eq!(rootfs["manifest"]["arguments"], serde_json::json!([bin, "gevulot"]));
        assert_eq!(rootfs["manifest"]["mounts"], serde_json::json!({"%0": "/workspace"}));
        assert_eq!(rootfs["manifest"]["readonly_rootfs"], "true");
        let file_sha = |path: &str| {
            rootfs["files"].as_array().unwrap().iter().find(|f| f["path"] == path).map(|f| f["sha256"].clone())
        };
        assert_eq!(file_sha(&format!("/{bin}")), Some(image["inputs"]["program_sha256"].clone()));
        for (staged, digest) in image["inputs"]["files"].as_object().unwrap() {
            assert_eq!(file_sha(&format!("/{staged}")), Some(digest.clone()), "{staged}");
        }
        assert_eq!(
            report["filesystems"][0]["files"][0]["sha256"], image["inputs"]["kernel_sha256"],
            "the boot filesystem holds the kernel"
        );
        let digest_only = xtask(&["inspect", "--digest", file.to_str().unwrap()]);
        assert_eq!(String::from_utf8_lossy(&digest_only.stdout).trim(), image["content_digest"]);
    }
    let prover = images.iter().find(|i| i["image"] == "header-prover").unwrap();
    assert_eq!(
        prover["inputs"]["files"]["srs/kzg_bn254_14.srs"],
        "8bac80cd6387ae1ae2325fce197353b1f91f00780d77e13dda28d5c71deee2e1"
    );

    // A clean checkout at another path, built from nothing, gives the same bytes.
    let verdict = json(&xtask(&[
        "release",
        "--verify",
        one.join("release.json").to_str().unwrap(),
        "--ops-home",
        home,
        "--json",
    ]));
    assert_eq!(verdict["identical"], true, "{verdict:#}");
    assert_eq!(verdict["sha256sums_identical"], true, "{verdict:#}");
    assert_eq!(verdict["images"].as_array().unwrap().len(), RELEASED.len());

    // A record naming a commit this repository does not have: said so, nothing built.
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(one.join("release.json")).unwrap()).unwrap();
    record["source"] = serde_json::json!({"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": false});
    let forged = dir.path().join("forged.json");
    std::fs::write(&forged, serde_json::to_vec(&record).unwrap()).unwrap();
    let o = xtask(&["release", "--verify", forged.to_str().unwrap(), "--ops-home", home]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("commit 0123456789abcdef0123456789abcdef01234567 is not in the repository"),
        "{}",
        text(&o)
    );

    // Not a release record, and not an image: clear errors.
    let o = xtask(&["release", "--verify", one.join("SHA256SUMS").to_str().unwrap(), "--ops-home", home]);
    assert!(!o.status.success() && text(&o).contains("is not a release record"), "{}", text(&o));
    let o = xtask(&["inspect", one.join("release.json").to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("not a Nanos image"), "{}", text(&o));
}
