//! Compact JWS (RFC 7515 section 7.1) parsing and signature verification.
use super::{Algorithm, JwsHeader, JwtErrorKind};
use crate::json::{self, JsonError};
use crate::jwks::{Fingerprint, JwkSet, SelectError, VerifyingKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// A JWS whose signature verified.
pub(crate) struct Verified<'a> {
    pub(crate) header: JwsHeader,
    pub(crate) payload_b64: &'a str,
    pub(crate) fingerprint: Fingerprint,
}

fn is_b64url(segment: &str) -> bool {
    segment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(crate) fn json_error(e: JsonError, what: &'static str) -> JwtErrorKind {
    match e {
        JsonError::DuplicateMember => JwtErrorKind::DuplicateMember,
        JsonError::TooDeep => JwtErrorKind::TooDeep,
        JsonError::Syntax | JsonError::NotAnObject => JwtErrorKind::Malformed(what),
    }
}

/// A JWS whose header passed the policy and whose key was chosen; signature not checked yet.
pub(crate) struct Selected<'a, 'k> {
    pub(crate) header: JwsHeader,
    pub(crate) signing_input: &'a str,
    pub(crate) payload_b64: &'a str,
    pub(crate) signature: Vec<u8>,
    pub(crate) key: &'k VerifyingKey,
}

/// Split, decode the header, choose the key and verify the signature. The payload is not
/// decoded here: nothing unauthenticated is parsed beyond the header.
pub(crate) fn verify<'a>(
    token: &'a str,
    keys: &JwkSet,
    policy: &super::Policy,
) -> Result<Verified<'a>, JwtErrorKind> {
    verify_selected(select(token, keys, policy)?)
}

/// The signature check of [`verify`], in process.
pub(crate) fn verify_selected<'a>(s: Selected<'a, '_>) -> Result<Verified<'a>, JwtErrorKind> {
    if !crate::backend::verify(
        s.header.alg(),
        s.key.decoding_key(),
        s.signing_input.as_bytes(),
        s.signature,
    ) {
        return Err(JwtErrorKind::InvalidSignature);
    }
    Ok(Verified {
        header: s.header,
        payload_b64: s.payload_b64,
        fingerprint: s.key.fingerprint(),
    })
}

/// Everything of [`verify`] but the signature check.
pub(crate) fn select<'a, 'k>(
    token: &'a str,
    keys: &'k JwkSet,
    policy: &super::Policy,
) -> Result<Selected<'a, 'k>, JwtErrorKind> {
    let (max_len, max_depth) = (policy.max_token_len, policy.max_depth);
    if token.len() > max_len {
        return Err(JwtErrorKind::TooLarge);
    }
    if token.starts_with('{') {
        return Err(JwtErrorKind::Malformed(
            "JSON serialization is not supported",
        ));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(JwtErrorKind::Malformed("expected three base64url segments"));
    };
    match parts.count() {
        0 => {}
        2 => return Err(JwtErrorKind::Malformed("JWE is not supported")),
        _ => return Err(JwtErrorKind::Malformed("expected three base64url segments")),
    }
    if h.is_empty() {
        return Err(JwtErrorKind::Malformed("empty header"));
    }
    if !is_b64url(h) || !is_b64url(p) || !is_b64url(s) {
        return Err(JwtErrorKind::Malformed("invalid base64url"));
    }
    let header_bytes = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| JwtErrorKind::Malformed("invalid base64url"))?;
    let header_map = json::parse_object(&header_bytes, max_depth)
        .map_err(|e| json_error(e, "header is not a JSON object"))?;
    let header = JwsHeader::from_map(header_map)?;
    if !policy.algorithms.is_empty() && !policy.algorithms.contains(&header.alg()) {
        return Err(JwtErrorKind::AlgorithmNotAllowed);
    }
    if s.is_empty() {
        return Err(JwtErrorKind::Malformed("missing signature"));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JwtErrorKind::Malformed("invalid base64url"))?;
    let key = keys
        .select(header.kid(), header.alg())
        .map_err(|e| match e {
            SelectError::UnknownKid => JwtErrorKind::UnknownKey,
            SelectError::NoKeyForAlgorithm => JwtErrorKind::NoMatchingKey,
            SelectError::Ambiguous => JwtErrorKind::AmbiguousKey,
            SelectError::AlgorithmNotAllowed => JwtErrorKind::AlgorithmNotAllowed,
        })?;
    Ok(Selected {
        header,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload_b64: p,
        signature,
        key,
    })
}

/// Header parameters refused outright, with the reason.
pub(crate) fn refused_header(name: &str) -> Option<&'static str> {
    match name {
        "crit" => Some("crit"),
        "b64" => Some("b64"),
        "zip" => Some("zip"),
        "enc" => Some("enc"),
        _ => None,
    }
}

pub(crate) fn decode_payload(payload_b64: &str) -> Result<Vec<u8>, JwtErrorKind> {
    URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| JwtErrorKind::Malformed("invalid base64url"))
}

impl Algorithm {
    pub(crate) fn parse_header(value: &str) -> Result<Self, JwtErrorKind> {
        if value.eq_ignore_ascii_case("none") {
            return Err(JwtErrorKind::AlgorithmNone);
        }
        Self::from_name(value).ok_or(JwtErrorKind::UnsupportedAlgorithm)
    }
}
