//! The cache a fleet of proxies shares: session bodies by credential hash, with indexes by
//! session and identity so revocation can purge them.
use iam_core::jwks::BoxFuture;
use std::fmt;
use std::time::Duration;

/// A shared store failed (unreachable, timeout, protocol error).
#[derive(Debug, Clone, thiserror::Error)]
#[error("session store: {0}")]
pub struct StoreError(pub String);

/// A cache shared between instances. Keys are SHA-256 hashes of credentials; values are
/// Kratos `whoami` bodies (they hold identity traits, no credential).
pub trait SessionStore: Send + Sync {
    /// The session body cached for `key`.
    fn get<'a>(&'a self, key: &'a [u8; 32]) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;
    /// Keep `body` for `ttl`, indexed by session and identity.
    fn put<'a>(
        &'a self,
        key: &'a [u8; 32],
        body: &'a [u8],
        ttl: Duration,
        session_id: &'a str,
        identity_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Drop every entry of a session.
    fn purge_session<'a>(&'a self, session_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Drop every entry of an identity.
    fn purge_identity<'a>(&'a self, identity_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// [`SessionStore`] in Redis. Keys: `{prefix}s:{hash}` (the body, with the TTL),
/// `{prefix}sid:{session}` and `{prefix}iid:{identity}` (sets of hashes). Every call has a
/// short timeout (default 250 ms) so a slow Redis costs little before the fallback to Kratos;
/// the connection is re-established after a failure.
pub struct RedisSessionStore {
    client: redis::Client,
    conn: tokio::sync::RwLock<Option<redis::aio::MultiplexedConnection>>,
    prefix: String,
    timeout: Duration,
}

impl fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: not shown.
        f.debug_struct("RedisSessionStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisSessionStore {
    /// A store at `url` (`redis://host:port/db`). Nothing is connected yet.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let client =
            redis::Client::open(url).map_err(|_| StoreError("invalid Redis URL".into()))?;
        Ok(Self {
            client,
            conn: tokio::sync::RwLock::new(None),
            prefix: "iam:kratos:".into(),
            timeout: Duration::from_millis(250),
        })
    }
    /// Key prefix (default `iam:kratos:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
    /// Per-call timeout (default 250 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, StoreError> {
        if let Some(c) = self.conn.read().await.as_ref() {
            return Ok(c.clone());
        }
        let mut slot = self.conn.write().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = tokio::time::timeout(self.timeout, self.client.get_multiplexed_async_connection())
            .await
            .map_err(|_| StoreError("connect timeout".into()))?
            .map_err(|e| StoreError(format!("connect: {}", e.kind_name())))?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Run one pipeline with the timeout; forget the connection when it fails.
    async fn run<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, StoreError> {
        let mut conn = self.connection().await?;
        let out = tokio::time::timeout(self.timeout, pipe.query_async::<T>(&mut conn)).await;
        let err = match out {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => StoreError(e.kind_name().to_owned()),
            Err(_) => StoreError("timeout".into()),
        };
        *self.conn.write().await = None;
        Err(err)
    }

    fn body_key(&self, key: &[u8; 32]) -> String {
        let mut s = format!("{}s:", self.prefix);
        for b in key {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    async fn purge_set(&self, set: String) -> Result<(), StoreError> {
        let (members,): (Vec<String>,) = self.run(redis::pipe().smembers(&set)).await?;
        let mut pipe = redis::pipe();
        for m in &members {
            pipe.del(m).ignore();
        }
        pipe.del(&set).ignore();
        self.run::<()>(&pipe).await
    }
}

trait KindName {
    fn kind_name(&self) -> &'static str;
}

impl KindName for redis::RedisError {
    fn kind_name(&self) -> &'static str {
        if self.is_timeout() {
            "timeout"
        } else if self.is_connection_refusal() || self.is_connection_dropped() || self.is_io_error()
        {
            "connection failed"
        } else {
            "redis error"
        }
    }
}

impl SessionStore for RedisSessionStore {
    fn get<'a>(&'a self, key: &'a [u8; 32]) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let (v,): (Option<Vec<u8>>,) = self.run(redis::pipe().get(self.body_key(key))).await?;
            Ok(v)
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a [u8; 32],
        body: &'a [u8],
        ttl: Duration,
        session_id: &'a str,
        identity_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let secs = ttl.as_secs().max(1);
            let k = self.body_key(key);
            let sid = format!("{}sid:{session_id}", self.prefix);
            let iid = format!("{}iid:{identity_id}", self.prefix);
            let mut pipe = redis::pipe();
            pipe.atomic()
                .set_ex(&k, body, secs)
                .ignore()
                .sadd(&sid, &k)
                .ignore()
                .expire(&sid, 86_400)
                .ignore()
                .sadd(&iid, &k)
                .ignore()
                .expire(&iid, 86_400)
                .ignore();
            self.run::<()>(&pipe).await
        })
    }

    fn purge_session<'a>(&'a self, session_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.purge_set(format!("{}sid:{session_id}", self.prefix)))
    }

    fn purge_identity<'a>(&'a self, identity_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.purge_set(format!("{}iid:{identity_id}", self.prefix)))
    }
}
