//! Typed configuration errors and environment readers.
//!
//! Errors name the variable and say what is wrong with it, never what its value was (a
//! value may be a secret).
use std::str::FromStr;
use std::time::Duration;

/// A setting that cannot be used. The message names the variable, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{var} is required")]
    Missing {
        /// The variable's full name.
        var: String,
    },
    /// A variable is set to something unusable.
    #[error("{var}: {reason}")]
    Invalid {
        /// The variable's full name.
        var: String,
        /// Why, without the value.
        reason: String,
    },
}

impl ConfigError {
    /// An invalid-setting error.
    pub fn invalid(var: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            var: var.into(),
            reason: reason.into(),
        }
    }

    /// The variable this error is about.
    pub fn var(&self) -> &str {
        match self {
            Self::Missing { var } | Self::Invalid { var, .. } => var,
        }
    }
}

/// Print `configuration error: …` on stderr and exit with status 2 (bad usage), the
/// convention of every service binary here.
pub fn exit_on_error<T>(result: Result<T, ConfigError>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => {
            eprintln!("configuration error: {e}");
            std::process::exit(2)
        }
    }
}

/// Reads a service's settings from the environment under one prefix (`CREDENTIALS_`,
/// `IAM_API_`). An empty variable counts as unset.
#[derive(Debug, Clone)]
pub struct Env {
    prefix: String,
    lookup: fn(&str) -> Option<String>,
}

impl Env {
    /// Variables named `{prefix}{NAME}`, read from the process environment.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            lookup: |name| std::env::var(name).ok(),
        }
    }

    /// The same, reading through `lookup` (tests).
    pub fn with_lookup(prefix: impl Into<String>, lookup: fn(&str) -> Option<String>) -> Self {
        Self {
            prefix: prefix.into(),
            lookup,
        }
    }

    /// The full name of a setting.
    pub fn name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The value, if set and not empty.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(&self.name(name)).filter(|v| !v.trim().is_empty())
    }

    /// The value, or [`ConfigError::Missing`].
    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.get(name).ok_or_else(|| ConfigError::Missing {
            var: self.name(name),
        })
    }

    /// The value parsed as `T`, or `default` when unset.
    pub fn parse_or<T: FromStr>(&self, name: &str, default: T) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                ConfigError::invalid(
                    self.name(name),
                    format!("not a valid {}", short_type::<T>()),
                )
            }),
        }
    }

    /// A socket address, `default` when unset.
    pub fn socket_addr(
        &self,
        name: &str,
        default: &str,
    ) -> Result<std::net::SocketAddr, ConfigError> {
        let value = self.get(name).unwrap_or_else(|| default.to_owned());
        value
            .trim()
            .parse()
            .map_err(|_| ConfigError::invalid(self.name(name), "not a socket address (host:port)"))
    }

    /// An optional socket address.
    pub fn socket_addr_opt(&self, name: &str) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(_) => self.socket_addr(name, "").map(Some),
        }
    }

    /// A duration in whole seconds, `default` when unset; zero refused.
    pub fn seconds(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(0) => Err(ConfigError::invalid(
                    self.name(name),
                    "must be at least 1 second",
                )),
                Ok(s) => Ok(Duration::from_secs(s)),
                Err(_) => Err(ConfigError::invalid(
                    self.name(name),
                    "not a number of seconds",
                )),
            },
        }
    }

    /// A comma-separated list (items trimmed, empty items dropped); empty when unset.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A boolean: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::invalid(
                    self.name(name),
                    "not a boolean (true/false)",
                )),
            },
        }
    }
}

fn short_type<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "T_PORT" => Some("80x".into()),
            "T_ADDR" => Some("127.0.0.1:9".into()),
            "T_EMPTY" => Some("  ".into()),
            "T_LIST" => Some("a, b,,c ".into()),
            "T_SECRET" => Some("hunter2-but-not-a-number".into()),
            "T_ZERO" => Some("0".into()),
            "T_FLAG" => Some("Yes".into()),
            _ => None,
        }
    }

    #[test]
    fn errors_name_the_variable_and_never_its_value() {
        let env = Env::with_lookup("T_", lookup);
        let e = env.parse_or::<u16>("SECRET", 1).unwrap_err();
        assert_eq!(e.var(), "T_SECRET");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_eq!(
            env.required("EMPTY").unwrap_err(),
            ConfigError::Missing {
                var: "T_EMPTY".into()
            }
        );
        assert!(env.socket_addr("PORT", "x").is_err());
    }

    #[test]
    fn readers_give_defaults_lists_durations_and_flags() {
        let env = Env::with_lookup("T_", lookup);
        assert_eq!(env.socket_addr("ADDR", "0.0.0.0:1").unwrap().port(), 9);
        assert_eq!(env.socket_addr("NONE", "0.0.0.0:1").unwrap().port(), 1);
        assert_eq!(env.list("LIST"), ["a", "b", "c"]);
        assert!(env.list("NONE").is_empty());
        assert!(env.seconds("ZERO", Duration::from_secs(5)).is_err());
        assert_eq!(
            env.seconds("NONE", Duration::from_secs(5)).unwrap(),
            Duration::from_secs(5)
        );
        assert!(env.flag("FLAG", false).unwrap());
        assert!(env.socket_addr_opt("NONE").unwrap().is_none());
    }
}
