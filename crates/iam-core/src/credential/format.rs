//! The token format: `pat_` / `key_` / `svc_`, lookup id, secret and checksum; parsing and
//! generating tokens.
use crate::principal::PrincipalKind;
use crate::secret::Secret;
use std::fmt;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of the lookup id.
pub const LOOKUP_LEN: usize = 8;
/// Length of the secret: 28 base62 characters, 166 bits.
pub const SECRET_LEN: usize = 28;
const CHECK_LEN: usize = 6;
/// Length of a token after its 4-character prefix.
pub const BODY_LEN: usize = LOOKUP_LEN + SECRET_LEN + CHECK_LEN;

/// The three kinds of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// `pat_`: tied to a user; at most the user's permissions.
    PersonalAccessToken,
    /// `key_`: tied to an organisation; explicit scopes, no user.
    ApiKey,
    /// `svc_`: tied to a named service.
    ServiceToken,
}

impl CredentialKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::PersonalAccessToken, Self::ApiKey, Self::ServiceToken];
    /// The token prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::PersonalAccessToken => "pat_",
            Self::ApiKey => "key_",
            Self::ServiceToken => "svc_",
        }
    }
    /// The name used in JSON (`pat`, `api_key`, `service`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PersonalAccessToken => "pat",
            Self::ApiKey => "api_key",
            Self::ServiceToken => "service",
        }
    }
    /// Parse the JSON name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
    /// The principal kind of a request authenticated with this credential.
    pub fn principal_kind(self) -> PrincipalKind {
        match self {
            Self::PersonalAccessToken => PrincipalKind::PersonalAccessToken,
            Self::ApiKey => PrincipalKind::ApiKey,
            Self::ServiceToken => PrincipalKind::ServiceToken,
        }
    }
}

/// Why a string is not a credential token. Says nothing about the token's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Not `pat_`, `key_` or `svc_` (lower case).
    #[error("not a credential token")]
    Prefix,
    /// Wrong length, or a character outside base62.
    #[error("malformed credential token")]
    Malformed,
    /// The checksum does not match: a typo or a truncated copy.
    #[error("credential token checksum mismatch")]
    Checksum,
}

/// A syntactically valid token, checksum included.
#[derive(Clone, Copy)]
pub struct ParsedToken<'a> {
    kind: CredentialKind,
    lookup_id: &'a str,
    token: &'a str,
}

impl fmt::Debug for ParsedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedToken")
            .field("kind", &self.kind)
            .field("lookup_id", &self.lookup_id)
            .finish_non_exhaustive()
    }
}

impl<'a> ParsedToken<'a> {
    /// The kind, from the prefix.
    pub fn kind(&self) -> CredentialKind {
        self.kind
    }
    /// The non-secret lookup id (the storage index).
    pub fn lookup_id(&self) -> &'a str {
        self.lookup_id
    }
    /// The whole token (secret: hash it, never store or log it).
    pub fn secret(&self) -> &'a str {
        self.token
    }
}

/// The CRC-32 lookup table, computed at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

fn checksum(body: &[u8]) -> [u8; CHECK_LEN] {
    let mut n = crc32(body);
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// Check a token's shape and checksum. Cheap, offline, and the only thing done with a
/// string before it reaches storage.
pub fn parse(token: &str) -> Result<ParsedToken<'_>, FormatError> {
    let kind = CredentialKind::ALL
        .into_iter()
        .find(|k| token.starts_with(k.prefix()))
        .ok_or(FormatError::Prefix)?;
    let body = &token.as_bytes()[4..];
    if body.len() != BODY_LEN || !body.iter().all(u8::is_ascii_alphanumeric) {
        return Err(FormatError::Malformed);
    }
    let (data, check) = body.split_at(LOOKUP_LEN + SECRET_LEN);
    // Not a secret comparison: the checksum is public (it is part of the token's shape).
    if checksum(data) != check {
        return Err(FormatError::Checksum);
    }
    Ok(ParsedToken {
        kind,
        lookup_id: &token[4..4 + LOOKUP_LEN],
        token,
    })
}

/// A freshly generated token. Shown once; its `Debug` is redacted.
pub struct NewToken {
    token: Secret<String>,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewToken(<redacted>)")
    }
}

impl NewToken {
    /// The token, to show the user once.
    pub fn secret(&self) -> &str {
        self.token.secret()
    }
    /// The parsed form (lookup id, kind).
    pub fn parsed(&self) -> ParsedToken<'_> {
        let token = self.token.secret();
        match parse(token) {
            Ok(p) => p,
            // A generated token always parses (tested); keep the kind and id regardless.
            Err(_) => ParsedToken {
                kind: CredentialKind::PersonalAccessToken,
                lookup_id: &token[4..4 + LOOKUP_LEN],
                token,
            },
        }
    }
}

/// The system's random source failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no randomness available")]
pub struct RandomError;

/// Generate a token of `kind` from the operating system's CSPRNG (rejection sampling, so
/// every base62 character is uniform).
pub fn generate(kind: CredentialKind) -> Result<NewToken, RandomError> {
    let mut chars = Vec::with_capacity(LOOKUP_LEN + SECRET_LEN);
    let mut buf = [0u8; 64];
    while chars.len() < LOOKUP_LEN + SECRET_LEN {
        getrandom::getrandom(&mut buf).map_err(|_| RandomError)?;
        for &b in &buf {
            // 248 = 4 * 62: bytes above would bias the distribution.
            if b < 248 && chars.len() < LOOKUP_LEN + SECRET_LEN {
                chars.push(ALPHABET[usize::from(b % 62)]);
            }
        }
    }
    let check = checksum(&chars);
    let mut token = String::with_capacity(4 + BODY_LEN);
    token.push_str(kind.prefix());
    token.extend(chars.iter().map(|&c| char::from(c)));
    token.extend(check.iter().map(|&c| char::from(c)));
    Ok(NewToken {
        token: Secret::new(token),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        // The CRC-32/ISO-HDLC check value for "123456789".
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
