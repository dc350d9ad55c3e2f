//! Where a request was addressed to, as told by trusted proxies only.
//!
//! `X-Forwarded-Proto`, `X-Forwarded-Host`, `X-Forwarded-Method`, `X-Forwarded-Uri` and
//! RFC 7239 `Forwarded` are read only when the TCP peer is in the configured trusted-proxy
//! networks (iam-service's [`TrustedProxies`]), on the proxy port and on `/decisions` alike.
//! From anyone else they are ignored (and never forwarded). A trusted proxy's header that
//! holds several values, or that disagrees with its `Forwarded` header, is refused (400):
//! there is no single reading of it.
//!
//! ```
//! use iam_proxy::forwarded::{ForwardedTrust, Listener};
//! use iam_service::client_ip::TrustedProxies;
//! let trust = ForwardedTrust::new(TrustedProxies::parse("10.0.0.0/8").unwrap());
//! let mut h = http::HeaderMap::new();
//! h.insert("host", "proxy.internal".parse().unwrap());
//! h.insert("x-forwarded-host", "app.example".parse().unwrap());
//! h.insert("x-forwarded-proto", "https".parse().unwrap());
//! let from_proxy = trust.origin("10.1.1.1".parse().unwrap(), &h, Listener::Proxy).unwrap();
//! assert_eq!((from_proxy.scheme.as_str(), from_proxy.host.as_str()), ("https", "app.example"));
//! let from_client = trust.origin("203.0.113.7".parse().unwrap(), &h, Listener::Proxy).unwrap();
//! assert_eq!((from_client.scheme.as_str(), from_client.host.as_str()), ("http", "proxy.internal"));
//! ```
//!
//! # Caveats
//! Only the `proto`, `host` and `for` parameters of `Forwarded` are read. The scheme of the
//! listener itself is `http` (TLS terminates in front of the proxy).
use crate::canonical::{CanonicalError, CanonicalErrorKind};
use http::HeaderMap;
pub use iam_service::client_ip::TrustedProxies;
use std::net::IpAddr;

/// Which port a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The reverse-proxy port.
    Proxy,
    /// `/decisions`: a trusted proxy may also name the method and URI it asks about.
    Decisions,
}

/// The request as addressed by the client, after trusted forwarding headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// Host (and port).
    pub host: String,
    /// The method a trusted proxy asks about on `/decisions` (`X-Forwarded-Method`).
    pub method: Option<http::Method>,
    /// The URI a trusted proxy asks about on `/decisions` (`X-Forwarded-Uri`).
    pub uri: Option<String>,
    /// The client's address (trusted `X-Forwarded-For` chain, else the peer).
    pub client_ip: IpAddr,
    /// Whether the peer is a trusted proxy.
    pub trusted_peer: bool,
}

/// The trusted-proxy policy.
#[derive(Debug, Clone, Default)]
pub struct ForwardedTrust {
    proxies: TrustedProxies,
}

fn ambiguous() -> CanonicalError {
    CanonicalError::new(CanonicalErrorKind::AmbiguousForwarding)
}

/// The one value of `name`, or `None`; several values (repeated or comma-separated) are
/// ambiguous.
fn one(headers: &HeaderMap, name: &str) -> Result<Option<String>, CanonicalError> {
    let mut values = headers.get_all(name).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ambiguous());
    }
    let v = v.to_str().map_err(|_| ambiguous())?.trim();
    if v.contains(',') || v.is_empty() {
        return Err(ambiguous());
    }
    Ok(Some(v.to_owned()))
}

/// `proto` and `host` of a single-element `Forwarded` header.
fn forwarded_params(
    headers: &HeaderMap,
) -> Result<(Option<String>, Option<String>), CanonicalError> {
    let Some(value) = one(headers, "forwarded")? else {
        return Ok((None, None));
    };
    let (mut proto, mut host) = (None, None);
    for pair in value.split(';') {
        let Some((k, v)) = pair.trim().split_once('=') else {
            return Err(ambiguous());
        };
        let v = v.trim_matches('"').to_owned();
        match k.trim().to_ascii_lowercase().as_str() {
            "proto" if proto.is_none() => proto = Some(v),
            "host" if host.is_none() => host = Some(v),
            "proto" | "host" => return Err(ambiguous()),
            _ => {}
        }
    }
    Ok((proto, host))
}

/// Both sources, which must agree when both are present.
fn agree(a: Option<String>, b: Option<String>) -> Result<Option<String>, CanonicalError> {
    match (a, b) {
        (Some(a), Some(b)) if !a.eq_ignore_ascii_case(&b) => Err(ambiguous()),
        (a, b) => Ok(a.or(b)),
    }
}

