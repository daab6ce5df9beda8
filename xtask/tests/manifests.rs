//! Manifest validation: every bad input is refused with the file, the
//! position (where TOML gives one) and what is expected.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use xtask::spec::manifest::{load, ManifestError, Manifests, WorkspaceBinaries};

const PROVER: &str = r#"[image]
name = "header-prover"
package = "prover"
bin = "prover"
args = []
memory = "2G"
cpus = 2

[srs]
source = "params/kzg_bn254_14.srs"
sha256 = "8bac80cd6387ae1ae2325fce197353b1f91f00780d77e13dda28d5c71deee2e1"
k = 14
path = "/srs/kzg_bn254_14.srs"

[env]
RUST_LOG = "info"
"#;

const VERIFIER: &str = r#"[image]
name = "header-verifier"
package = "verifier"
bin = "verifier"
memory = "512M"
cpus = 1

[env]
HEADER_CHAIN_KEYS = "/keys/k.json"

[[files]]
source = "keys/k.json"
path = "/keys/k.json"
"#;

/// The committed pair manifest itself: a test edits it, never a retyped copy.
const PAIR: &str = include_str!("../../manifests/pairs/header-chain.toml");

/// `manifests/pairs/header-chain.toml:LINE:` for the first line of `PAIR` that starts with `start`.
fn pair_line(start: &str) -> String {
    let line = PAIR.lines().position(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no line {start:?} in PAIR"));
    format!("manifests/pairs/header-chain.toml:{}:", line + 1)
}

fn binaries() -> WorkspaceBinaries {
    let mut b = BTreeMap::new();
    b.insert("prover".to_string(), BTreeSet::from(["prover".to_string()]));
    b.insert("verifier".to_string(), BTreeSet::from(["verifier".to_string()]));
    b.insert("xtask".to_string(), BTreeSet::from(["xtask".to_string()]));
    b
}

struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        Scratch(dir)
    }

    fn load(&self) -> Result<Manifests, Vec<ManifestError>> {
        load(self.0.path(), &binaries()).map_err(|e| e.0)
    }
}

fn standard(prover: &str, verifier: &str, pair: &str) -> Scratch {
    Scratch::new(&[
        ("manifests/images/header-prover.toml", prover),
        ("manifests/images/header-verifier.toml", verifier),
        ("manifests/pairs/header-chain.toml", pair),
    ])
}

/// Loads with the prover manifest edited; expects exactly one error in it.
fn prover_error(edit: impl Fn(&str) -> String) -> ManifestError {
    let errors = standard(&edit(PROVER), VERIFIER, PAIR).load().expect_err("bad manifest accepted");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = errors.into_iter().next().unwrap();
    assert_eq!(e.file, Path::new("manifests/images/header-prover.toml"));
    e
}

fn assert_error(e: &ManifestError, line: usize, needles: &[&str]) {
    let shown = e.to_string();
    assert_eq!(e.position.map(|p| p.0), Some(line), "wrong line in: {shown}");
    for n in needles {
        assert!(shown.contains(n), "{shown:?} does not mention {n:?}");
    }
    assert!(shown.starts_with(&format!("manifests/images/header-prover.toml:{line}:")), "{shown}");
}

fn replace(from: &'static str, to: &'static str) -> impl Fn(&str) -> String {
    move |s: &str| {
        assert!(s.contains(from), "test edit {from:?} does not apply");
        s.replacen(from, to, 1)
    }
}

#[test]
fn the_real_manifests_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let project = xtask::spec::project::Project::at(root).unwrap();
    let m = project.manifests().unwrap();
    assert_eq!(m.images.len(), 6);
    assert_eq!(m.pair_names(), "blake-chain, header-chain, header-range");
    let range = &m.pair_named("header-range").unwrap().workflow;
    assert_eq!(range.segments.as_ref().map(|s| s.input.as_str()), Some("witness"));
    assert!(range.prove_task_after(2).args.contains(&"--segment=/workspace/segment-2.proof.json".to_string()));
    let prover = m.image("header-prover").unwrap();
    assert_eq!((prover.package.as_str(), prover.bin.as_str()), ("prover", "prover"));
    assert_eq!(prover.srs.as_ref().unwrap().path.as_str(), "/srs/kzg_bn254_14.srs");
}

