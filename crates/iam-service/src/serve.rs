//! Serving a router: the main listener, an optional internal one for `/metrics`, the health
//! routes, the client address in `ConnectInfo`, graceful shutdown.
use crate::health::Health;
use crate::metrics::Metrics;
use axum::Router;
use std::net::SocketAddr;

/// A listener could not be opened or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address cannot be bound (in use, not permitted).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// A service's HTTP side: the application router plus health and metrics.
#[derive(Debug)]
pub struct Service {
    app: Router,
    health: Option<Health>,
    metrics: Option<Metrics>,
    metrics_listen: Option<SocketAddr>,
}

impl Service {
    /// Serve `app`.
    pub fn new(app: Router) -> Self {
        Self {
            app,
            health: None,
            metrics: None,
            metrics_listen: None,
        }
    }

    /// Add `/health/alive` and `/health/ready`.
    pub fn health(mut self, health: Health) -> Self {
        self.health = Some(health);
        self
    }

    /// Add `/metrics` (on the main listener unless [`Service::metrics_listen`] is set).
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Serve `/metrics` on this internal address instead of the main listener.
    pub fn metrics_listen(mut self, addr: Option<SocketAddr>) -> Self {
        self.metrics_listen = addr;
        self
    }

    /// The main router and the internal one (when `/metrics` is served apart).
    pub fn routers(self) -> (Router, Option<Router>) {
        let mut app = self.app;
        if let Some(h) = &self.health {
            app = app.merge(h.router());
        }
        let mut internal = None;
        if let Some(m) = &self.metrics {
            if self.metrics_listen.is_some() {
                let mut r: Router = m.router();
                if let Some(h) = &self.health {
                    r = r.merge(h.router());
                }
                internal = Some(r);
            } else {
                app = app.merge(m.router());
            }
        }
        (app, internal)
    }

    /// Bind and serve until SIGINT or SIGTERM; in-flight requests finish first.
    pub async fn serve(self, listen: SocketAddr) -> Result<(), ServeError> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: listen,
                source,
            })?;
        let internal_addr = self.metrics_listen;
        let (app, internal) = self.routers();
        let internal_listener = match internal_addr {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServeError::Bind { addr, source })?,
            ),
            None => None,
        };
        serve_listeners(
            listener,
            app,
            internal_listener.zip(internal),
            crate::shutdown::signal(),
        )
        .await
    }
}

/// Serve on listeners already bound (tests bind port 0), until `shutdown` resolves.
pub async fn serve_listeners(
    listener: tokio::net::TcpListener,
    app: Router,
    internal: Option<(tokio::net::TcpListener, Router)>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let internal_task = internal.map(|(l, r)| {
        let mut rx = rx.clone();
        tokio::spawn(async move {
            axum::serve(l, r.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                })
                .await
        })
    });
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let mut rx_main = rx;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = rx_main.wait_for(|stop| *stop).await;
    })
    .await?;
    if let Some(task) = internal_task {
        if let Ok(result) = task.await {
            result?;
        }
    }
    Ok(())
}
