//! Rule repositories: files, directories, globs and `inline://` sources, with hot reload.
//!
//! [`RuleRepository::reload`] reads every source, compiles the whole set and swaps it in
//! atomically; when anything fails (a file that does not parse, a pattern that does not
//! compile, two rules with one id) the previous set stays and the error is returned and kept
//! in [`RuleRepository::last_error`]. [`RuleRepository::watch`] polls the sources' sizes and
//! modification times and reloads on change.
//!
//! ```
//! use iam_proxy::rules::{MatchingStrategy, RuleRepository, RuleSource, RuleSet};
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("a.yaml"), "- id: a\n  match: {url: 'http://h/a', methods: [GET]}\n").unwrap();
//! let repo = RuleRepository::new(
//!     vec![RuleSource::parse(dir.path().to_str().unwrap()).unwrap()],
//!     MatchingStrategy::Regexp,
//!     |set: RuleSet| Ok::<_, iam_proxy::RuleError>(set),
//! );
//! repo.reload().unwrap();
//! assert_eq!(repo.current().unwrap().len(), 1);
//! std::fs::write(dir.path().join("b.json"), "[{").unwrap();
//! assert!(repo.reload().is_err());                 // broken file: reported...
//! assert_eq!(repo.current().unwrap().len(), 1);    // ...and the previous set stays
//! ```
//!
//! # Caveats
//! `http(s)://` repositories are not fetched (refused by [`RuleSource::parse`]); serve the
//! files locally. A directory is read one level deep (`.json`, `.yaml`, `.yml`), a glob only in
//! its last path component.
use super::{parse_rules, MatchingStrategy, RuleSet, RuleSpec};
use crate::error::RuleError;
use base64::Engine as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

/// Where rules come from (Oathkeeper's `access_rules.repositories` entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    /// A file, or every rule file in a directory.
    Path(PathBuf),
    /// Files whose name matches a glob (`*`, `?`) in one directory.
    Glob {
        /// The directory.
        dir: PathBuf,
        /// The file-name pattern.
        pattern: String,
    },
    /// `inline://<base64>`: the rules themselves.
    Inline(String),
}

impl RuleSource {
    /// `file:///abs`, `file://rel`, `inline://BASE64`, or a plain path (with `*`/`?` in its
    /// last component: a glob).
    pub fn parse(location: &str) -> Result<Self, RuleError> {
        if let Some(b64) = location.strip_prefix("inline://") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| RuleError::Source {
                    location: "inline://…".into(),
                    reason: e.to_string(),
                })?;
            let text = String::from_utf8(bytes).map_err(|_| RuleError::Source {
                location: "inline://…".into(),
                reason: "not UTF-8".into(),
            })?;
            return Ok(Self::Inline(text));
        }
        if location.starts_with("http://") || location.starts_with("https://") {
            return Err(RuleError::Source {
                location: location.into(),
                reason: "remote rule repositories are not supported; use a file".into(),
            });
        }
        let path = location.strip_prefix("file://").unwrap_or(location);
        let path = PathBuf::from(path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.contains(['*', '?']) {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            return Ok(Self::Glob { dir, pattern: name });
        }
        Ok(Self::Path(path))
    }

    /// The files this source names now, sorted.
    fn files(&self) -> Result<Vec<PathBuf>, RuleError> {
        let list_dir = |dir: &Path, keep: &dyn Fn(&str) -> bool| {
            let entries = std::fs::read_dir(dir).map_err(|e| RuleError::Source {
                location: dir.display().to_string(),
                reason: e.to_string(),
            })?;
            let mut out = Vec::new();
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if path.is_file() && keep(&name) {
                    out.push(path);
                }
            }
            out.sort();
            Ok(out)
        };
        match self {
            Self::Inline(_) => Ok(Vec::new()),
            Self::Path(p) if p.is_dir() => list_dir(p, &|n: &str| {
                n.ends_with(".json") || n.ends_with(".yaml") || n.ends_with(".yml")
            }),
            Self::Path(p) => Ok(vec![p.clone()]),
            Self::Glob { dir, pattern } => {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                list_dir(dir, &|n: &str| name_glob(pattern.as_bytes(), n.as_bytes()))
            }
        }
    }
}

