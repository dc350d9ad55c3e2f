//! The tracing subscriber every service installs.
//!
//! `RUST_LOG` sets the filter (default `info`); `LOG_FORMAT=json` writes one JSON object per
//! line (for log shippers), anything else human-readable lines. Services never put a token,
//! password or secret in a field: redaction is the caller's job, by never logging them.

/// Install the subscriber once; later calls (tests starting several services) do nothing.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .try_init()
    };
}
