//! WebSocket upgrades through the proxy port: a real WebSocket echo upstream
//! (tokio-tungstenite), a handshake that is allowed (identity headers set, the client's
//! spoofed ones stripped, frames echoed both ways), one the rule denies, one the upstream
//! refuses, and an `h2c` upgrade that must not pass as an upgrade; and the same handshakes
//! against the real Oathkeeper v0.40.9 (same status, the echo working through both).
mod common;

use common::{raw, rules_dir, start};
use futures_util::{SinkExt as _, StreamExt as _};
use iam_service::Env;
use iam_testkit::peers::oathkeeper;
use iam_testkit::{LoopbackServer, Reply};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

fn no_env(_: &str) -> Option<String> {
    None
}

/// A WebSocket echo server that keeps the handshake headers it saw.
struct EchoUpstream {
    addr: SocketAddr,
    handshakes: Arc<Mutex<Vec<http::HeaderMap>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo_upstream() -> EchoUpstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handshakes = Arc::new(Mutex::new(Vec::new()));
    let seen = handshakes.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                // The signature is tungstenite's (its error variant is a whole response).
                #[allow(clippy::result_large_err)]
                let callback = |req: &Request, res: Response| {
                    seen.lock().unwrap().push(req.headers().clone());
                    Ok(res)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    EchoUpstream {
        addr,
        handshakes,
        task,
    }
}

async fn handshake(
    proxy: SocketAddr,
    path: &str,
    extra: &[(&str, &str)],
) -> Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, WsError> {
    let mut req = format!("ws://app.example{path}")
        .into_client_request()
        .unwrap();
    for (k, v) in extra {
        req.headers_mut().append(
            http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio_tungstenite::client_async(req, stream),
    )
    .await
    .expect("the handshake finishes")
    .map(|(ws, _)| ws)
}

fn rules(echo: SocketAddr, refusing: &str, plain: &str) -> serde_json::Value {
    let ws_upstream = format!("http://{echo}");
    json!([
        {"id": "ws", "match": {"url": "http://app.example/ws", "methods": ["GET"]},
         "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}"}}}],
         "upstream": {"url": ws_upstream}},
        {"id": "ws-denied", "match": {"url": "http://app.example/ws-denied", "methods": ["GET"]},
         "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "deny"},
         "mutators": [{"handler": "noop"}], "upstream": {"url": ws_upstream}},
        {"id": "ws-refused", "match": {"url": "http://app.example/ws-refused", "methods": ["GET"]},
         "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "noop"}], "upstream": {"url": refusing}},
        {"id": "plain", "match": {"url": "http://app.example/plain", "methods": ["GET"]},
         "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "noop"}], "upstream": {"url": plain}}
    ])
}

fn config() -> serde_json::Value {
    json!({
        "access_rules": {"matching_strategy": "regexp"},
        "authenticators": {"anonymous": {"enabled": true}},
        "authorizers": {"allow": {"enabled": true}, "deny": {"enabled": true}},
        "mutators": {"header": {"enabled": true, "config": {"headers": {}}}, "noop": {"enabled": true}},
        "errors": {"fallback": ["json"], "handlers": {"json": {"enabled": true, "config": {}}}}
    })
}

/// The status a handshake got (101 when upgraded), after one echoed frame when upgraded.
async fn handshake_status(proxy: SocketAddr, path: &str) -> u16 {
    match handshake(proxy, path, &[("X-User", "admin")]).await {
        Ok(mut ws) => {
            ws.send(Message::text("echo?")).await.unwrap();
            assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("echo?"));
            101
        }
        Err(WsError::Http(res)) => res.status().as_u16(),
        Err(e) => panic!("{path}: {e}"),
    }
}