impl ForwardedTrust {
    /// Trust forwarding headers from `proxies` only.
    pub fn new(proxies: TrustedProxies) -> Self {
        Self { proxies }
    }

    /// The trusted networks.
    pub fn proxies(&self) -> &TrustedProxies {
        &self.proxies
    }

    /// Read where a request from `peer` was addressed to.
    pub fn origin(
        &self,
        peer: IpAddr,
        headers: &HeaderMap,
        listener: Listener,
    ) -> Result<Origin, CanonicalError> {
        let host_header = || -> Result<String, CanonicalError> {
            one(headers, "host")?
                .ok_or_else(|| CanonicalError::new(CanonicalErrorKind::InvalidHost))
        };
        let trusted = self.proxies.is_trusted(peer);
        let client_ip = self.proxies.client_ip(peer, headers);
        if !trusted {
            return Ok(Origin {
                scheme: "http".into(),
                host: host_header()?,
                method: None,
                uri: None,
                client_ip,
                trusted_peer: false,
            });
        }
        let (f_proto, f_host) = forwarded_params(headers)?;
        let scheme =
            agree(one(headers, "x-forwarded-proto")?, f_proto)?.unwrap_or_else(|| "http".into());
        let host = match agree(one(headers, "x-forwarded-host")?, f_host)? {
            Some(h) => h,
            None => host_header()?,
        };
        let (method, uri) = match listener {
            Listener::Proxy => (None, None),
            Listener::Decisions => {
                let method = one(headers, "x-forwarded-method")?
                    .map(|m| http::Method::from_bytes(m.as_bytes()).map_err(|_| ambiguous()))
                    .transpose()?;
                (method, one(headers, "x-forwarded-uri")?)
            }
        };
        Ok(Origin {
            scheme,
            host,
            method,
            uri,
            client_ip,
            trusted_peer: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn trust() -> ForwardedTrust {
        ForwardedTrust::new(TrustedProxies::parse("10.0.0.0/8").unwrap())
    }

    #[test]
    fn forwarded_header_spoofing_from_an_untrusted_peer_is_ignored_on_decisions() {
        let h = headers(&[
            ("host", "auth.internal"),
            ("x-forwarded-host", "admin.example"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/admin"),
            ("x-forwarded-for", "10.0.0.1"),
            ("forwarded", "host=admin.example;proto=https"),
        ]);
        let o = trust()
            .origin("198.51.100.9".parse().unwrap(), &h, Listener::Decisions)
            .unwrap();
        assert_eq!(o.host, "auth.internal");
        assert_eq!(o.scheme, "http");
        assert_eq!(o.method, None);
        assert_eq!(o.uri, None);
        assert_eq!(o.client_ip, "198.51.100.9".parse::<IpAddr>().unwrap());
        assert!(!o.trusted_peer);
    }

    #[test]
    fn a_trusted_proxy_names_the_request_on_decisions() {
        let h = headers(&[
            ("host", "auth.internal"),
            ("x-forwarded-host", "app.example"),
            ("x-forwarded-method", "POST"),
            ("x-forwarded-uri", "/orders?x=1"),
            ("forwarded", "proto=https;for=1.2.3.4"),
        ]);
        let o = trust()
            .origin("10.0.0.5".parse().unwrap(), &h, Listener::Decisions)
            .unwrap();
        assert_eq!(
            (o.scheme.as_str(), o.host.as_str(), o.uri.as_deref()),
            ("https", "app.example", Some("/orders?x=1"))
        );
        assert_eq!(o.method, Some(http::Method::POST));
    }

    #[test]
    fn ambiguous_forwarding_headers_from_a_trusted_proxy_are_refused() {
        let peer = "10.0.0.5".parse().unwrap();
        for h in [
            headers(&[("host", "h"), ("x-forwarded-host", "a.example, b.example")]),
            headers(&[
                ("host", "h"),
                ("x-forwarded-host", "a"),
                ("x-forwarded-host", "b"),
            ]),
            headers(&[
                ("host", "h"),
                ("x-forwarded-proto", "https"),
                ("forwarded", "proto=http"),
            ]),
            headers(&[("host", "h"), ("forwarded", "host=a, host=b")]),
            headers(&[("host", "a"), ("host", "b")]),
        ] {
            let e = trust().origin(peer, &h, Listener::Proxy).unwrap_err();
            assert_eq!(e.kind(), CanonicalErrorKind::AmbiguousForwarding, "{h:?}");
        }
    }
}
