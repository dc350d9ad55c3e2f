//! `https://` upstreams: a loopback TLS upstream whose CA is made in the test. Trusted through
//! `ACCESS_PROXY_UPSTREAM_CA_FILE` → 200; untrusted → 502; an `https://` rule in front of a
//! plaintext server → 502 with no HTTP request ever reaching it (no plaintext fallback).
mod common;

use common::{raw, rules_dir, start};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use iam_service::Env;
use iam_testkit::{LoopbackServer, Reply};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

/// The CA file of this test process (Env lookups are plain functions).
static CA_FILE: OnceLock<String> = OnceLock::new();

fn trust_test_ca(name: &str) -> Option<String> {
    (name == "ACCESS_PROXY_UPSTREAM_CA_FILE").then(|| CA_FILE.get().cloned().unwrap_or_default())
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// A CA, and a server certificate for 127.0.0.1 it signed.
struct TestPki {
    ca_pem: String,
    leaf: CertificateDer<'static>,
    leaf_key: PrivateKeyDer<'static>,
}

fn pki() -> TestPki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "access-proxy test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    TestPki {
        ca_pem: ca_cert.pem(),
        leaf: leaf.der().clone(),
        leaf_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

/// An HTTPS server on loopback answering 200 with the path it was asked for.
async fn tls_upstream(pki: &TestPki) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.leaf.clone()], pki.leaf_key.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let user = req
                            .headers()
                            .get("x-user")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-")
                            .to_owned();
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            bytes::Bytes::from(format!(
                                "tls upstream {} as {user}",
                                req.uri().path()
                            )),
                        )))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, task)
}

fn rules(tls: SocketAddr, plaintext: &str) -> serde_json::Value {
    json!([
        {"id": "tls", "match": {"url": "http://app.example/tls/<.*>", "methods": ["GET"]},
         "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}"}}}],
         "upstream": {"url": format!("https://{tls}/"), "strip_path": "/tls"}},
        {"id": "https-to-plaintext", "match": {"url": "http://app.example/plaintext", "methods": ["GET"]},
         "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"},
         "mutators": [{"handler": "noop"}],
         "upstream": {"url": plaintext.replacen("http://", "https://", 1)}}
    ])
}

fn doc(loc: &str) -> serde_json::Value {
    json!({
        "access_rules": {"repositories": [loc]},
        "authenticators": {"anonymous": {"enabled": true}},
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"header": {"enabled": true}, "noop": {"enabled": true}},
        "errors": {"handlers": {"json": {"enabled": true}}}
    })
}

#[tokio::test]
async fn an_https_upstream_is_reached_only_over_verified_tls() {
    let pki = pki();
    let dir = iam_testkit::scratch::TempDir::new();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    CA_FILE.set(ca_file.display().to_string()).unwrap();
    let (tls, _server) = tls_upstream(&pki).await;
    let plaintext = LoopbackServer::start(|_| Reply::text(200, "plaintext")).await;
    let (_rules, loc) = rules_dir(&rules(tls, &plaintext.url("/")));

    // The test CA trusted: the request goes over TLS with the session's headers.
    let trusting = start(doc(&loc), Env::with_lookup("ACCESS_PROXY_", trust_test_ca)).await;
    let res = raw(
        trusting.proxy,
        "GET /tls/orders HTTP/1.1\nHost: app.example",
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(
        res.body.contains("tls upstream /orders as anonymous"),
        "{}",
        res.body
    );

    // An https:// rule in front of a plaintext server: a failed handshake, never plain HTTP.
    let res = raw(trusting.proxy, "GET /plaintext HTTP/1.1\nHost: app.example").await;
    assert_eq!(res.status, 502, "{}", res.body);
    assert_eq!(
        plaintext.count(),
        0,
        "no plaintext request after a failed handshake"
    );

    // The system roots only: the test CA is unknown, so the certificate is refused.
    let system_only = start(doc(&loc), Env::with_lookup("ACCESS_PROXY_", no_env)).await;
    let res = raw(
        system_only.proxy,
        "GET /tls/orders HTTP/1.1\nHost: app.example",
    )
    .await;
    assert_eq!(res.status, 502, "{}", res.body);
    assert!(!res.body.contains("tls upstream"), "{}", res.body);
}
