//! Both binaries refuse at start an issuer, JWKS, Kratos or credential service URL over plain
//! http to a host that is not loopback (keys or sessions fetched that way can be replaced by
//! anyone on the path), and start with `IAM_DANGEROUS_ALLOW_HTTP=1`, saying so in the log.
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

const BINS: [&str; 2] = [
    env!("CARGO_BIN_EXE_sample-app-axum"),
    env!("CARGO_BIN_EXE_sample-app-actix"),
];
const SVC: &str = "svc_0000000000000000000000000000000000000000";

/// Run `bin` with `envs` (and a free loopback port); returns the exit code and stderr when it
/// exits by itself within a generous bound, `None` when it is still running (then killed).
fn run(bin: &str, envs: &[(&str, &str)]) -> (Option<i32>, String, String) {
    run_with(bin, envs, true)
}

/// Start `bin`; wait for it to exit (or, when `listening_ends_the_wait`, to answer on its
/// port). A configuration that must stop the app waits for the exit only: another test's
/// server may own a recycled port number, so an answer there proves nothing.
fn run_with(
    bin: &str,
    envs: &[(&str, &str)],
    listening_ends_the_wait: bool,
) -> (Option<i32>, String, String) {
    let port = iam_testkit::scratch::free_port();
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("IAM_LISTEN", format!("127.0.0.1:{port}"))
        .env("IAM_AUDIENCE", "sample-api")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut code = None;
    for _ in 0..1000 {
        if let Some(status) = child.try_wait().unwrap() {
            code = Some(status.code().unwrap_or(-1));
            break;
        }
        if listening_ends_the_wait && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if code.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (code, out, err)
}

#[test]
fn a_plaintext_issuer_that_is_not_loopback_stops_the_app_at_start() {
    for bin in BINS {
        let (code, _, err) = run_with(bin, &[("IAM_ISSUER", "http://example.com/")], false);
        assert_eq!(code, Some(2), "{bin} must refuse to start: {err}");
        assert!(
            err.contains("IAM_ISSUER") && err.contains("plain http to example.com"),
            "{bin}: {err}"
        );
    }
}

#[test]
fn every_plaintext_url_of_the_configuration_stops_the_app_at_start() {
    let https = ("IAM_ISSUER", "https://issuer.example/");
    for (var, envs) in [
        (
            "IAM_JWKS_URL",
            vec![https, ("IAM_JWKS_URL", "http://keys.example.com/jwks")],
        ),
        (
            "IAM_KRATOS_PUBLIC_URL",
            vec![
                https,
                ("IAM_KRATOS_PUBLIC_URL", "http://kratos.example.com/"),
            ],
        ),
        (
            "IAM_CREDENTIALS_URL",
            vec![
                https,
                ("IAM_CREDENTIALS_URL", "http://credentials.example.com"),
                ("IAM_CREDENTIALS_TOKEN", SVC),
            ],
        ),
    ] {
        for bin in BINS {
            let (code, _, err) = run_with(bin, &envs, false);
            assert_eq!(code, Some(2), "{bin} with {var}: {err}");
            assert!(
                err.contains(var) && err.contains("plain http"),
                "{bin}: {err}"
            );
        }
    }
}

#[test]
fn the_dangerous_opt_in_starts_the_app_with_a_warning() {
    for bin in BINS {
        let (code, out, err) = run(
            bin,
            &[
                ("IAM_ISSUER", "http://example.com/"),
                ("IAM_KRATOS_PUBLIC_URL", "http://kratos.example.com/"),
                ("IAM_DANGEROUS_ALLOW_HTTP", "1"),
            ],
        );
        assert_eq!(code, None, "{bin} must start: {err}");
        assert!(
            out.contains("dangerous transport policy"),
            "{bin} must warn: {out}"
        );
        let (code, _, err) = run(
            bin,
            &[
                ("IAM_ISSUER", "http://example.com/"),
                ("IAM_DANGEROUS_ALLOW_HTTP", "yes please"),
            ],
        );
        assert_eq!(code, Some(2), "{bin}: {err}");
        assert!(err.contains("IAM_DANGEROUS_ALLOW_HTTP"), "{bin}: {err}");
    }
}
