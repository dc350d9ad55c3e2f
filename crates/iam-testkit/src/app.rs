//! An axum application under test, served on a loopback port (feature `axum`).
use std::net::SocketAddr;

/// Serve `router` on `127.0.0.1:0` (with the peer address as `ConnectInfo<SocketAddr>`, which
/// rate limits and client-IP extraction read) until the test's runtime ends; its base URL
/// (`http://127.0.0.1:PORT`).
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    base
}
