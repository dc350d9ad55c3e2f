//! WebSocket upgrades through the reverse proxy.
//!
//! A handshake (`GET`, `Connection: upgrade`, `Upgrade: websocket`) is decided like any other
//! request (identity headers stripped, the session's headers added); when allowed, it goes
//! upstream with `Connection: upgrade` and `Upgrade: websocket` as the only hop-by-hop
//! headers kept. A `101 Switching Protocols` answer (naming `websocket`) is relayed and both
//! connections are joined: bytes are copied both ways until either side closes. Any other
//! answer is relayed as it is, and the client's connection stays plain HTTP.
//!
//! Only `websocket` is upgraded: an `Upgrade: h2c` (or any other protocol) is treated as a
//! plain request and its `Upgrade` dropped, so a client cannot open an unchecked HTTP/2
//! channel past the rules (h2c request smuggling).
use super::BoxError;
use http::header::{HeaderMap, HeaderValue, CONNECTION, UPGRADE};
use http::{Method, Response};
use hyper_util::rt::TokioIo;

/// Whether a header holding a comma-separated token list names `token`.
fn lists(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Whether this request asks for a WebSocket upgrade (RFC 6455 section 4.1).
pub(crate) fn is_websocket_handshake(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::GET
        && lists(headers, CONNECTION, "upgrade")
        && lists(headers, UPGRADE, "websocket")
}

/// Whether an upstream's answer accepts the WebSocket upgrade.
pub(crate) fn accepts_websocket<B>(res: &Response<B>) -> bool {
    res.status() == http::StatusCode::SWITCHING_PROTOCOLS
        && lists(res.headers(), UPGRADE, "websocket")
}

/// Mark a request or answer as a WebSocket upgrade (after hop-by-hop stripping).
pub(crate) fn mark_websocket(headers: &mut HeaderMap) {
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
}

/// Join the client's and the upstream's upgraded connections once both are ready, copying
/// bytes both ways until either side closes.
pub(crate) fn join(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    tokio::spawn(async move {
        let (client, upstream) = match tokio::join!(client, upstream) {
            (Ok(c), Ok(u)) => (c, u),
            (c, u) => {
                let error: Option<BoxError> = c.err().or(u.err()).map(Into::into);
                tracing::debug!(error = ?error, "websocket upgrade did not complete");
                return;
            }
        };
        let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(error = %e, "websocket connection ended with an error");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn only_a_get_with_connection_upgrade_and_upgrade_websocket_is_a_handshake() {
        let ws = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket"),
        ]);
        assert!(is_websocket_handshake(&Method::GET, &ws));
        assert!(!is_websocket_handshake(&Method::POST, &ws));
        let no_connection = headers(&[("upgrade", "websocket")]);
        assert!(!is_websocket_handshake(&Method::GET, &no_connection));
    }

    #[test]
    fn an_h2c_upgrade_is_not_a_websocket_handshake_so_it_is_never_relayed() {
        let h2c = headers(&[
            ("connection", "Upgrade, HTTP2-Settings"),
            ("upgrade", "h2c"),
        ]);
        assert!(!is_websocket_handshake(&Method::GET, &h2c));
    }
}
