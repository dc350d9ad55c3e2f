//! The native verdicts that the iam-wasm JavaScript tests replay.

/// When `IAM_VERDICTS_DIR` is set, write `doc` to `$IAM_VERDICTS_DIR/{name}.json`: the
/// verdicts of this native run, which the iam-wasm JavaScript tests replay through the wasm
/// build and must reproduce exactly.
pub fn export_verdicts(name: &str, doc: &serde_json::Value) {
    if let Some(dir) = std::env::var_os("IAM_VERDICTS_DIR") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.json")), doc.to_string()).unwrap();
    }
}
