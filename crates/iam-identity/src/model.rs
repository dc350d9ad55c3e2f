//! The account model: tenants, users, groups, roles, credentials and refresh families.
//!
//! Identifiers are opaque strings: a tenant's is its name (`default`, `acme`), every other
//! one is 32 random hex digits ([`new_id`]). Usernames and emails are compared after
//! [`fold`], so `Alice@Example.COM` and `alice@example.com` are one login.
use iam_core::Secret;
use serde::Serialize;

/// A tenant: an isolated set of users, groups and roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    /// Its name, also its identifier: 1 to 63 of `a-z`, `0-9` and `-`.
    pub id: String,
    /// A name for people.
    pub display_name: String,
    /// A suspended tenant's users cannot log in or refresh.
    pub suspended: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// A user of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Its identifier (the access token's `sub`).
    pub id: String,
    /// Its tenant's id.
    pub tenant: String,
    /// The user name, as given (compared after [`fold`]).
    pub username: String,
    /// The email address, as given (compared after [`fold`]).
    pub email: Option<String>,
    /// A disabled user cannot log in or refresh.
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// A group of users of one tenant; roles assigned to it apply to its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Its identifier.
    pub id: String,
    /// Its tenant's id.
    pub tenant: String,
    /// Unique within the tenant.
    pub name: String,
}

/// A role of one tenant: a named set of permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Role {
    /// Its identifier.
    pub id: String,
    /// Its tenant's id.
    pub tenant: String,
    /// Unique within the tenant; what access tokens carry in `roles`.
    pub name: String,
    /// Permission strings (`iam:admin`, `orders:read`), sorted and without duplicates.
    pub permissions: Vec<String>,
}

/// Who a role is assigned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleHolder<'a> {
    /// A user, by id.
    User(&'a str),
    /// A group, by id.
    Group(&'a str),
}

/// An argon2id hash in PHC string form (`$argon2id$v=19$m=…`). Redacted in `Debug`.
#[derive(Debug)]
pub struct PasswordHash(pub Secret);

impl PasswordHash {
    /// From a stored PHC string.
    pub fn new(phc: String) -> Self {
        Self(Secret::new(phc))
    }

    /// The PHC string, to store.
    pub fn phc(&self) -> &str {
        self.0.secret()
    }
}

impl Clone for PasswordHash {
    fn clone(&self) -> Self {
        Self::new(self.phc().to_owned())
    }
}

/// What a login reads about a login name: the user and its password hash.
#[derive(Debug, Clone)]
pub struct LoginCredential {
    /// The user.
    pub user: User,
    /// Its password hash (`None`: the user has no password and cannot log in with one).
    pub password: Option<PasswordHash>,
}

/// A user's TOTP credential.
#[derive(Debug, Clone)]
pub struct TotpCredential {
    /// The shared secret as stored: sealed by [`crate::sealing`] (or, in a record written
    /// before sealing, plain base32, which the next read re-seals).
    pub stored_secret: SecretText,
    /// Whether the user proved possession with a code (only then does login ask for it).
    pub confirmed: bool,
    /// The last time step a code was accepted for (replay protection); 0 when none.
    pub last_step: i64,
}

/// A secret string that can be cloned (a stored credential), redacted in `Debug`.
#[derive(Clone)]
pub struct SecretText(String);

impl SecretText {
    /// Wrap a secret.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself; never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

/// A refresh-token family: every token rotated from one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFamily {
    /// Its identifier (the access token's `sid`).
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// The user.
    pub user_id: String,
    /// `pwd` or `mfa`, carried into every access token of the family.
    pub acr: String,
    /// The authentication methods (`pwd`, `otp`, `rc`).
    pub amr: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// The absolute end of the family (Unix seconds), however often it is rotated.
    pub expires_at: i64,
    /// When it was revoked (logout, reuse, admin), if it was.
    pub revoked_at: Option<i64>,
}

/// A refresh token as stored: its SHA-256, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// The family.
    pub family_id: String,
    /// 0 for the token issued at login, +1 per rotation.
    pub generation: i64,
    /// When it was exchanged for its successor, if it was.
    pub spent_at: Option<i64>,
}

/// What an attempt to spend a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendOutcome {
    /// Spent now; its successor is recorded.
    Spent(RefreshTokenRecord),
    /// Already spent before (at `spent_at`).
    AlreadySpent(RefreshTokenRecord),
    /// No such token.
    Unknown,
}

/// What a refresh reads when it spends a token: the outcome, the token's family and, when the
/// store can tell in the same round trip, whether the family's tenant and user may still
/// refresh ([`crate::repository::RefreshRepository::spend_token_with_family`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpentToken {
    /// What the attempt to spend found.
    pub outcome: SpendOutcome,
    /// The token's family (`None` for an unknown token or a family deleted since).
    pub family: Option<RefreshFamily>,
    /// `Some(true)`: the family's tenant exists and is not suspended and its user exists and
    /// is not disabled; `Some(false)`: one of them is not so; `None`: the store did not read
    /// them (the flow then reads the tenant and the user itself).
    pub holder_active: Option<bool>,
}

/// A pending MFA challenge (after a correct password, before the second factor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    /// The tenant.
    pub tenant: String,
    /// The user.
    pub user_id: String,
    /// Unix seconds after which it is void.
    pub expires_at: i64,
    /// Wrong codes so far.
    pub failures: u32,
}

/// The case folding applied to usernames and emails before they are compared or stored as
/// lookup keys: Unicode lower case of the trimmed text.
///
/// ```
/// assert_eq!(iam_identity::fold(" Alice@Example.COM "), "alice@example.com");
/// ```
pub fn fold(text: &str) -> String {
    text.trim().to_lowercase()
}

/// A new random identifier: 32 hex digits (128 bits).
pub fn new_id() -> String {
    hex(&crate::random::bytes::<16>())
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Whether `id` is a valid tenant name: 1 to 63 of `a-z`, `0-9`, `-`, not starting with `-`.
pub fn is_valid_tenant_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 63
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_makes_case_variants_one_login() {
        assert_eq!(fold("ÄLICE"), fold("älice"));
        assert_eq!(fold("Bob@X.org"), "bob@x.org");
    }

    #[test]
    fn tenant_names_are_slugs() {
        assert!(is_valid_tenant_id("acme-1"));
        for bad in ["", "-a", "A", "a b", "a/b", &"x".repeat(64)] {
            assert!(!is_valid_tenant_id(bad), "{bad}");
        }
    }

    #[test]
    fn ids_are_random_hex() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let h = PasswordHash::new("$argon2id$secret".into());
        assert!(!format!("{h:?}").contains("argon2id"));
        assert!(!format!("{:?}", SecretText::new("JBSWY3DP".into())).contains("JBSW"));
    }
}
