//! Where an authenticator reads its token (`token_from`).
use super::{PipelineError, RequestFacts};
use http::header::{HeaderName, AUTHORIZATION};
use iam_core::authn::RequestView;
use serde_json::Value;

/// Where a token is read from (`token_from`).
#[derive(Debug, Clone)]
pub(crate) enum TokenFrom {
    /// `Authorization: Bearer`.
    Bearer,
    /// A header of its own.
    Header(HeaderName),
    /// A cookie.
    Cookie(String),
    /// A query parameter.
    Query(String),
}

impl TokenFrom {
    pub(crate) fn compile(config: &Value) -> Result<Self, String> {
        let Some(from) = config.get("token_from") else {
            return Ok(Self::Bearer);
        };
        if let Some(h) = from.get("header").and_then(Value::as_str) {
            if h.eq_ignore_ascii_case("authorization") {
                return Ok(Self::Bearer);
            }
            return HeaderName::from_bytes(h.as_bytes())
                .map(Self::Header)
                .map_err(|_| format!("token_from.header {h:?} is not a header name"));
        }
        if let Some(c) = from.get("cookie").and_then(Value::as_str) {
            return Ok(Self::Cookie(c.to_owned()));
        }
        if let Some(q) = from.get("query_parameter").and_then(Value::as_str) {
            return Ok(Self::Query(q.to_owned()));
        }
        Err("token_from needs header, cookie or query_parameter".into())
    }

    /// The token, `None` when absent; a repeated credential is refused.
    pub(crate) fn token(&self, facts: &RequestFacts<'_>) -> Result<Option<String>, PipelineError> {
        let uri = http::Uri::from_static("/");
        let view = RequestView::new(facts.canonical.method(), &uri, facts.headers);
        let refused = |_| PipelineError::unauthorized();
        let token = match self {
            Self::Bearer => {
                let mut values = facts.headers.get_all(AUTHORIZATION).iter();
                let (Some(v), None) = (values.next(), values.next()) else {
                    return if facts.headers.contains_key(AUTHORIZATION) {
                        Err(PipelineError::unauthorized())
                    } else {
                        Ok(None)
                    };
                };
                let v = v.to_str().map_err(|_| PipelineError::unauthorized())?;
                match v.split_once(' ') {
                    Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => {
                        Some(t.trim().to_owned())
                    }
                    _ => None,
                }
            }
            Self::Header(h) => view
                .header_credential(h)
                .map_err(refused)?
                .map(str::to_owned),
            Self::Cookie(c) => view.cookie(c).map_err(refused)?.map(str::to_owned),
            Self::Query(q) => facts.canonical.query().and_then(|query| {
                url::form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == q)
                    .map(|(_, v)| v.into_owned())
            }),
        };
        Ok(token.filter(|t| !t.is_empty()))
    }
}
