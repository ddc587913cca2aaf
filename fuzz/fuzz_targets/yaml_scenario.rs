//! The scenario loader: the input is written as `scenarios/card/fuzz.yaml` of a scratch tree
//! whose `fixtures` and `scenarios/_worlds` are the repository's own, so the references the
//! suite uses (`../../fixtures/cards/standard.yaml`, `../_worlds/clinic.yaml`) resolve.
//! Invariant: no panic — bad input is a typed error naming its location.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use myna_hil::scenario::load::load_scenario;

fn scenario_path() -> &'static PathBuf {
    static TREE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = TREE.get_or_init(|| {
        let repository = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let root = tempfile::tempdir().unwrap_or_else(|error| panic!("scratch dir: {error}"));
        let card_dir = root.path().join("scenarios/card");
        std::fs::create_dir_all(&card_dir).unwrap_or_else(|error| panic!("{error}"));
        let links = [
            (repository.join("fixtures"), root.path().join("fixtures")),
            (
                repository.join("scenarios/_worlds"),
                root.path().join("scenarios/_worlds"),
            ),
        ];
        for (target, link) in links {
            std::os::unix::fs::symlink(target, link).unwrap_or_else(|error| panic!("{error}"));
        }
        let path = card_dir.join("fuzz.yaml");
        (root, path)
    });
    path
}

fuzz_target!(|data: &[u8]| {
    let path = scenario_path();
    if std::fs::write(path, data).is_ok() {
        let _ = load_scenario(path);
    }
});
