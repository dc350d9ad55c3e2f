//! Reading a token's `kid` or `iss` WITHOUT verifying anything: only to choose which keys to
//! fetch or which trusted issuer to ask.
use crate::json;

/// The `kid` of a token's header, WITHOUT verifying anything: only for choosing which keys to
/// fetch. `None` for anything malformed.
pub fn unverified_kid(token: &str) -> Option<String> {
    use base64::Engine as _;
    if token.len() > 1024 * 1024 {
        return None;
    }
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let map = json::parse_object(&bytes, 8).ok()?;
    map.get("kid")?.as_str().map(str::to_owned)
}

/// The `iss` of a token's payload, WITHOUT verifying anything: only for choosing which
/// trusted issuer's keys to verify it with. `None` for anything malformed or over 64 KiB.
pub fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine as _;
    if token.len() > 64 * 1024 {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let map = json::parse_object(&bytes, 32).ok()?;
    map.get("iss")?.as_str().map(str::to_owned)
}
