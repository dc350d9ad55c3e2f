//! [`Rego`]: the `.rego` files OPA runs, evaluated in process by [regorus].
//!
//! A bundle is a directory: every `*.rego` file under it is a module, and every `data.json`
//! is data at the path of its directory (`roles/data.json` → `data.roles`), as `opa run` loads
//! it. The entrypoint is a rule whose value is a decision object (`{"allow": bool, "reasons":
//! [...], "obligations": {...}}`, see [`Decision::from_result`]) or a boolean.
//!
//! ```
//! use iam_core::principal::{Principal, PrincipalKind};
//! use iam_policy::{PolicyInput, Rego, Resource};
//! let rego = Rego::from_modules(
//!     [("authz.rego", r#"
//!         package authz
//!         default allow := false
//!         allow if input.subject.id == input.resource.attributes.owner
//!     "#)],
//!     serde_json::json!({}),
//!     "data.authz.allow",
//! ).unwrap();
//! let alice = Principal::builder("alice", PrincipalKind::UserSession).build();
//! let mine = Resource::new("notes").attribute("owner", "alice");
//! assert!(rego.evaluate(&PolicyInput::new(&alice, "notes:read", mine)).unwrap().allow);
//! ```
//!
//! Hot reload: [`Rego::reload`] reads the directory again and swaps the whole bundle at once;
//! decisions in flight finish on the old one, a bundle that does not compile is refused and
//! the old one stays in force. Call it from a SIGHUP handler or a timer.
//!
//! ## Caveats
//! - regorus implements the Rego language and most of OPA's builtins; this build leaves out
//!   `http.send`, `time.*`, `regex.*`, `glob.*`, `net.*`, YAML and JSON Schema builtins (a
//!   policy that calls one does not load). Run OPA's own tests on a policy before using it
//!   here, and compare: the parity suite of this crate does that for its table.
//! - Every evaluation has a time limit (default 100 ms): a runaway policy is an
//!   [`PolicyError::Evaluation`], never an allow.
//! - The version label is the `revision` of a `.manifest` file in the bundle, else a digest
//!   of its files.
//!
//! [regorus]: https://docs.rs/regorus
use crate::decision::{BoxFuture, Decision, FailureMode, PolicyDecisionPoint, PolicyError};
use crate::input::{InputDigest, InputLimits, PolicyInput};
use crate::PolicyLoadError;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Engines kept ready per bundle (one per concurrent evaluation, up to this many).
const POOL: usize = 64;

struct Bundle {
    prototype: regorus::Engine,
    pool: Mutex<Vec<regorus::Engine>>,
    version: String,
}

/// A Rego bundle evaluated in process. See the [module docs](self).
pub struct Rego {
    current: RwLock<Arc<Bundle>>,
    dir: Option<PathBuf>,
    entrypoint: String,
    limits: InputLimits,
    failure: FailureMode,
    time_limit: Duration,
}

impl std::fmt::Debug for Rego {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rego")
            .field("dir", &self.dir)
            .field("entrypoint", &self.entrypoint)
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

fn compile(
    modules: &[(String, String)],
    data: Value,
    entrypoint: &str,
    time_limit: Duration,
    version: String,
) -> Result<Bundle, PolicyLoadError> {
    let mut engine = regorus::Engine::new();
    for (name, text) in modules {
        engine
            .add_policy(name.clone(), text.clone())
            .map_err(|e| PolicyLoadError::Rego(format!("{name}: {e}")))?;
    }
    engine
        .add_data(regorus::Value::from(data))
        .map_err(|e| PolicyLoadError::Rego(format!("data: {e}")))?;
    engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
        limit: time_limit,
        check_interval: std::num::NonZeroU32::new(64).unwrap_or(std::num::NonZeroU32::MIN),
    });
    // Refuse an entrypoint that no module defines now, not on the first request.
    let mut probe = engine.clone();
    probe.set_input(regorus::Value::new_object());
    probe
        .eval_rule(entrypoint.to_owned())
        .map_err(|e| PolicyLoadError::Rego(format!("entrypoint {entrypoint}: {e}")))?;
    Ok(Bundle {
        prototype: engine,
        pool: Mutex::new(Vec::new()),
        version,
    })
}

