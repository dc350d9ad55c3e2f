//! [`Secret`]: the one wrapper for values that must never be logged, shown or left in memory.
//!
//! ```
//! use iam_core::secret::Secret;
//! let token = Secret::new(String::from("pat_3fK9xQ2m"));
//! assert_eq!(format!("{token:?}"), "Secret(<redacted>)");
//! assert_eq!(token.secret(), "pat_3fK9xQ2m");
//! ```
//!
//! ## Caveats
//! - Zeroing on drop covers this value only: copies taken through [`Secret::secret`] (a
//!   `String` built from it, a header value) are the caller's to keep short-lived.
//! - No `PartialEq`: compare secrets with [`subtle::ConstantTimeEq`] on their bytes, never
//!   with `==`.
use std::fmt;
use zeroize::Zeroize;

/// A secret value: its `Debug` is redacted, it is overwritten with zeros when dropped, and
/// reading it takes an explicit [`secret`](Self::secret) call.
#[derive(Clone, Default)]
pub struct Secret<T: Zeroize = String>(T);

impl<T: Zeroize> Secret<T> {
    /// Wrap a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself: hash it, send it, or show it once; never log it.
    pub fn secret(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new(b"hunter2".to_vec());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s:#?}").contains("104"));
        assert_eq!(s.secret(), b"hunter2");
    }

    #[test]
    fn zeroize_clears_the_value() {
        // What `drop` does, observed without reading freed memory.
        let mut s = Secret::new(String::from("hunter2"));
        s.0.zeroize();
        assert!(s.secret().is_empty());
    }
}