/// `*` and `?` over a file name.
fn name_glob(p: &[u8], n: &[u8]) -> bool {
    match (p.first(), n.first()) {
        (None, None) => true,
        (Some(b'*'), _) => name_glob(&p[1..], n) || (!n.is_empty() && name_glob(p, &n[1..])),
        (Some(b'?'), Some(_)) => name_glob(&p[1..], &n[1..]),
        (Some(a), Some(b)) if a == b => name_glob(&p[1..], &n[1..]),
        _ => false,
    }
}

/// What a successful reload loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// Rules in the new set.
    pub rules: usize,
    /// Files read.
    pub files: usize,
    /// Overlapping rule pairs (`first`, `second`, example).
    pub overlaps: Vec<super::Overlap>,
}

type Compile<T> = dyn Fn(RuleSet) -> Result<T, RuleError> + Send + Sync;

/// The current compiled rules (`T`: the rule set, or what a caller builds from it), swapped
/// whole on reload.
pub struct RuleRepository<T> {
    sources: Vec<RuleSource>,
    strategy: MatchingStrategy,
    compile: Box<Compile<T>>,
    current: RwLock<Option<Arc<T>>>,
    last_error: Mutex<Option<String>>,
    fingerprint: Mutex<Vec<(PathBuf, Option<SystemTime>, u64)>>,
}