/// Put `value` at `path` (object keys) inside `root`, merging objects.
fn merge_at(root: &mut Value, path: &[String], value: Value) -> Result<(), PolicyLoadError> {
    let mut at = root;
    for key in path {
        let Value::Object(map) = at else {
            return Err(PolicyLoadError::Rego(format!("data conflict at {key}")));
        };
        at = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    match (at, value) {
        (Value::Object(into), Value::Object(from)) => {
            for (k, v) in from {
                if into.insert(k.clone(), v).is_some() {
                    return Err(PolicyLoadError::Rego(format!("data key {k} defined twice")));
                }
            }
            Ok(())
        }
        _ => Err(PolicyLoadError::Rego("a data.json is not an object".into())),
    }
}

struct DirContents {
    modules: Vec<(String, String)>,
    data: Value,
    version: String,
}

fn read_dir(dir: &Path) -> Result<DirContents, PolicyLoadError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| PolicyLoadError::Io { path, source }
    };
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io(&d))? {
            let path = entry.map_err(io(&d))?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut modules = Vec::new();
    let mut data = Value::Object(Default::default());
    let mut hashed = Vec::new();
    let mut revision = None;
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".rego") {
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            hashed.extend_from_slice(rel.as_bytes());
            hashed.extend_from_slice(text.as_bytes());
            modules.push((rel, text));
        } else if name == "data.json" || name == ".manifest" {
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            let value: Value = serde_json::from_str(&text)
                .map_err(|e| PolicyLoadError::Rego(format!("{rel}: {e}")))?;
            hashed.extend_from_slice(rel.as_bytes());
            hashed.extend_from_slice(text.as_bytes());
            if name == ".manifest" {
                revision = value
                    .get("revision")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                continue;
            }
            let at: Vec<String> = path
                .parent()
                .and_then(|p| p.strip_prefix(dir).ok())
                .map(|p| p.iter().map(|c| c.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            merge_at(&mut data, &at, value)?;
        }
    }
    if modules.is_empty() {
        return Err(PolicyLoadError::Rego(format!(
            "no .rego file in {}",
            dir.display()
        )));
    }
    let version = revision.unwrap_or_else(|| {
        format!(
            "sha256:{}",
            &InputDigest::of_json(&hashed).to_string()[..16]
        )
    });
    Ok(DirContents {
        modules,
        data,
        version,
    })
}

impl Rego {
    /// Load the bundle in `dir`, deciding with the rule at `entrypoint`
    /// (e.g. `data.iam.authz.decision`).
    pub fn from_dir(dir: impl Into<PathBuf>, entrypoint: &str) -> Result<Self, PolicyLoadError> {
        let dir = dir.into();
        let time_limit = Duration::from_millis(100);
        let c = read_dir(&dir)?;
        let bundle = compile(&c.modules, c.data, entrypoint, time_limit, c.version)?;
        Ok(Self::with_bundle(bundle, Some(dir), entrypoint, time_limit))
    }

    /// A bundle from modules in memory (`(file name, text)`) and a data document.
    pub fn from_modules<I, N, T>(
        modules: I,
        data: Value,
        entrypoint: &str,
    ) -> Result<Self, PolicyLoadError>
    where
        I: IntoIterator<Item = (N, T)>,
        N: Into<String>,
        T: Into<String>,
    {
        let modules: Vec<(String, String)> = modules
            .into_iter()
            .map(|(n, t)| (n.into(), t.into()))
            .collect();
        let mut hashed = Vec::new();
        for (n, t) in &modules {
            hashed.extend_from_slice(n.as_bytes());
            hashed.extend_from_slice(t.as_bytes());
        }
        hashed.extend_from_slice(data.to_string().as_bytes());
        let version = format!(
            "sha256:{}",
            &InputDigest::of_json(&hashed).to_string()[..16]
        );
        let time_limit = Duration::from_millis(100);
        let bundle = compile(&modules, data, entrypoint, time_limit, version)?;
        Ok(Self::with_bundle(bundle, None, entrypoint, time_limit))
    }

