//! A cached Kratos session check, as a ratio to a JWT cache hit measured in the same run:
//! both through `Authenticator::authenticate` on a request view (cookie vs bearer), after one
//! warm-up call each.
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::Criterion;
use iam_client::KratosSessions;
use iam_core::authn::{Authenticator, JwtAuthenticator, RequestView};
use iam_core::jwks::{JwkSet, StaticKeys};
use iam_core::jwt::Validator;
use std::hint::black_box;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SESSION: &str = r#"{"id":"sess-1","active":true,"expires_at":"2999-01-01T00:00:00Z","authenticated_at":"2026-01-01T00:00:00Z","authenticator_assurance_level":"aal1","authentication_methods":[{"method":"password","aal":"aal1"}],"identity":{"id":"ident-1","schema_id":"default","schema_url":"x","traits":{"email":"a@example.com"},"metadata_public":{"roles":["dev"],"tenant":"acme"}}}"#;

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let kratos = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let res = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{SESSION}",
                    SESSION.len()
                );
                let _ = conn.write_all(res.as_bytes()).await;
            }
        });
        format!("http://{addr}")
    });
    let sessions = KratosSessions::builder(kratos).build().expect("kratos");
    let cookie_req = http::Request::get("/me")
        .header("cookie", "theme=dark; ory_kratos_session=MTcwMDAwMDAwMHxEdi1CQkFFQ180SUFBUkFCRUFBQV8tUT18c2Vzc2lvbi1jb29raWUtdmFsdWU; _ga=GA1.2.3")
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
        let view = RequestView::from_request(&cookie_req);
        sessions
            .authenticate(&view)
            .await
            .expect("session")
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
    let mut group = c.benchmark_group("sessions");
    group.bench_function("jwt_cache_hit", |b| {
        b.to_async(&rt).iter(|| async {
            let view = RequestView::from_request(&bearer_req);
            black_box(jwt.authenticate(&view).await.is_ok())
        })
    });
    group.bench_function("kratos_session_cached", |b| {
        b.to_async(&rt).iter(|| async {
            let view = RequestView::from_request(&cookie_req);
            black_box(sessions.authenticate(&view).await.is_ok())
        })
    });
    group.finish();
    c.final_summary();
    let mean = |name: &str| -> Option<f64> {
        let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("criterion/sessions")
            .join(name)
            .join("new/estimates.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        v["mean"]["point_estimate"].as_f64()
    };
    if let (Some(base), Some(hit)) = (mean("jwt_cache_hit"), mean("kratos_session_cached")) {
        println!("\n| check | authenticate() | ratio (target <= 2.0) |\n|---|---|---|");
        println!(
            "| JWT bearer, cache hit (baseline) | {:.0} ns | 1.00x |",
            base
        );
        println!(
            "| Kratos session cookie, cached | {:.0} ns | {:.2}x |",
            hit,
            hit / base
        );
    }
    assert_eq!(
        sessions.stats().whoami_calls,
        1,
        "the benchmark must not have called Kratos again"
    );
}
