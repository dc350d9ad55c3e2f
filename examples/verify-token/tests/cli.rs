//! The `verify-token` contract: flags, output and exit codes (0 valid, 1 refused, 2 usage).
use aws_lc_rs::signature::Ed25519KeyPair;
use iam_testkit::keys::{ed25519_key, ed_jwk, sign_raw, Signer};
use iam_testkit::{LoopbackServer, Reply};
use serde_json::json;
use std::io::Write;
use std::process::{Command, Output, Stdio};

const ISS: &str = "https://issuer.example";
const AUD: &str = "orders-api";

struct Fixture {
    _dir: tempfile::TempDir,
    jwks_path: String,
    jwks: String,
    pair: Ed25519KeyPair,
}

fn fixture() -> Fixture {
    let pair = ed25519_key();
    let jwks = json!({"keys": [ed_jwk(&pair, "k1")]}).to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, &jwks).unwrap();
    Fixture {
        jwks_path: path.to_str().unwrap().to_owned(),
        jwks,
        _dir: dir,
        pair,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn token(f: &Fixture, claims: serde_json::Value) -> String {
    sign_raw(
        r#"{"alg":"EdDSA","kid":"k1"}"#,
        &claims.to_string(),
        Signer::Ed(&f.pair),
    )
}

fn good_claims() -> serde_json::Value {
    json!({"iss": ISS, "aud": AUD, "sub": "user-7", "exp": now() + 300, "scope": "orders:read"})
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_verify-token"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn no_arguments_runs_the_demo() {
    let out = run(&[], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("=> accepted"), "{stdout}");
    assert!(stdout.contains("=> refused: invalid signature"), "{stdout}");
    assert!(stdout.contains("=> refused: token expired"), "{stdout}");
}

#[test]
fn valid_token_prints_the_principal() {
    let f = fixture();
    let t = token(&f, good_claims());
    let out = run(
        &[
            "--jwks",
            &f.jwks_path,
            "--issuer",
            ISS,
            "--audience",
            AUD,
            &t,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["subject"], "user-7");
    assert_eq!(p["scopes"], json!(["orders:read"]));
    // The same through standard input.
    let out = run(
        &[
            "--jwks",
            &f.jwks_path,
            "--issuer",
            ISS,
            "--audience",
            AUD,
            "-",
        ],
        Some(&format!("{t}\n")),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn refusals_exit_1_with_the_reason() {
    let f = fixture();
    let cases = [
        (
            json!({"iss": ISS, "aud": AUD, "sub": "u", "exp": now() - 3600}),
            "refused: token expired",
        ),
        (
            json!({"iss": ISS, "aud": "other", "sub": "u", "exp": now() + 60}),
            "refused: audience not accepted",
        ),
        (
            json!({"iss": format!("{ISS}/"), "aud": AUD, "sub": "u", "exp": now() + 60}),
            "refused: issuer not accepted",
        ),
    ];
    for (claims, reason) in cases {
        let t = token(&f, claims);
        let out = run(
            &[
                "--jwks",
                &f.jwks_path,
                "--issuer",
                ISS,
                "--audience",
                AUD,
                &t,
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains(reason), "{}", text(&out.stderr));
        assert!(out.stdout.is_empty());
    }
    let out = run(
        &[
            "--jwks",
            &f.jwks_path,
            "--issuer",
            ISS,
            "--audience",
            AUD,
            "not-a-token",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("malformed token"));
    // The token never appears in the output, even when refused.
    let t = token(
        &f,
        json!({"iss": ISS, "aud": "x", "sub": "u", "exp": now() + 60}),
    );
    let out = run(
        &[
            "--jwks",
            &f.jwks_path,
            "--issuer",
            ISS,
            "--audience",
            AUD,
            &t,
        ],
        None,
    );
    assert!(!text(&out.stderr).contains(&t[..30]));
    let out = run(
        &[
            "--jwks",
            "/nonexistent/jwks.json",
            "--issuer",
            ISS,
            "--audience",
            AUD,
            &t,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn bad_usage_exits_2() {
    let f = fixture();
    for args in [
        vec!["--issuer", ISS, "--audience", AUD, "t"],
        vec!["--jwks", f.jwks_path.as_str(), "--audience", AUD, "t"],
        vec!["--jwks", f.jwks_path.as_str(), "--issuer", ISS, "t"],
        vec![
            "--jwks",
            f.jwks_path.as_str(),
            "--issuer",
            ISS,
            "--audience",
            AUD,
        ],
        vec!["--bogus"],
        vec![
            "--jwks",
            f.jwks_path.as_str(),
            "--issuer",
            ISS,
            "--audience",
            AUD,
            "--leeway",
            "x",
            "t",
        ],
    ] {
        let out = run(&args, None);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn jwks_from_a_url() {
    let f = fixture();
    let server = LoopbackServer::start_blocking({
        let body = f.jwks.clone();
        move |_| {
            Reply::status(200)
                .header("content-type", "application/json")
                .body(body.clone())
        }
    });
    let url = server.url("/.well-known/jwks.json");
    let t = token(&f, good_claims());
    let out = run(
        &["--jwks", &url, "--issuer", ISS, "--audience", AUD, &t],
        None,
    );
    assert_eq!(server.count(), 1, "one JWKS fetch");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