#[test]
fn a_good_set_loads_with_every_value() {
    let m = standard(PROVER, VERIFIER, PAIR).load().unwrap();
    let p = m.image("header-prover").unwrap();
    assert_eq!(p.memory.mib(), 2048);
    assert_eq!(p.cpus.get(), 2);
    assert_eq!(p.srs.as_ref().unwrap().k.get(), 14);
    assert_eq!(p.env.len(), 1);
    let v = m.image("header-verifier").unwrap();
    assert_eq!(v.memory.mib(), 512);
    assert_eq!(v.files[0].path.as_str(), "/keys/k.json");
    assert_eq!(m.pairs[0].prover.as_str(), "header-prover");
    assert_eq!(m.pair_named("header-chain").unwrap().verifier.as_str(), "header-verifier");
    assert_eq!(m.pair_named("nope").unwrap_err(), "no pair named \"nope\"; declared: header-chain");
    assert_eq!(m.select(&[]).unwrap().len(), 2);
    assert_eq!(m.select(&["header-verifier".into()]).unwrap().len(), 1);
    assert!(m.select(&["nope".into()]).unwrap_err().contains("header-prover, header-verifier"));
}

#[test]
fn unknown_key() {
    let e = prover_error(replace("cpus = 2\n", "cpus = 2\ncolour = \"red\"\n"));
    assert_error(&e, 8, &["unknown field `colour`", "expected one of"]);
}

#[test]
fn unknown_table() {
    let e = prover_error(|s| format!("{s}\n[volumes]\ndata = \"/data\"\n"));
    assert_error(&e, 18, &["unknown field `volumes`"]);
}

#[test]
fn missing_required_keys() {
    for (key, line) in [("memory", 1), ("cpus", 1), ("name", 1), ("package", 1), ("bin", 1)] {
        let e =
            prover_error(|s| s.lines().filter(|l| !l.starts_with(&format!("{key} ="))).collect::<Vec<_>>().join("\n"));
        assert_error(&e, line, &[&format!("missing field `{key}`")]);
    }
}

#[test]
fn missing_srs_key() {
    let e = prover_error(replace("path = \"/srs/kzg_bn254_14.srs\"\n", ""));
    assert_error(&e, 9, &["missing field `path`"]);
}

#[test]
fn wrong_types() {
    assert_error(&prover_error(replace("cpus = 2", "cpus = \"2\"")), 7, &["invalid type", "string"]);
    assert_error(&prover_error(replace("memory = \"2G\"", "memory = 4")), 6, &["invalid type", "integer"]);
    assert_error(&prover_error(replace("args = []", "args = \"--fast\"")), 5, &["invalid type", "sequence"]);
    assert_error(&prover_error(replace("k = 14", "k = \"14\"")), 12, &["invalid type"]);
    assert_error(&prover_error(replace("RUST_LOG = \"info\"", "RUST_LOG = 3")), 16, &["invalid type"]);
    assert_error(&prover_error(replace("args = []", "args = [1]")), 5, &["invalid type"]);
}

#[test]
fn memory_that_does_not_parse() {
    for (bad, needle) in [
        ("4X", "unknown unit"),
        ("G", "does not start with a number"),
        ("12", "no unit"),
        ("1.5G", "unknown unit"),
        ("", "does not start with a number"),
        ("-2G", "does not start with a number"),
        ("99999999999999999999G", "too large"),
    ] {
        let text = PROVER.replace("memory = \"2G\"", &format!("memory = \"{bad}\""));
        let e = prover_error(|_| text.clone());
        assert_error(&e, 6, &[needle, "\"512M\""]);
    }
}

#[test]
fn memory_zero_tiny_huge_or_fractional_mib() {
    for (bad, needle) in
        [("0G", "zero"), ("0", "zero"), ("32M", "64M"), ("2T", "1T"), ("1048577K", "whole number of MiB")]
    {
        let text = PROVER.replace("memory = \"2G\"", &format!("memory = \"{bad}\""));
        assert_error(&prover_error(|_| text.clone()), 6, &[needle]);
    }
}

#[test]
fn cpus_zero_negative_or_absurd() {
    for bad in ["0", "-1", "257", "100000"] {
        let text = PROVER.replace("cpus = 2", &format!("cpus = {bad}"));
        assert_error(&prover_error(|_| text.clone()), 7, &["out of range", "1 to 256"]);
    }
}

#[test]
fn unknown_package_or_binary() {
    let e = prover_error(replace("package = \"prover\"", "package = \"provr\""));
    assert_error(&e, 3, &["image.package", "\"provr\"", "prover, verifier, xtask"]);
    let e = prover_error(replace("bin = \"prover\"", "bin = \"verifier\""));
    assert_error(&e, 4, &["image.bin", "has no binary \"verifier\"", "its binaries: prover"]);
}

