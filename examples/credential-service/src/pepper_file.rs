//! The development pepper file (`credentials.pepper`, used when `CREDENTIALS_PEPPER` is not
//! set outside production).
//!
//! Created once, atomically, with mode 0600 from the first byte: the secret is written to a
//! fresh temporary file opened with `O_CREAT | O_EXCL | O_NOFOLLOW` and mode 0600, then
//! hard-linked to its name (which fails rather than replace anything, symlinks included).
//! Read with `O_NOFOLLOW`. An existing file is never overwritten: one that cannot be read
//! or does not hold a pepper is a startup error (replacing it would invalidate every stored
//! credential).
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

/// Why the pepper file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PepperFileError {
    /// It exists but cannot be read (permissions, a symlink, a directory, ...).
    #[error("{path} exists but cannot be read ({source}); fix or remove it (removing it invalidates every stored credential)")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It exists but does not hold a 32-byte (or longer) hex pepper.
    #[error("{path} does not hold a pepper (64 or more hex digits); fix or remove it (removing it invalidates every stored credential)")]
    Malformed {
        /// The file.
        path: PathBuf,
    },
    /// It could not be created.
    #[error("cannot create {path}: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No randomness to generate a pepper.
    #[error("no randomness to generate a pepper")]
    Random,
}

/// The pepper kept at `path` (hex), created when there is no file there yet; `created`
/// tells which.
pub fn load_or_create(path: &Path) -> Result<(String, bool), PepperFileError> {
    match read(path) {
        Ok(s) => return Ok((s, false)),
        Err(PepperFileError::Unreadable { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key).map_err(|_| PepperFileError::Random)?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let create = |source| PepperFileError::Create {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("pepper"),
        std::process::id()
    ));
    let written = (|| {
        let mut f = open_options().write(true).create_new(true).open(&tmp)?;
        f.write_all(hex.as_bytes())?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(create(e));
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok((hex, true)),
        // Another instance created it meanwhile (or something is in the way): use what is
        // there, never replace it.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path).map(|s| (s, false)),
        Err(e) => Err(create(e)),
    }
}

#[cfg(unix)]
fn open_options() -> std::fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut o = std::fs::OpenOptions::new();
    o.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    o
}

#[cfg(not(unix))]
fn open_options() -> std::fs::OpenOptions {
    std::fs::OpenOptions::new()
}

fn read(path: &Path) -> Result<String, PepperFileError> {
    let unreadable = |source| PepperFileError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let mut f = open_options().read(true).open(path).map_err(unreadable)?;
    if !f.metadata().map_err(unreadable)?.is_file() {
        return Err(unreadable(std::io::Error::other("not a regular file")));
    }
    let mut s = String::new();
    std::io::Read::take(&mut f, 4096)
        .read_to_string(&mut s)
        .map_err(|_| PepperFileError::Malformed {
            path: path.to_owned(),
        })?;
    let s = s.trim().to_owned();
    if s.len() < 64 || !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PepperFileError::Malformed {
            path: path.to_owned(),
        });
    }
    Ok(s)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "pepper-file-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_pepper_file_is_created_0600_once_and_then_only_read() {
        let d = dir("create");
        let path = d.join("credentials.pepper");
        let (first, created) = load_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (again, created) = load_or_create(&path).unwrap();
        assert_eq!((again, created), (first, false));
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_pepper_file_path_that_is_a_symlink_is_neither_followed_nor_replaced() {
        let d = dir("symlink");
        let target = d.join("elsewhere");
        let path = d.join("credentials.pepper");
        // A dangling link: creating through it would write the attacker's chosen file.
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(load_or_create(&path).is_err());
        assert!(!target.exists(), "nothing written through the link");
        // A link to a real pepper is not read either.
        std::fs::write(&target, "ab".repeat(32)).unwrap();
        assert!(matches!(
            load_or_create(&path),
            Err(PepperFileError::Unreadable { .. })
        ));
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn an_existing_pepper_file_that_cannot_be_used_is_an_error_never_replaced() {
        let d = dir("existing");
        let path = d.join("credentials.pepper");
        for bad in ["", "not hex at all", &"ab".repeat(8)] {
            std::fs::write(&path, bad).unwrap();
            let e = load_or_create(&path).unwrap_err();
            assert!(matches!(e, PepperFileError::Malformed { .. }), "{bad:?}");
            assert!(e.to_string().contains("credentials.pepper"));
            assert_eq!(std::fs::read_to_string(&path).unwrap(), bad, "kept");
        }
        // Unreadable: a directory in its place.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(matches!(
            load_or_create(&path),
            Err(PepperFileError::Unreadable { .. })
        ));
        assert!(path.is_dir(), "kept");
        let _ = std::fs::remove_dir_all(&d);
    }
}