impl<T> std::fmt::Debug for RuleRepository<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleRepository")
            .field("sources", &self.sources)
            .field("strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> RuleRepository<T> {
    /// A repository over `sources`; nothing is loaded until [`reload`](Self::reload).
    /// `compile` turns a rule set into what requests use (for example the pipelines).
    pub fn new(
        sources: Vec<RuleSource>,
        strategy: MatchingStrategy,
        compile: impl Fn(RuleSet) -> Result<T, RuleError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            sources,
            strategy,
            compile: Box::new(compile),
            current: RwLock::new(None),
            last_error: Mutex::new(None),
            fingerprint: Mutex::new(Vec::new()),
        }
    }

    /// The current set, `None` before the first successful load.
    pub fn current(&self) -> Option<Arc<T>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The error of the last failed reload, cleared by a successful one.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn fingerprint_now(&self) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
        let mut out = Vec::new();
        for s in &self.sources {
            if let Ok(files) = s.files() {
                for f in files {
                    let meta = std::fs::metadata(&f).ok();
                    out.push((
                        f,
                        meta.as_ref().and_then(|m| m.modified().ok()),
                        meta.map_or(0, |m| m.len()),
                    ));
                }
            }
        }
        out
    }

    /// Read every source, compile, and swap the new set in. On error the previous set stays.
    pub fn reload(&self) -> Result<ReloadReport, RuleError> {
        let fingerprint = self.fingerprint_now();
        let result = self.load();
        *self.fingerprint.lock().unwrap_or_else(|e| e.into_inner()) = fingerprint;
        match result {
            Ok((compiled, report)) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(compiled));
                *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                for o in &report.overlaps {
                    tracing::warn!(first = %o.first, second = %o.second, example = %o.example,
                        "two access rules match the same requests: such requests get 500");
                }
                Ok(report)
            }
            Err(e) => {
                tracing::error!(error = %e, "access rules not reloaded; the previous set stays");
                *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                Err(e)
            }
        }
    }

    fn load(&self) -> Result<(T, ReloadReport), RuleError> {
        let mut specs: Vec<(RuleSpec, String)> = Vec::new();
        let mut files = 0;
        for source in &self.sources {
            if let RuleSource::Inline(text) = source {
                specs.extend(
                    parse_rules(text, "inline")?
                        .into_iter()
                        .map(|r| (r, "inline".into())),
                );
                continue;
            }
            for file in source.files()? {
                let name = file.display().to_string();
                let meta = std::fs::metadata(&file).map_err(|e| RuleError::Source {
                    location: name.clone(),
                    reason: e.to_string(),
                })?;
                if meta.len() > super::MAX_RULE_FILE_BYTES as u64 {
                    return Err(RuleError::Parse {
                        source_name: name,
                        reason: "file too large".into(),
                    });
                }
                let text = std::fs::read_to_string(&file).map_err(|e| RuleError::Source {
                    location: name.clone(),
                    reason: e.to_string(),
                })?;
                specs.extend(
                    parse_rules(&text, &name)?
                        .into_iter()
                        .map(|r| (r, name.clone())),
                );
                files += 1;
            }
        }
        let set = RuleSet::compile_from(specs, self.strategy)?;
        let report = ReloadReport {
            rules: set.len(),
            files,
            overlaps: set.overlaps().to_vec(),
        };
        Ok(((self.compile)(set)?, report))
    }

    /// True when a source file was added, removed or changed since the last reload.
    pub fn changed(&self) -> bool {
        *self.fingerprint.lock().unwrap_or_else(|e| e.into_inner()) != self.fingerprint_now()
    }

    /// Poll the sources every `interval` and reload on change, until the repository is
    /// dropped. Needs a tokio runtime.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(repo) = weak.upgrade() else { return };
                if repo.changed() {
                    let _ = tokio::task::spawn_blocking(move || repo.reload()).await;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(sources: Vec<RuleSource>) -> RuleRepository<RuleSet> {
        RuleRepository::new(sources, MatchingStrategy::Regexp, Ok)
    }

    const RULE_A: &str = r#"[{"id":"a","match":{"url":"http://h/a","methods":["GET"]}}]"#;

    #[test]
    fn a_broken_file_keeps_the_previous_set_and_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), RULE_A).unwrap();
        let r = repo(vec![RuleSource::Path(dir.path().into())]);
        assert!(r.current().is_none());
        assert_eq!(r.reload().unwrap().rules, 1);
        assert!(!r.changed());
        std::fs::write(dir.path().join("b.yaml"), "- id: [").unwrap();
        assert!(r.changed());
        let e = r.reload().unwrap_err();
        assert!(e.to_string().contains("b.yaml"), "{e}");
        assert!(r.last_error().unwrap().contains("b.yaml"));
        assert_eq!(r.current().unwrap().len(), 1);
        std::fs::write(
            dir.path().join("b.yaml"),
            "- id: b\n  match: {url: 'http://h/<b>', methods: [GET]}\n",
        )
        .unwrap();
        assert_eq!(r.reload().unwrap().rules, 2);
        assert!(r.last_error().is_none());
    }

    #[test]
    fn the_same_id_in_two_files_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), RULE_A).unwrap();
        std::fs::write(dir.path().join("b.json"), RULE_A).unwrap();
        let r = repo(vec![RuleSource::Path(dir.path().into())]);
        assert!(matches!(r.reload(), Err(RuleError::DuplicateId(id)) if id == "a"));
    }

    #[test]
    fn sources_parse_from_oathkeeper_locations() {
        assert_eq!(
            RuleSource::parse("file:///etc/rules/*.json").unwrap(),
            RuleSource::Glob {
                dir: "/etc/rules".into(),
                pattern: "*.json".into()
            }
        );
        assert_eq!(
            RuleSource::parse("file://rules.yaml").unwrap(),
            RuleSource::Path("rules.yaml".into())
        );
        let inline = base64::engine::general_purpose::STANDARD.encode(RULE_A);
        let r = repo(vec![
            RuleSource::parse(&format!("inline://{inline}")).unwrap()
        ]);
        assert_eq!(r.reload().unwrap().rules, 1);
        assert!(RuleSource::parse("https://example.com/rules.json").is_err());
        assert!(name_glob(b"*.json", b"a.json"));
        assert!(!name_glob(b"*.json", b"a.yaml"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_watched_repository_picks_up_a_changed_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.json");
        std::fs::write(&file, RULE_A).unwrap();
        let r = Arc::new(repo(vec![RuleSource::Path(file.clone())]));
        r.reload().unwrap();
        let task = r.watch(Duration::from_millis(20));
        std::fs::write(&file, RULE_A.replace("\"a\"", "\"renamed-rule\"")).unwrap();
        for _ in 0..200 {
            if r.current().unwrap().rules()[0].spec().id == "renamed-rule" {
                task.abort();
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the changed file was not reloaded");
    }
}