    fn with_bundle(
        bundle: Bundle,
        dir: Option<PathBuf>,
        entrypoint: &str,
        time_limit: Duration,
    ) -> Self {
        Self {
            current: RwLock::new(Arc::new(bundle)),
            dir,
            entrypoint: entrypoint.to_owned(),
            limits: InputLimits::default(),
            failure: FailureMode::default(),
            time_limit,
        }
    }

    /// Input limits (default [`InputLimits::default`]).
    pub fn limits(mut self, limits: InputLimits) -> Self {
        self.limits = limits;
        self
    }
    /// What to answer when the policy fails to evaluate (default: the error, so 503).
    pub fn on_failure(mut self, mode: FailureMode) -> Self {
        self.failure = mode;
        self
    }

    /// Read the bundle directory again and swap it in at once. On an error (a file that does
    /// not parse, a missing entrypoint) the bundle in force stays.
    pub fn reload(&self) -> Result<(), PolicyLoadError> {
        let Some(dir) = &self.dir else {
            return Err(PolicyLoadError::Rego(
                "this bundle was not loaded from a directory".into(),
            ));
        };
        let c = read_dir(dir)?;
        let bundle = compile(
            &c.modules,
            c.data,
            &self.entrypoint,
            self.time_limit,
            c.version,
        )?;
        let fresh = Arc::new(bundle);
        match self.current.write() {
            Ok(mut current) => *current = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }

    /// The version label of the bundle in force.
    pub fn version(&self) -> String {
        self.bundle().version.clone()
    }

    fn bundle(&self) -> Arc<Bundle> {
        match self.current.read() {
            Ok(b) => Arc::clone(&b),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The decision, synchronously (what [`PolicyDecisionPoint::decide`] returns).
    pub fn evaluate(&self, input: &PolicyInput) -> Result<Decision, PolicyError> {
        if let Err(rejected) = input.check(&self.limits) {
            return Ok(Decision::deny([rejected.reason()]));
        }
        self.failure.apply(self.run(input))
    }

    fn run(&self, input: &PolicyInput) -> Result<Decision, PolicyError> {
        let value: regorus::Value = serde_json::from_value(input.to_json())
            .map_err(|e| PolicyError::Evaluation(e.to_string().into()))?;
        let bundle = self.bundle();
        let pooled = bundle.pool.lock().ok().and_then(|mut p| p.pop());
        let mut engine = pooled.unwrap_or_else(|| bundle.prototype.clone());
        engine.set_input(value);
        let result = engine
            .eval_rule(self.entrypoint.clone())
            .map_err(|e| PolicyError::Evaluation(e.to_string().into()))?;
        // Only an engine that finished cleanly goes back to the pool.
        if let Ok(mut pool) = bundle.pool.lock() {
            if pool.len() < POOL {
                pool.push(engine);
            }
        }
        if result == regorus::Value::Undefined {
            return Err(PolicyError::InvalidAnswer(
                "the entrypoint is undefined for this input".into(),
            ));
        }
        let json = serde_json::to_value(&result)
            .map_err(|e| PolicyError::InvalidAnswer(e.to_string().into()))?;
        Decision::from_result(&json)
    }
}

impl PolicyDecisionPoint for Rego {
    fn decide<'a>(
        &'a self,
        input: &'a PolicyInput,
    ) -> BoxFuture<'a, Result<Decision, PolicyError>> {
        let decision = self.evaluate(input);
        Box::pin(std::future::ready(decision))
    }
    fn policy_version(&self) -> Option<String> {
        Some(self.version())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Resource, Subject};
    use serde_json::json;

    fn input(id: &str) -> PolicyInput {
        let s: Subject = serde_json::from_value(json!({"id": id, "kind": "user_session"})).unwrap();
        PolicyInput::from_subject(
            s,
            "notes:read",
            Resource::new("notes").attribute("owner", "alice"),
        )
    }

    const OWNER: &str = "package authz\ndefault allow := false\nallow if input.subject.id == input.resource.attributes.owner\n";

    #[test]
    fn a_reload_swaps_the_bundle_and_a_broken_one_leaves_the_old_in_force() {
        let dir = iam_testkit::scratch::TempDir::new();
        std::fs::write(dir.path().join("authz.rego"), OWNER).unwrap();
        let rego = Rego::from_dir(dir.path(), "data.authz.allow").unwrap();
        let v1 = rego.version();
        assert!(rego.evaluate(&input("alice")).unwrap().allow);
        assert!(!rego.evaluate(&input("bob")).unwrap().allow);

        std::fs::write(
            dir.path().join("authz.rego"),
            "package authz\nallow := true\n",
        )
        .unwrap();
        rego.reload().unwrap();
        assert_ne!(rego.version(), v1);
        assert!(rego.evaluate(&input("bob")).unwrap().allow);

        std::fs::write(dir.path().join("authz.rego"), "package authz\nallow if {\n").unwrap();
        assert!(matches!(rego.reload(), Err(PolicyLoadError::Rego(_))));
        assert!(
            rego.evaluate(&input("bob")).unwrap().allow,
            "the old bundle stays"
        );
    }

    #[test]
    fn data_files_land_at_their_directory_path_and_a_manifest_names_the_version() {
        let dir = iam_testkit::scratch::TempDir::new();
        std::fs::create_dir(dir.path().join("roles")).unwrap();
        std::fs::write(dir.path().join("roles/data.json"), r#"{"admin": ["x"]}"#).unwrap();
        std::fs::write(dir.path().join(".manifest"), r#"{"revision": "r42"}"#).unwrap();
        std::fs::write(
            dir.path().join("authz.rego"),
            "package authz\nallow if \"x\" in data.roles.admin\n",
        )
        .unwrap();
        let rego = Rego::from_dir(dir.path(), "data.authz.allow").unwrap();
        assert_eq!(rego.version(), "r42");
        assert!(rego.evaluate(&input("bob")).unwrap().allow);
    }

    #[test]
    fn a_missing_entrypoint_or_an_empty_directory_is_refused_at_load() {
        let e = Rego::from_modules([("a.rego", OWNER)], json!({}), "data.authz.nope");
        assert!(matches!(e, Err(PolicyLoadError::Rego(_))));
        let dir = iam_testkit::scratch::TempDir::new();
        assert!(matches!(
            Rego::from_dir(dir.path(), "data.x"),
            Err(PolicyLoadError::Rego(_))
        ));
    }

    #[test]
    fn an_undefined_or_malformed_result_fails_closed() {
        let rego = Rego::from_modules(
            [(
                "a.rego",
                "package authz\nallow if input.subject.id == \"alice\"\nodd := \"yes\"\n",
            )],
            json!({}),
            "data.authz.allow",
        )
        .unwrap();
        assert!(matches!(
            rego.evaluate(&input("bob")),
            Err(PolicyError::InvalidAnswer(_))
        ));
        let denying = Rego::from_modules(
            [(
                "a.rego",
                "package authz\nallow if input.subject.id == \"alice\"\n",
            )],
            json!({}),
            "data.authz.allow",
        )
        .unwrap()
        .on_failure(FailureMode::Deny);
        assert_eq!(
            denying.evaluate(&input("bob")).unwrap(),
            Decision::deny(["pdp_unavailable"])
        );
        let odd = Rego::from_modules(
            [("a.rego", "package authz\nodd := \"yes\"\n")],
            json!({}),
            "data.authz.odd",
        )
        .unwrap();
        assert!(matches!(
            odd.evaluate(&input("bob")),
            Err(PolicyError::InvalidAnswer(_))
        ));
    }
}
