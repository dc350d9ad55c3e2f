//! Graceful shutdown on SIGINT (Ctrl-C) and SIGTERM (what orchestrators send).

/// Resolves when the process receives SIGINT or SIGTERM. Pass it to
/// `axum::serve(..).with_graceful_shutdown(..)`: in-flight requests finish, new connections
/// are refused, then the caller runs its last flushes.
pub async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT: shutting down"),
        _ = term => tracing::info!("SIGTERM: shutting down"),
    }
}
