//! Checks a double's bodies against a published OpenAPI document (vendored under
//! [`crate::data::specs_dir`]), so a test double answers with exactly the shapes of the real
//! server. A contract test should also show the check is real: a body that breaks the
//! schema is refused ([`OpenApi::errors`] is not empty).
use serde_json::{json, Value};

/// One OpenAPI document, loaded once.
#[derive(Debug, Clone)]
pub struct OpenApi {
    root: Value,
}

impl OpenApi {
    /// Load `name` from the vendored specs (e.g. `kratos-v26.2.0-api.json`).
    pub fn load(name: &str) -> Self {
        Self {
            root: crate::data::spec_json(name),
        }
    }

    /// The Ory Kratos API.
    pub fn kratos() -> &'static Self {
        static SPEC: std::sync::OnceLock<OpenApi> = std::sync::OnceLock::new();
        SPEC.get_or_init(|| Self::load("kratos-v26.2.0-api.json"))
    }

    /// The Ory Hydra API.
    pub fn hydra() -> &'static Self {
        static SPEC: std::sync::OnceLock<OpenApi> = std::sync::OnceLock::new();
        SPEC.get_or_init(|| Self::load("hydra-v26.2.0-api.json"))
    }

    /// The whole document.
    pub fn document(&self) -> &Value {
        &self.root
    }

    /// Why `body` does not match `#/components/schemas/{schema}` (empty when it does).
    pub fn errors(&self, schema: &str, body: &Value) -> Vec<String> {
        // The whole spec is the root document, so `#/components/schemas/...` references resolve.
        let mut root = self.root.clone();
        root["$ref"] = json!(format!("#/components/schemas/{schema}"));
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .build(&root)
            .unwrap_or_else(|e| panic!("schema {schema} does not compile: {e}"));
        validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    /// Panic unless `body` matches `#/components/schemas/{schema}`.
    pub fn assert_valid(&self, schema: &str, body: &Value) {
        let errors = self.errors(schema, body);
        assert!(
            errors.is_empty(),
            "{schema} body breaks the spec: {errors:?}\n{body}"
        );
    }
}
