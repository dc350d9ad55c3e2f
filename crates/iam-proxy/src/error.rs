//! The errors of loading rules and configuration ([`RuleError`]).

/// Rules or pipeline configuration that cannot be used: reported at load, never at request
/// time. The previous rule set stays in force.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// A rule file that does not parse.
    #[error("cannot parse rules from {source_name}: {reason}")]
    Parse {
        /// The file (or `inline`).
        source_name: String,
        /// The parser's message.
        reason: String,
    },
    /// A source that cannot be read.
    #[error("cannot read rule source {location}: {reason}")]
    Source {
        /// The location as configured.
        location: String,
        /// Why.
        reason: String,
    },
    /// A `match.url` that does not compile.
    #[error("match pattern {pattern:?} does not compile: {reason}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// Two rules with one id.
    #[error("rule id {0:?} is used more than once")]
    DuplicateId(String),
    /// A rule that is malformed.
    #[error("rule {rule}: {reason}")]
    Invalid {
        /// The rule id.
        rule: String,
        /// Why.
        reason: String,
    },
    /// A feature of Oathkeeper's format this proxy refuses (named).
    #[error("rule {rule}: {what} is not supported")]
    Unsupported {
        /// The rule id.
        rule: String,
        /// What.
        what: String,
    },
    /// A pipeline handler that is unknown, disabled, unavailable or misconfigured.
    #[error("rule {rule}: {kind} {handler:?}: {reason}")]
    Handler {
        /// The rule id (`(global)` for the configuration file).
        rule: String,
        /// `authenticator`, `authorizer`, `mutator` or `error handler`.
        kind: &'static str,
        /// The handler name.
        handler: String,
        /// Why.
        reason: String,
    },
}
