//! The `id_token` mutator: a JWT about the authenticated subject, signed with iam-issuer's key
//! ring, handed upstream as `Authorization: Bearer`.
//!
//! Oathkeeper's config: `issuer_url` (the `iss`), `ttl` (Go duration with one unit, default
//! `15m`), `claims` (a template rendering a JSON object, e.g.
//! `{"aud": ["orders"], "email": "{{ print .Extra.email }}"}`), `jwks_url`. The payload is the
//! rendered claims with `sub` (the session's subject), `iss`, `iat`, `nbf`, `exp` and `jti`
//! set by the proxy; the header is `{"alg", "typ": "JWT", "kid"}`.
//!
//! # Caveats
//! - The keys are the [`KeyRing`](iam_issuer::KeyRing) given to
//!   [`PipelineBuilder::id_token_keys`](super::PipelineBuilder::id_token_keys), not the
//!   private JWK set at `jwks_url` (which is accepted and not read): upstreams fetch the public
//!   keys from the proxy (access-proxy serves them on its API port at
//!   `/.well-known/jwks.json`). Without a ring, `id_token` is refused at load.
//! - `ttl` above the ring's `max_token_lifetime` is refused at load.
//! - Tokens are minted per request (ES256 costs tens of microseconds); Oathkeeper caches them.
use super::template::Template;
use super::{PipelineError, RequestFacts, Session};
use http::header::{HeaderValue, AUTHORIZATION};
use iam_issuer::{Issuer, KeyRing, TokenType};
use serde_json::{Map, Value};
use std::time::Duration;

/// Oathkeeper's default `ttl`.
const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// A compiled `id_token` mutator.
#[derive(Debug)]
pub(crate) struct IdTokenMutator {
    issuer: Issuer,
    ttl: Duration,
    claims: Option<Template>,
}

/// A Go duration with one unit (`30s`, `15m`, `1h`), as Oathkeeper's schema allows.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("ttl {text:?} has no unit (ns, us, ms, s, m, h)"))?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("ttl {text:?} is not a number with a unit"))?;
    let d = match unit {
        "ns" => Duration::from_nanos(n),
        "us" => Duration::from_micros(n),
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("ttl {text:?}: unknown unit {unit:?}")),
    };
    Ok(d)
}

impl IdTokenMutator {
    pub(crate) fn compile(config: &Value, keys: Option<&KeyRing>) -> Result<Self, String> {
        let keys = keys.ok_or_else(|| {
            "no key ring to sign with (PipelineBuilder::id_token_keys)".to_owned()
        })?;
        let issuer_url = config
            .get("issuer_url")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| "issuer_url is missing".to_owned())?;
        let ttl = match config.get("ttl").and_then(Value::as_str) {
            Some(t) => parse_ttl(t)?,
            None => DEFAULT_TTL,
        };
        let longest = keys.policy().max_token_lifetime;
        if ttl < Duration::from_secs(1) || ttl > longest {
            return Err(format!(
                "ttl must be between 1s and the key ring's longest token lifetime ({}s)",
                longest.as_secs()
            ));
        }
        let claims = match config.get("claims").and_then(Value::as_str) {
            Some(text) if !text.trim().is_empty() => {
                Some(Template::parse(text).map_err(|e| format!("claims: {e}"))?)
            }
            _ => None,
        };
        Ok(Self {
            issuer: Issuer::new(issuer_url, keys.clone()),
            ttl,
            claims,
        })
    }

    pub(crate) fn mutate(
        &self,
        facts: &RequestFacts<'_>,
        session: &mut Session,
    ) -> Result<(), PipelineError> {
        let mut claims = match &self.claims {
            Some(t) => {
                let rendered = t.render(&session.template_data(facts));
                match serde_json::from_str::<Value>(&rendered) {
                    Ok(Value::Object(m)) => m,
                    _ => {
                        return Err(PipelineError::internal(
                            "the id_token claims template did not render a JSON object",
                        ))
                    }
                }
            }
            None => Map::new(),
        };
        claims.insert("sub".into(), Value::from(session.subject.as_str()));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        claims.insert("nbf".into(), Value::from(now));
        let minted = self
            .issuer
            .mint_as(TokenType::Jwt, claims, self.ttl)
            .map_err(|_| PipelineError::unavailable("the id_token signing key is unavailable"))?;
        let token = minted.token.secret();
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| PipelineError::internal("a minted token is not a header value"))?;
        session.headers.insert(AUTHORIZATION, value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_take_one_go_unit_and_anything_else_is_refused() {
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_ttl("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "15", "m", "1d", "-1m", "1h30m", "99999999999999999999s"] {
            assert!(parse_ttl(bad).is_err(), "{bad:?}");
        }
    }
}
