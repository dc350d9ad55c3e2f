//! `RemoteCredentials` against a double of the credential service's `POST /validate`.
use iam_client::RemoteCredentials;
use iam_core::authn::{AuthChain, RequestView};
use iam_core::credential::{generate, parse, CredentialAuthenticator, CredentialKind};
use serde_json::json;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// What the double saw: (token, forwarded client address) per call.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A `/validate` that answers 429 for `limited` and 200 (valid PAT of `u-1`) otherwise.
async fn service(limited: String) -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (log, limited) = (Arc::clone(&log), limited.clone());
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    let text = String::from_utf8_lossy(&req).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            break;
                        }
                    }
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => req.extend_from_slice(&buf[..k]),
                    }
                }
                let text = String::from_utf8_lossy(&req).to_string();
                let (head, body) = text.split_once("\r\n\r\n").unwrap();
                let client = head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("x-iam-client-ip")
                        .then(|| v.trim().to_owned())
                });
                let token = serde_json::from_str::<serde_json::Value>(body).unwrap()["token"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                log.lock().unwrap().push((token.clone(), client));
                let (status, answer) = if token == limited {
                    ("429 Too Many Requests", json!({"error": "rate_limited"}))
                } else {
                    (
                        "200 OK",
                        json!({"valid": true, "kind": "pat", "id": "cred_1",
                        "owner": "u-1", "scopes": ["orders:read"]}),
                    )
                };
                let body = answer.to_string();
                let res = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(res.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

fn pat() -> String {
    generate(CredentialKind::PersonalAccessToken)
        .unwrap()
        .secret()
        .to_owned()
}

const CALLER: &str = "svc_caller0token";

#[tokio::test]
async fn a_rate_limited_token_is_refused_alone_never_a_service_wide_503() {
    let (limited, good) = (pat(), pat());
    let (url, seen) = service(limited.clone()).await;
    let remote = RemoteCredentials::builder(url, CALLER).build().unwrap();
    let chain = AuthChain::new().with(CredentialAuthenticator::new(remote));
    let status = |token: &str| {
        let req = http::Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .unwrap();
        let chain = &chain;
        async move {
            match chain.run(&RequestView::from_request(&req)).await {
                Ok(Some(_)) => 200,
                Ok(None) => 0,
                Err(e) => e.status().as_u16(),
            }
        }
    };
    // The limited token's request is refused as that token's (401), twice: the 429 is not
    // cached as a refusal (the limit ends on its own), and it is never an outage (503).
    assert_eq!(status(&limited).await, 401);
    assert_eq!(status(&limited).await, 401);
    assert_eq!(seen.lock().unwrap().len(), 2, "asked again");
    // Everyone else is unaffected.
    assert_eq!(status(&good).await, 200);
}

#[tokio::test]
async fn the_end_client_address_is_forwarded_when_known() {
    let good = pat();
    let (url, seen) = service(String::new()).await;
    let remote = RemoteCredentials::builder(url, CALLER).build().unwrap();
    let p = remote
        .verify_for_client(parse(&good).unwrap(), "192.0.2.7".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(p.subject(), "u-1");
    assert_eq!(
        seen.lock().unwrap().clone(),
        vec![(good, Some("192.0.2.7".to_owned()))]
    );
}
