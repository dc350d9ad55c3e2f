//! The cookies Hydra sets during one server-side authorization (its login and consent CSRF
//! cookies): kept per flow, sent back only to Hydra's public URL, bounded.
use http::HeaderMap;

/// At most this many cookies per flow (Hydra v2.3 sets two or three).
const MAX_COOKIES: usize = 16;
/// The longest `name=value` kept.
const MAX_COOKIE_LEN: usize = 4096;

/// The cookie jar of one flow. Never shared between flows, so two users' logins cannot
/// mix their cookies.
#[derive(Default, Clone)]
pub(super) struct FlowCookies {
    pairs: Vec<(String, String)>,
}

impl std::fmt::Debug for FlowCookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowCookies")
            .field("count", &self.pairs.len())
            .finish()
    }
}

/// Hydra set more or larger cookies than a flow holds.
#[derive(Debug, thiserror::Error)]
#[error("the authorization server set too many or too large cookies")]
pub(super) struct TooManyCookies;

impl FlowCookies {
    /// Keep the `Set-Cookie`s of an answer (name and value; attributes are not needed: the
    /// jar is only ever sent to the one public URL it came from, within minutes).
    pub(super) fn keep(&mut self, headers: &HeaderMap) -> Result<(), TooManyCookies> {
        for value in headers.get_all(http::header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or("");
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() {
                continue;
            }
            if name.len() + value.len() > MAX_COOKIE_LEN {
                return Err(TooManyCookies);
            }
            if let Some(slot) = self.pairs.iter_mut().find(|(n, _)| n == name) {
                value.clone_into(&mut slot.1);
            } else if self.pairs.len() < MAX_COOKIES {
                self.pairs.push((name.to_owned(), value.to_owned()));
            } else {
                return Err(TooManyCookies);
            }
        }
        Ok(())
    }

    /// The `Cookie` header to send, if any cookie is kept.
    pub(super) fn header(&self) -> Option<String> {
        (!self.pairs.is_empty()).then(|| {
            self.pairs
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn set(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(http::header::SET_COOKIE, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cookies_are_kept_by_name_and_sent_back_without_attributes() {
        let mut jar = FlowCookies::default();
        assert_eq!(jar.header(), None);
        jar.keep(&set(&[
            "ory_hydra_login_csrf_1=abc; Path=/; HttpOnly; SameSite=Lax",
            "other=1",
        ]))
        .unwrap();
        jar.keep(&set(&["other=2; Max-Age=10", "=nameless", "garbage"]))
            .unwrap();
        assert_eq!(
            jar.header().as_deref(),
            Some("ory_hydra_login_csrf_1=abc; other=2")
        );
    }

    #[test]
    fn a_flood_of_cookies_or_a_huge_one_is_refused_not_kept() {
        let mut jar = FlowCookies::default();
        let many: Vec<String> = (0..=MAX_COOKIES).map(|i| format!("c{i}=v")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(jar.keep(&set(&many)).is_err());
        let mut jar = FlowCookies::default();
        let huge = format!("big={}", "x".repeat(MAX_COOKIE_LEN));
        assert!(jar.keep(&set(&[&huge])).is_err());
        assert_eq!(jar.header(), None);
    }
}