#[test]
fn unsafe_image_names() {
    for bad in ["../evil", "a.b", "Prover", "", "-lead", "has space", "x/y", &"a".repeat(65)] {
        let text = PROVER.replace("name = \"header-prover\"", &format!("name = \"{bad}\""));
        let e = prover_error(|_| text.clone());
        assert_error(&e, 2, &["not a safe file name"]);
    }
}

#[test]
fn duplicate_image_names() {
    let twin = VERIFIER.replace("header-verifier", "header-prover");
    let errors =
        Scratch::new(&[("manifests/images/a.toml", PROVER), ("manifests/images/b.toml", &twin)]).load().unwrap_err();
    assert_eq!(errors.len(), 1);
    let shown = errors[0].to_string();
    assert!(shown.starts_with("manifests/images/b.toml:2:"), "{shown}");
    assert!(shown.contains("already used by manifests/images/a.toml"), "{shown}");
}

#[test]
fn srs_path_inside_the_image() {
    for (bad, needle) in [
        ("srs/kzg.srs", "must be absolute"),
        ("/srs/../etc/kzg.srs", "'..'"),
        ("/srs/./kzg.srs", "'.'"),
        ("/", "must name a file"),
        ("/srs/", "must name a file"),
        ("/workspace/kzg.srs", "task workspace"),
        ("/workspace", "task workspace"),
    ] {
        let text = PROVER.replace("path = \"/srs/kzg_bn254_14.srs\"", &format!("path = \"{bad}\""));
        assert_error(&prover_error(|_| text.clone()), 13, &[needle]);
    }
}

#[test]
fn srs_pin_and_degree() {
    assert_error(&prover_error(replace("sha256 = \"8bac", "sha256 = \"8ba")), 11, &["64 lowercase hex"]);
    assert_error(&prover_error(replace("sha256 = \"8bac", "sha256 = \"8BAC")), 11, &["64 lowercase hex"]);
    assert_error(&prover_error(replace("k = 14", "k = 0")), 12, &["1 <= k <= 28"]);
    assert_error(&prover_error(replace("k = 14", "k = 29")), 12, &["1 <= k <= 28"]);
}

#[test]
fn extra_files_and_env() {
    let e = prover_error(|s| format!("{s}\n[[files]]\nsource = \"a\"\npath = \"relative/a\"\n"));
    assert_error(&e, 20, &["must be absolute"]);
    let e = prover_error(replace("RUST_LOG", "1RUST_LOG"));
    assert_error(&e, 16, &["environment variable name"]);
}

#[test]
fn a_guest_path_given_twice() {
    let errors =
        standard(&format!("{PROVER}\n[[files]]\nsource = \"x\"\npath = \"/srs/kzg_bn254_14.srs\"\n"), VERIFIER, PAIR)
            .load()
            .unwrap_err();
    assert!(errors[0].to_string().contains("\"/srs/kzg_bn254_14.srs\" inside the image is given twice"), "{errors:?}");
    let errors = standard(PROVER, &VERIFIER.replace("/keys/k.json", "/verifier"), PAIR).load().unwrap_err();
    assert!(errors[0].to_string().contains("program itself lives at /verifier"), "{errors:?}");
}

#[test]
fn toml_syntax_error() {
    let e = prover_error(replace("cpus = 2", "cpus = = 2"));
    assert_error(&e, 7, &[]);
}

#[test]
fn pair_naming_an_image_that_does_not_exist() {
    let errors =
        standard(PROVER, VERIFIER, &PAIR.replace("verifier = \"header-verifier\"", "verifier = \"header-verifer\""))
            .load()
            .unwrap_err();
    assert_eq!(errors.len(), 1);
    let shown = errors[0].to_string();
    assert!(shown.starts_with(&format!("{}12:", pair_line("verifier ="))), "{shown}");
    assert!(shown.contains("pair.verifier") && shown.contains("header-prover, header-verifier"), "{shown}");
}

#[test]
fn pair_with_the_same_image_twice() {
    let errors =
        standard(PROVER, VERIFIER, &PAIR.replace("verifier = \"header-verifier\"", "verifier = \"header-prover\""))
            .load()
            .unwrap_err();
    assert!(errors.iter().any(|e| e.to_string().contains("different image")), "{errors:?}");
}