#[tokio::test]
#[ignore = "needs oathkeeper: scripts/test"]
async fn websocket_handshakes_get_oathkeepers_answers() {
    let echo = echo_upstream().await;
    let refusing = LoopbackServer::start(|_| Reply::text(426, "no websockets here")).await;
    let plain = LoopbackServer::start(|_| Reply::text(200, "plain")).await;
    let rules = rules(echo.addr, &refusing.url("/"), &plain.url("/"));
    let ok = oathkeeper::start(config(), &[("rules.json", rules.to_string())]).await;
    let (_dir, loc) = rules_dir(&rules);
    let mut doc = config();
    doc["access_rules"]["repositories"] = json!([loc]);
    let ours = start(doc, Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    let theirs_addr: SocketAddr = ([127, 0, 0, 1], ok.proxy).into();
    for path in ["/ws", "/ws-denied", "/ws-refused", "/plain", "/nothing"] {
        let theirs = handshake_status(theirs_addr, path).await;
        let mine = handshake_status(ours.proxy, path).await;
        assert_eq!(mine, theirs, "{path}: ours {mine}, oathkeeper {theirs}");
        println!("same {mine} websocket handshake {path}");
    }
    // Both handed the upstream the session's identity, not the client's.
    let seen = echo.handshakes.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for h in &seen {
        assert_eq!(h["x-user"], "anonymous");
    }
    // An h2c upgrade (h2c request smuggling, Bishop Fox 2020): Oathkeeper's Go reverse
    // proxy hands `Upgrade: h2c` to the upstream; we never do.
    let h2c = "GET /plain HTTP/1.1\nHost: app.example\nConnection: Upgrade, HTTP2-Settings\nUpgrade: h2c\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA";
    plain.clear();
    let theirs = raw(theirs_addr, h2c).await;
    let their_upgrade = plain
        .requests()
        .first()
        .and_then(|r| r.header("upgrade").map(str::to_owned));
    plain.clear();
    let mine = raw(ours.proxy, h2c).await;
    let my_upgrade = plain
        .requests()
        .first()
        .and_then(|r| r.header("upgrade").map(str::to_owned));
    assert_eq!(mine.status, 200);
    assert_eq!(my_upgrade, None);
    assert_eq!(
        their_upgrade.as_deref(),
        Some("h2c"),
        "Oathkeeper no longer forwards h2c upgrades: the row can become a plain 'same'"
    );
    println!(
        "h2c upgrade: ours {} without Upgrade upstream; oathkeeper {} with Upgrade upstream {:?}",
        mine.status, theirs.status, their_upgrade
    );
}

#[tokio::test]
async fn websocket_upgrades_are_authorised_then_relayed_both_ways() {
    let echo = echo_upstream().await;
    let refusing = LoopbackServer::start(|_| Reply::text(426, "no websockets here")).await;
    let plain = LoopbackServer::start(|_| Reply::text(200, "plain")).await;
    let rules = rules(echo.addr, &refusing.url("/"), &plain.url("/"));
    let (_dir, loc) = rules_dir(&rules);
    let mut doc = config();
    doc["access_rules"]["repositories"] = json!([loc]);
    let proxy = start(doc, Env::with_lookup("ACCESS_PROXY_", no_env)).await;

    // Allowed: the handshake reaches the upstream as the session, frames go both ways.
    let mut ws = handshake(
        proxy.proxy,
        "/ws",
        &[("X-User", "admin"), ("X_User", "admin")],
    )
    .await
    .expect("the upgrade is relayed");
    for text in ["ping", "second frame"] {
        ws.send(Message::text(text)).await.unwrap();
        let back = ws.next().await.unwrap().unwrap();
        assert_eq!(back, Message::text(text));
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::binary(vec![0u8, 1, 2, 255])
    );
    ws.close(None).await.unwrap();
    let seen = echo.handshakes.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["x-user"], "anonymous", "the session's identity");
    assert_eq!(seen[0].get_all("x-user").iter().count(), 1);
    assert!(
        !seen[0].contains_key("x_user"),
        "the spoofed spelling is stripped"
    );
    assert!(seen[0]["upgrade"]
        .to_str()
        .unwrap()
        .eq_ignore_ascii_case("websocket"));

    // Denied by the rule: its error answer, the upstream never sees a handshake.
    match handshake(proxy.proxy, "/ws-denied", &[]).await {
        Err(WsError::Http(res)) => assert_eq!(res.status(), 403),
        other => panic!("expected a 403, got {:?}", other.map(|_| "an upgrade")),
    }
    assert_eq!(echo.handshakes.lock().unwrap().len(), 1);

    // The upstream refuses the upgrade: its answer is relayed as it is.
    match handshake(proxy.proxy, "/ws-refused", &[]).await {
        Err(WsError::Http(res)) => {
            assert_eq!(res.status(), 426);
            assert_eq!(
                res.body().as_deref(),
                Some(&b"no websockets here"[..]),
                "the upstream's body"
            );
        }
        other => panic!(
            "expected the upstream's 426, got {:?}",
            other.map(|_| "an upgrade")
        ),
    }
    assert_eq!(refusing.count(), 1);

    // An h2c upgrade is a plain request: no Connection/Upgrade reaches the upstream.
    let res = raw(
        proxy.proxy,
        "GET /plain HTTP/1.1\nHost: app.example\nConnection: Upgrade, HTTP2-Settings\nUpgrade: h2c\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let forwarded = plain.requests();
    assert_eq!(forwarded.len(), 1);
    for hop in ["upgrade", "http2-settings"] {
        assert!(!forwarded[0].headers.contains_key(hop), "{hop} forwarded");
    }
    assert_ne!(
        forwarded[0]
            .header("connection")
            .map(str::to_ascii_lowercase),
        Some("upgrade".to_owned())
    );
    // A WebSocket handshake to a plain rule whose upstream answers 200: relayed, no upgrade.
    plain.clear();
    match handshake(proxy.proxy, "/plain", &[]).await {
        Err(WsError::Http(res)) => assert_eq!(res.status(), 200),
        other => panic!(
            "expected the upstream's 200, got {:?}",
            other.map(|_| "an upgrade")
        ),
    }
}
