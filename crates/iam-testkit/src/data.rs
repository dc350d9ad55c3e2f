//! The vendored specifications and test vectors (`crates/iam-testkit/data/`).
use std::path::PathBuf;

/// The data folder: `IAM_TESTDATA_DIR` when set (same layout: `specs/`, `vectors/`), else the
/// copy vendored in this crate.
pub fn data_dir() -> PathBuf {
    let dir = match std::env::var_os("IAM_TESTDATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data"),
    };
    assert!(dir.is_dir(), "test data not found at {}", dir.display());
    dir
}

/// Published specifications: Ory OpenAPI documents, Oathkeeper schemas and rule files.
pub fn specs_dir() -> PathBuf {
    data_dir().join("specs")
}

/// Test vectors: Wycheproof JWS/JWK, RFC 6238 TOTP.
pub fn vectors_dir() -> PathBuf {
    data_dir().join("vectors")
}

/// Read and parse one JSON file under [`specs_dir`].
pub fn spec_json(name: &str) -> serde_json::Value {
    read_json(specs_dir().join(name))
}

/// Read and parse one JSON file under [`vectors_dir`].
pub fn vector_json(name: &str) -> serde_json::Value {
    read_json(vectors_dir().join(name))
}

fn read_json(path: PathBuf) -> serde_json::Value {
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_vendored_specs_and_vectors_are_found() {
        assert!(super::spec_json("kratos-v26.2.0-api.json")["paths"].is_object());
        assert!(
            super::vector_json("wycheproof/json_web_signature_test.json")["testGroups"].is_array()
        );
    }
}
