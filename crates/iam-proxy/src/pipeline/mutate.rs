//! Mutators: `noop`, `header`, `cookie`, `hydrator`, `id_token` (in its own module).
use super::id_token::IdTokenMutator;
use super::template::Template;
use super::{PipelineError, RequestFacts, Session};
use crate::error::RuleError;
use http::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value};

/// A compiled mutator.
#[derive(Debug)]
pub(crate) enum Mutator {
    Noop,
    Header(Vec<(HeaderName, Template)>),
    Cookie(Vec<(String, Template)>),
    Hydrator {
        url: String,
        http: iam_client::HttpClient,
    },
    IdToken(IdTokenMutator),
}

impl Mutator {
    pub(crate) fn compile(
        rule: &str,
        name: &str,
        config: &Value,
        http: &iam_client::HttpClient,
        keys: Option<&iam_issuer::KeyRing>,
    ) -> Result<Self, RuleError> {
        let fail = |reason: String| RuleError::Handler {
            rule: rule.into(),
            kind: "mutator",
            handler: name.into(),
            reason,
        };
        let templates = |key: &str| -> Result<Vec<(String, Template)>, RuleError> {
            let map = config
                .get(key)
                .and_then(Value::as_object)
                .ok_or_else(|| fail(format!("{key} is missing")))?;
            let mut out = Vec::new();
            for (k, v) in map {
                let text = v
                    .as_str()
                    .ok_or_else(|| fail(format!("{key}.{k} is not a string")))?;
                out.push((
                    k.clone(),
                    Template::parse(text).map_err(|e| fail(format!("{key}.{k}: {e}")))?,
                ));
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        };
        Ok(match name {
            "noop" => Self::Noop,
            "header" => Self::Header(
                templates("headers")?
                    .into_iter()
                    .map(|(k, t)| {
                        HeaderName::from_bytes(k.as_bytes())
                            .map(|n| (n, t))
                            .map_err(|_| fail(format!("{k:?} is not a header name")))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "cookie" => Self::Cookie(templates("cookies")?),
            "hydrator" => {
                let url = config
                    .pointer("/api/url")
                    .and_then(Value::as_str)
                    .ok_or_else(|| fail("api.url is missing".into()))?;
                Self::Hydrator {
                    url: url.to_owned(),
                    http: http.clone(),
                }
            }
            "id_token" => Self::IdToken(IdTokenMutator::compile(config, keys).map_err(fail)?),
            other => return Err(fail(format!("unknown mutator {other:?}"))),
        })
    }

    /// The header names this mutator sets (clients may not send them).
    pub(crate) fn header_names(&self) -> Vec<String> {
        match self {
            Self::Header(h) => h.iter().map(|(n, _)| n.as_str().to_owned()).collect(),
            _ => Vec::new(),
        }
    }

    pub(crate) async fn mutate(
        &self,
        facts: &RequestFacts<'_>,
        session: &mut Session,
    ) -> Result<(), PipelineError> {
        match self {
            Self::Noop => Ok(()),
            Self::IdToken(m) => m.mutate(facts, session),
            Self::Header(headers) => {
                let data = session.template_data(facts);
                for (name, t) in headers {
                    let value = HeaderValue::from_str(&t.render(&data)).map_err(|_| {
                        PipelineError::internal(
                            "a header template rendered a value that cannot be a header",
                        )
                    })?;
                    session.headers.insert(name.clone(), value);
                }
                Ok(())
            }
            Self::Cookie(cookies) => {
                let data = session.template_data(facts);
                for (name, t) in cookies {
                    let value = t.render(&data);
                    if value.bytes().any(|b| b == b';' || b.is_ascii_control()) {
                        return Err(PipelineError::internal(
                            "a cookie template rendered a value that cannot be a cookie",
                        ));
                    }
                    session.cookies.retain(|(n, _)| n != name);
                    session.cookies.push((name.clone(), value));
                }
                Ok(())
            }
            Self::Hydrator { url, http } => {
                let mut header = Map::new();
                for (k, v) in session.headers.iter() {
                    if let Ok(v) = v.to_str() {
                        header.insert(k.as_str().to_owned(), Value::Array(vec![v.into()]));
                    }
                }
                let data = session.template_data(facts);
                let body = serde_json::json!({
                    "subject": session.subject,
                    "extra": session.extra,
                    "header": header,
                    "match_context": {
                        "regexp_capture_groups": facts.captures,
                        "url": data["MatchContext"]["URL"],
                        "method": facts.canonical.method().as_str(),
                    }
                });
                let req = http::Request::post(url.as_str())
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string().into_bytes())
                    .map_err(|_| PipelineError::internal("hydrator: invalid URL"))?;
                let res = http
                    .call(req)
                    .await
                    .map_err(|_| PipelineError::unavailable("the hydrator is unavailable"))?;
                if res.status() != 200 {
                    return Err(PipelineError::internal(
                        "the hydrator answered with an unexpected status",
                    ));
                }
                let answer: Value = serde_json::from_slice(res.body())
                    .map_err(|_| PipelineError::internal("the hydrator's answer is not JSON"))?;
                if let Some(s) = answer.get("subject").and_then(Value::as_str) {
                    session.subject = s.to_owned();
                }
                if let Some(e) = answer.get("extra").and_then(Value::as_object) {
                    session.extra = e.clone();
                }
                Ok(())
            }
        }
    }
}