#[test]
fn pair_unknown_key_missing_key_and_duplicate() {
    let errors = standard(PROVER, VERIFIER, &PAIR.replace("[inputs]", "cpus = 2\n[inputs]")).load().unwrap_err();
    assert!(errors[0].to_string().contains("unknown field `cpus`"), "{errors:?}");
    let errors = standard(PROVER, VERIFIER, "[pair]\nname = \"p\"\nprover = \"header-prover\"\n").load().unwrap_err();
    assert!(errors[0].to_string().contains("missing field `verifier`"), "{errors:?}");
    let errors = standard(PROVER, VERIFIER, PAIR.split("[inputs]").next().unwrap()).load().unwrap_err();
    assert!(errors[0].to_string().contains("missing field `prove`"), "{errors:?}");
    let errors = Scratch::new(&[
        ("manifests/images/header-prover.toml", PROVER),
        ("manifests/images/header-verifier.toml", VERIFIER),
        ("manifests/pairs/a.toml", PAIR),
        ("manifests/pairs/b.toml", PAIR),
    ])
    .load()
    .unwrap_err();
    assert!(
        errors[0].to_string().contains("pair name \"header-chain\" is already used by manifests/pairs/a.toml"),
        "{errors:?}"
    );
}

#[test]
fn no_manifests_at_all() {
    let errors = Scratch::new(&[("README", "")]).load().unwrap_err();
    assert!(errors[0].to_string().contains("no image manifests"), "{errors:?}");
}

#[test]
fn every_error_is_reported_in_one_pass() {
    let errors = standard(
        &PROVER.replace("cpus = 2", "cpus = 0"),
        &VERIFIER.replace("memory = \"512M\"", "memory = \"lots\""),
        PAIR,
    )
    .load()
    .unwrap_err();
    // Both broken images; the pair naming them is not reported on top.
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].to_string().starts_with("manifests/images/header-prover.toml:7:"));
    assert!(errors[1].to_string().starts_with("manifests/images/header-verifier.toml:5:"));
}

#[test]
fn nanos_builder_pins_and_sizes() {
    let with_nanos = |extra: &'static str| move |s: &str| format!("{s}\n[nanos]\nversion = \"0.1.52\"\n{extra}");
    // Line 18 is `[nanos]`, 19 its version, 20 the key under test.
    let good = standard(
        &with_nanos("builder = \"native\"\nkernel = \"k.img\"\nboot = \"b.img\"\nroot_size = \"64M\"\n")(PROVER),
        VERIFIER,
        PAIR,
    )
    .load()
    .unwrap();
    let nanos = good.image("header-prover").unwrap().nanos.clone().unwrap();
    assert_eq!(nanos.builder, xtask::spec::manifest::Builder::Native);
    assert_eq!(nanos.root_size.unwrap().bytes(), 64 << 20);
    assert_error(&prover_error(with_nanos("builder = \"docker\"\n")), 20, &["unknown variant", "ops", "native"]);
    assert_error(&prover_error(with_nanos("kernel_sha256 = \"abc\"\n")), 20, &["64 lowercase hex"]);
    assert_error(&prover_error(with_nanos("boot_sha256 = 12\n")), 20, &["string"]);
    assert_error(&prover_error(with_nanos("root_size = \"64\"\n")), 20, &["no unit"]);
    assert_error(&prover_error(with_nanos("root_size = \"100K\"\n")), 20, &["below 1M"]);
    assert_error(&prover_error(with_nanos("kernal = \"k.img\"\n")), 20, &["unknown field", "kernel"]);
}

#[test]
fn host_paths_and_the_target_placeholder() {
    let source = "source = \"params/kzg_bn254_14.srs\"";
    for (bad, says) in [
        ("source = \"${targt}/srs/x.srs\"", "unknown placeholder `${targt}`"),
        ("source = \"srs/${target}/x.srs\"", "unknown placeholder `${target}`"),
        ("source = \"${target}\"", "must be followed by `/` and a file"),
        ("source = \"${target}x.srs\"", "must be followed by `/` and a file"),
        ("source = \"${target}/../x.srs\"", "must stay inside the target directory"),
        ("source = \"${target}//etc/x.srs\"", "must stay inside the target directory"),
        ("source = \"\"", "host path is empty"),
    ] {
        assert_error(&prover_error(replace(source, bad)), 10, &[says]);
    }
    // Resolution: `${target}/…` under cargo's target directory, the rest under the root.
    let manifests =
        standard(&PROVER.replace(source, "source = \"${target}/srs/x.srs\""), VERIFIER, PAIR).load().unwrap();
    let srs = &manifests.image("header-prover").unwrap().srs.as_ref().unwrap().source;
    assert_eq!(srs.resolve(Path::new("/ws"), Path::new("/shared/t")), Path::new("/shared/t/srs/x.srs"));
    assert_eq!(srs.under_target(), Some("srs/x.srs"));
    let key = &manifests.image("header-verifier").unwrap().files[0].source;
    assert_eq!(key.resolve(Path::new("/ws"), Path::new("/shared/t")), Path::new("/ws/keys/k.json"));
    assert_eq!(key.file_name(), "k.json");
}

