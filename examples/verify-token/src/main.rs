//! `verify-token`: check a JWT against a JWK set and print the principal as JSON.
//!
//! ```text
//! verify-token --jwks PATH_OR_URL --issuer ISS --audience AUD [TOKEN | -]
//! ```
//!
//! Exit codes: 0 the token is valid (principal JSON on stdout); 1 refused (the reason on
//! stderr), or the JWK set could not be loaded; 2 bad usage. With no arguments at all it
//! generates an Ed25519 key and a token, verifies them, and shows both outcomes.
#![forbid(unsafe_code)]

use clap::{CommandFactory, Parser};
use iam_core::jwks::JwkSet;
use iam_core::jwt::{TokenType, Validator};
use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

mod demo;

/// Verify a JWT against a JWK set and print the resulting principal as JSON.
#[derive(Debug, Parser)]
#[command(name = "verify-token", version, about, long_about = None)]
struct Args {
    /// JWK set: a file path, or an http(s) URL to fetch.
    #[arg(long, value_name = "PATH_OR_URL")]
    jwks: Option<String>,
    /// Expected issuer (`iss`), compared byte for byte.
    #[arg(long, value_name = "ISS")]
    issuer: Option<String>,
    /// Expected audience (`aud`); repeat to accept any of several.
    #[arg(long, value_name = "AUD")]
    audience: Vec<String>,
    /// Clock skew tolerated on exp/nbf/iat, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    leeway: u64,
    /// Require an RFC 9068 access token (`typ: at+jwt`).
    #[arg(long)]
    access_token: bool,
    /// The token, or `-` to read it from standard input.
    #[arg(value_name = "TOKEN | -")]
    token: Option<String>,
}

fn main() -> ExitCode {
    if std::env::args_os().len() == 1 {
        return demo::run();
    }
    let args = Args::parse();
    let usage = |msg: &str| -> ExitCode {
        let _ = Args::command()
            .error(clap::error::ErrorKind::MissingRequiredArgument, msg)
            .print();
        ExitCode::from(2)
    };
    let Some(jwks) = args.jwks.as_deref() else {
        return usage("--jwks is required");
    };
    let Some(issuer) = args.issuer.as_deref() else {
        return usage("--issuer is required");
    };
    if args.audience.is_empty() {
        return usage("--audience is required");
    }
    let Some(token_arg) = args.token.as_deref() else {
        return usage("a TOKEN argument (or - for standard input) is required");
    };
    let token = if token_arg == "-" {
        let mut buf = String::new();
        if let Err(e) = std::io::stdin().take(1024 * 1024).read_to_string(&mut buf) {
            eprintln!("error: cannot read the token from standard input: {e}");
            return ExitCode::from(1);
        }
        buf.trim().to_owned()
    } else {
        token_arg.trim().to_owned()
    };

    let mut builder = Validator::builder(issuer).leeway(Duration::from_secs(args.leeway));
    for aud in &args.audience {
        builder = builder.audience(aud.clone());
    }
    if args.access_token {
        builder = builder.token_type(TokenType::AccessToken);
    }
    let validator = match builder.build() {
        Ok(v) => v,
        Err(e) => return usage(&e.to_string()),
    };
    let keys = match load_jwks(jwks) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: cannot load the JWK set: {e}");
            return ExitCode::from(1);
        }
    };
    for skipped in keys.skipped() {
        eprintln!(
            "note: JWK #{} ({}) skipped: {}",
            skipped.index,
            skipped.kid.as_deref().unwrap_or("no kid"),
            skipped.reason
        );
    }
    match validator.validate(&token, &keys) {
        Ok(valid) => {
            match serde_json::to_string_pretty(valid.principal()) {
                Ok(json) => {
                    use std::io::Write as _;
                    let _ = writeln!(std::io::stdout(), "{json}");
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("refused: {e}");
            ExitCode::from(1)
        }
    }
}

/// Read a JWK set from a file or fetch it over HTTP(S), at most 1 MiB.
fn load_jwks(source: &str) -> Result<JwkSet, String> {
    const LIMIT: u64 = 1024 * 1024;
    let bytes = if source.starts_with("https://") || source.starts_with("http://") {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let res = client
            .get(source)
            .header("accept", "application/json")
            .send()
            .map_err(|e| format!("fetch failed: {e}"))?;
        if !res.status().is_success() {
            return Err(format!("fetch failed: HTTP {}", res.status()));
        }
        let mut buf = Vec::new();
        res.take(LIMIT + 1)
            .read_to_end(&mut buf)
            .map_err(|e| e.to_string())?;
        buf
    } else {
        let file = std::fs::File::open(source).map_err(|e| format!("{source}: {e}"))?;
        let mut buf = Vec::new();
        file.take(LIMIT + 1)
            .read_to_end(&mut buf)
            .map_err(|e| format!("{source}: {e}"))?;
        buf
    };
    JwkSet::from_json(&bytes).map_err(|e| e.to_string())
}
