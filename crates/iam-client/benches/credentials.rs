//! A personal access token checked through the remote credential verifier (parse, checksum,
//! SHA-256, cache hit), as a ratio to a JWT cache hit measured in the same run: both through
//! `Authenticator::authenticate` on a request view, after one warm-up call each.
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::Criterion;
use iam_client::RemoteCredentials;
use iam_core::authn::{Authenticator, JwtAuthenticator, RequestView};
use iam_core::credential::CredentialAuthenticator;
use iam_core::jwks::{JwkSet, StaticKeys};
use iam_core::jwt::Validator;
use std::hint::black_box;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ANSWER: &str = r#"{"valid":true,"kind":"pat","id":"cred_1","owner":"user-1","tenant":"acme","scopes":["orders:read"],"expires_at":null}"#;
const PAT: &str = "pat_g5jzj1MOIhECKO9f8G7P0yzrayiS5V7iFpmh12eMst";
const SVC: &str = "svc_0000000000000000000000000000000000000000";

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let service = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let res = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{ANSWER}",
                    ANSWER.len()
                );
                let _ = conn.write_all(res.as_bytes()).await;
            }
        });
        format!("http://{addr}")
    });
    let remote = std::sync::Arc::new(
        RemoteCredentials::builder(service, SVC)
            .build()
            .expect("remote"),
    );
    let pats = CredentialAuthenticator::new(std::sync::Arc::clone(&remote));
    let pat_req = http::Request::get("/me")
        .header("authorization", format!("Bearer {PAT}"))
        .body(())
        .expect("request");

    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("key");
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).expect("key");
    let jwks = format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"{}"}}]}}"#,
        URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())
    );
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","kid":"k1"}"#),
        URL_SAFE_NO_PAD.encode(
            r#"{"iss":"https://issuer.example","aud":"api","sub":"user-1","exp":32503680000,"scope":"orders:read","tenant":"acme","sid":"s-1"}"#
        )
    );
    let token = format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(pair.sign(input.as_bytes()))
    );
    let validator = Validator::builder("https://issuer.example")
        .audience("api")
        .build()
        .expect("validator");
    let jwt = JwtAuthenticator::new(
        validator,
        StaticKeys::new(JwkSet::from_json(jwks.as_bytes()).expect("jwks")),
    );
    let bearer_req = http::Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .expect("request");

    rt.block_on(async {
        let view = RequestView::from_request(&pat_req);
        pats.authenticate(&view)
            .await
            .expect("pat")
            .expect("principal");
        let view = RequestView::from_request(&bearer_req);
        jwt.authenticate(&view)
            .await
            .expect("jwt")
            .expect("principal");
    });

    let mut c = Criterion::default()
        .output_directory(&std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("criterion"))
        .configure_from_args();
    let mut group = c.benchmark_group("credentials");
    group.bench_function("jwt_cache_hit", |b| {
        b.to_async(&rt).iter(|| async {
            let view = RequestView::from_request(&bearer_req);
            black_box(jwt.authenticate(&view).await.is_ok())
        })
    });
    group.bench_function("pat_cached", |b| {
        b.to_async(&rt).iter(|| async {
            let view = RequestView::from_request(&pat_req);
            black_box(pats.authenticate(&view).await.is_ok())
        })
    });
    group.finish();
    c.final_summary();
    let mean = |name: &str| -> Option<f64> {
        let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("criterion/credentials")
            .join(name)
            .join("new/estimates.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        v["mean"]["point_estimate"].as_f64()
    };
    if let (Some(base), Some(hit)) = (mean("jwt_cache_hit"), mean("pat_cached")) {
        println!("\n| check | authenticate() | ratio (target <= 2.0) |\n|---|---|---|");
        println!(
            "| JWT bearer, cache hit (baseline) | {:.0} ns | 1.00x |",
            base
        );
        println!(
            "| PAT via RemoteCredentials, cached | {:.0} ns | {:.2}x |",
            hit,
            hit / base
        );
    }
}