#[test]
fn workflow_mistakes_point_at_their_line_and_column() {
    let pair = PAIR
        .replace("${inputs.witness}", "${inputs.witnes}")
        .replace("\"/workspace/proof.json\"", "\"/tmp/proof.json\"");
    let errors = standard(PROVER, VERIFIER, &pair).load().unwrap_err();
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    // The typo is reported where the prover uses it, where the preflight
    // does and where the check does.
    assert_eq!(shown.len(), 4, "{shown:?}");
    let prove_args = {
        let prove = PAIR.find("[prove]").unwrap();
        let line = PAIR[..prove].lines().count() + PAIR[prove..].lines().position(|l| l.starts_with("args")).unwrap();
        format!("manifests/pairs/header-chain.toml:{}:", line + 1)
    };
    assert!(
        shown.iter().any(|e| e.starts_with(&prove_args)
            && e.contains("placeholder ${inputs.witnes} names nothing this step can use; it can use: ${inputs.witness}, ${outputs.proof}")),
        "{shown:?}"
    );
    assert!(
        shown.iter().any(|e| e.starts_with(&pair_line("outputs ="))
            && e.contains("key `prove.outputs.proof`: \"/tmp/proof.json\" is not a file under /workspace/")),
        "{shown:?}"
    );
}

#[test]
fn a_check_naming_a_variable_its_image_does_not_set_is_refused() {
    let pair = PAIR.replace("${verifier.env.HEADER_CHAIN_KEYS}", "${verifier.env.HEADER_CHAIN_KEY}");
    let errors = standard(PROVER, VERIFIER, &pair).load().unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let shown = errors[0].to_string();
    let check_args = pair_line("args = [\"check\"");
    assert!(shown.starts_with(&check_args), "{shown}");
    assert!(shown.contains("placeholder ${verifier.env.HEADER_CHAIN_KEY} names nothing it can use"), "{shown}");
    // The prover image does not set the verifier's variable either.
    let pair = PAIR.replace("${verifier.env.HEADER_CHAIN_KEYS}", "${prover.env.HEADER_CHAIN_KEYS}");
    assert_eq!(standard(PROVER, VERIFIER, &pair).load().unwrap_err().len(), 1);
}

#[test]
fn a_make_recipe_is_checked_where_it_is_written() {
    let with_make =
        |make: &str| VERIFIER.replace("path = \"/keys/k.json\"\n", &format!("path = \"/keys/k.json\"\n{make}\n"));
    let good =
        with_make(r#"make = { program = "prover", args = ["keygen", "--srs", "${prover.srs}", "--out", "${out}"] }"#);
    let m = standard(PROVER, &good, PAIR).load().unwrap();
    let recipe = m.image("header-verifier").unwrap().files[0].make.as_ref().unwrap();
    assert_eq!(recipe.resolve("/t/k.json", "/t/srs"), ["keygen", "--srs", "/t/srs", "--out", "/t/k.json"]);

    let bad = with_make(r#"make = { program = "ops", args = ["--out=${outt}", "${prover.sr}"] }"#);
    let errors = standard(PROVER, &bad, PAIR).load().unwrap_err();
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let line = bad.lines().position(|l| l.starts_with("make =")).unwrap() + 1;
    let at = format!("manifests/images/header-verifier.toml:{line}:");
    assert_eq!(shown.len(), 4, "{shown:#?}");
    assert!(shown.iter().all(|e| e.starts_with(&at)), "{shown:#?}");
    assert!(shown[0].contains("\"ops\" is not a program of the pair"), "{shown:#?}");
    assert!(shown[1].contains("placeholder ${outt} names nothing a recipe can use; it can use: ${out}, ${prover.srs}"));
    assert!(shown[2].contains("placeholder ${prover.sr} names nothing"), "{shown:#?}");
    assert!(shown[3].contains("never names the file it makes"), "{shown:#?}");

    // A recipe runs a program of the image's pair: an image in no pair has none.
    let errors = Scratch::new(&[
        ("manifests/images/header-prover.toml", PROVER),
        ("manifests/images/header-verifier.toml", &good),
        ("manifests/pairs/.keep", ""),
    ])
    .load()
    .unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].to_string().contains("no pair names image \"header-verifier\""), "{errors:#?}");
}
