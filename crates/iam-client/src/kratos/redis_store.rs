//! [`RedisSessionStore`]: the shared session store in Redis (feature `redis`).
use super::store::{PurgeEvent, PurgeSink, SessionStore, StoreError, StoredSession};
use futures_util::StreamExt as _;
use iam_core::jwks::BoxFuture;
use std::fmt;
use std::time::Duration;

/// [`SessionStore`] in Redis. Keys: `{prefix}s:{hash}` (the body, with the TTL),
/// `{prefix}sid:{session}` and `{prefix}iid:{identity}` (sets of hashes). Every call has a
/// short timeout (default 250 ms) so a slow Redis costs little before the fallback to Kratos;
/// the connection is re-established after a failure.
///
/// Purges are announced on the pub/sub channel `{prefix}purge` (`s:{session}` or
/// `i:{identity}`); the watch subscribes on its own connection, pings it when quiet (every
/// second) and reconnects with a backoff (0.1 s doubling to 5 s) when it fails.
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

    fn channel(&self) -> String {
        format!("{}purge", self.prefix)
    }

    /// Drop the entries listed in `set` and the set, then announce `message` to every watcher.
    async fn purge_set(&self, set: String, message: String) -> Result<(), StoreError> {
        let (members,): (Vec<String>,) = self.run(redis::pipe().smembers(&set)).await?;
        let mut pipe = redis::pipe();
        for m in &members {
            pipe.del(m).ignore();
        }
        pipe.del(&set).ignore();
        pipe.publish(self.channel(), message).ignore();
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
    fn get<'a>(
        &'a self,
        key: &'a [u8; 32],
    ) -> BoxFuture<'a, Result<Option<StoredSession>, StoreError>> {
        Box::pin(async move {
            let k = self.body_key(key);
            let (body, left): (Option<Vec<u8>>, i64) =
                self.run(redis::pipe().atomic().get(&k).pttl(&k)).await?;
            // PTTL: -2 gone, -1 kept forever (not written by us): neither is served.
            Ok(match (body, u64::try_from(left)) {
                (Some(body), Ok(ms)) if ms > 0 => {
                    Some(StoredSession::new(body, Duration::from_millis(ms)))
                }
                _ => None,
            })
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
            let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let k = self.body_key(key);
            let sid = format!("{}sid:{session_id}", self.prefix);
            let iid = format!("{}iid:{identity_id}", self.prefix);
            let mut pipe = redis::pipe();
            pipe.atomic()
                .pset_ex(&k, body, ms)
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
        Box::pin(self.purge_set(
            format!("{}sid:{session_id}", self.prefix),
            format!("s:{session_id}"),
        ))
    }

    fn purge_identity<'a>(&'a self, identity_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.purge_set(
            format!("{}iid:{identity_id}", self.prefix),
            format!("i:{identity_id}"),
        ))
    }

    fn watch_purges(&self, sink: PurgeSink) -> Option<BoxFuture<'static, ()>> {
        let client = self.client.clone();
        let channel = self.channel();
        Some(Box::pin(async move {
            let mut backoff = WATCH_BACKOFF_MIN;
            loop {
                match subscribe(&client, &channel).await {
                    Ok(pubsub) => {
                        backoff = WATCH_BACKOFF_MIN;
                        sink(PurgeEvent::Live);
                        let (mut control, mut messages) = pubsub.split();
                        loop {
                            match tokio::time::timeout(WATCH_PING_EVERY, messages.next()).await {
                                Ok(Some(msg)) => {
                                    if let Some(event) = parse_purge(msg.get_payload_bytes()) {
                                        sink(event);
                                    }
                                }
                                Ok(None) => break,
                                // Quiet: make sure the connection is still there.
                                Err(_) => {
                                    let pong = tokio::time::timeout(
                                        WATCH_CONNECT_TIMEOUT,
                                        control.ping::<redis::Value>(),
                                    )
                                    .await;
                                    if !matches!(pong, Ok(Ok(_))) {
                                        break;
                                    }
                                }
                            }
                        }
                        sink(PurgeEvent::Lost);
                        tracing::warn!("session purge watch lost its Redis connection");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "session purge watch cannot subscribe");
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(WATCH_BACKOFF_MAX);
            }
        }))
    }
}

const WATCH_PING_EVERY: Duration = Duration::from_secs(1);
const WATCH_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const WATCH_BACKOFF_MIN: Duration = Duration::from_millis(100);
const WATCH_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Longest purge message read; anything longer is not ours and is ignored.
const MAX_PURGE_MESSAGE: usize = 1024;

async fn subscribe(
    client: &redis::Client,
    channel: &str,
) -> Result<redis::aio::PubSub, StoreError> {
    let connect = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    tokio::time::timeout(WATCH_CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| StoreError("subscribe timeout".into()))?
        .map_err(|e| StoreError(format!("subscribe: {}", e.kind_name())))
}

/// `s:{session}` or `i:{identity}`; anything else (too long, not UTF-8, unknown) is ignored.
fn parse_purge(payload: &[u8]) -> Option<PurgeEvent> {
    if payload.len() > MAX_PURGE_MESSAGE {
        return None;
    }
    let text = std::str::from_utf8(payload).ok()?;
    match text.split_once(':')? {
        ("s", id) if !id.is_empty() => Some(PurgeEvent::Session(id.to_owned())),
        ("i", id) if !id.is_empty() => Some(PurgeEvent::Identity(id.to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_messages_parse_and_anything_else_is_ignored() {
        assert_eq!(
            parse_purge(b"s:abc"),
            Some(PurgeEvent::Session("abc".into()))
        );
        assert_eq!(
            parse_purge(b"i:a:b"),
            Some(PurgeEvent::Identity("a:b".into()))
        );
        for junk in [&b""[..], b"s:", b"x:abc", b"abc", b"s:\xff\xfe"] {
            assert_eq!(parse_purge(junk), None, "{junk:?}");
        }
        assert_eq!(
            parse_purge(format!("s:{}", "a".repeat(2000)).as_bytes()),
            None
        );
    }
}
