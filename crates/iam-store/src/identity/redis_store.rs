//! The login limiter and the MFA challenge store on Redis, shared by every instance.
use async_trait::async_trait;
use iam_identity::limiter::{LimitDecision, LimiterPolicy, LoginLimiter, MemoryLimiter};
use iam_identity::model::MfaChallenge;
use iam_identity::repository::{ChallengeStore, RepoResult};
use iam_identity::RepositoryError;
use redis::aio::MultiplexedConnection;
use std::time::Duration;

/// A Redis URL that does not parse (carries no part of it: it may hold a password).
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid Redis URL")]
pub struct RedisUrlError;

/// Redis unreachable or answering nonsense.
#[derive(Debug, thiserror::Error)]
#[error("redis unavailable")]
struct RedisDown;

/// One lazily opened, shared connection, reopened after a failure.
struct Connection {
    client: redis::Client,
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    timeout: Duration,
}

impl Connection {
    fn new(url: &str) -> Result<Self, RedisUrlError> {
        Ok(Self {
            client: redis::Client::open(url).map_err(|_| RedisUrlError)?,
            conn: tokio::sync::Mutex::new(None),
            timeout: Duration::from_millis(500),
        })
    }

    async fn get(&self) -> Option<MultiplexedConnection> {
        let mut slot = self.conn.lock().await;
        if slot.is_none() {
            let c =
                tokio::time::timeout(self.timeout, self.client.get_multiplexed_async_connection())
                    .await
                    .ok()?
                    .ok()?;
            *slot = Some(c);
        }
        slot.clone()
    }

    /// Run `cmd`; `None` (and the connection dropped) on failure or timeout.
    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        let mut conn = self.get().await?;
        match tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Some(v),
            _ => {
                *self.conn.lock().await = None;
                None
            }
        }
    }

    async fn script<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        key: &str,
        args: &[i64],
    ) -> Option<T> {
        let mut conn = self.get().await?;
        let mut inv = script.key(key);
        for a in args {
            inv.arg(*a);
        }
        match tokio::time::timeout(self.timeout, inv.invoke_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Some(v),
            _ => {
                *self.conn.lock().await = None;
                None
            }
        }
    }
}

// KEYS[1]: the account key; ARGV: now, forget-after seconds, key lifetime. Returns the count.
const RECORD_FAILURE: &str = r"
local now = tonumber(ARGV[1])
local forget = tonumber(ARGV[2])
local last = tonumber(redis.call('HGET', KEYS[1], 'l') or '0')
local c = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
if now - last >= forget then c = 0 end
c = c + 1
redis.call('HSET', KEYS[1], 'c', c, 'l', now)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return c
";

/// The login limiter on Redis. When Redis cannot be reached it limits in process (per
/// instance, never switched off) and logs a warning.
pub struct RedisLimiter {
    conn: Connection,
    prefix: String,
    policy: LimiterPolicy,
    fallback: MemoryLimiter,
    record_failure: redis::Script,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.prefix)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// Keys under `prefix` at `url` (nothing is connected yet).
    pub fn new(url: &str, prefix: &str, policy: LimiterPolicy) -> Result<Self, RedisUrlError> {
        Ok(Self {
            conn: Connection::new(url)?,
            prefix: prefix.to_owned(),
            policy,
            fallback: MemoryLimiter::new(policy),
            record_failure: redis::Script::new(RECORD_FAILURE),
        })
    }

    fn account_key(&self, tenant: &str, login: &str) -> String {
        format!("{}login-failures:{tenant}\u{0}{login}", self.prefix)
    }

    fn unreachable() {
        tracing::warn!("limiter store unreachable: limiting in process");
    }
}

#[async_trait]
impl LoginLimiter for RedisLimiter {
    async fn check_account(
        &self,
        tenant: &str,
        login: &str,
        now: i64,
    ) -> Result<LimitDecision, RepositoryError> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.account_key(tenant, login)).arg("c").arg("l");
        let Some((count, last)) = self.conn.run::<(Option<u32>, Option<i64>)>(&cmd).await else {
            Self::unreachable();
            return self.fallback.check_account(tenant, login, now).await;
        };
        let (count, last) = (count.unwrap_or(0), last.unwrap_or(0));
        if now - last >= self.policy.forget_after.as_secs() as i64 {
            return Ok(LimitDecision::Allowed);
        }
        let until = last + self.policy.lock_after(count).as_secs() as i64;
        Ok(if now < until {
            LimitDecision::Limited {
                retry_after: Duration::from_secs((until - now) as u64),
            }
        } else {
            LimitDecision::Allowed
        })
    }

    async fn record_failure(
        &self,
        tenant: &str,
        login: &str,
        now: i64,
    ) -> Result<(), RepositoryError> {
        let forget = self.policy.forget_after.as_secs() as i64;
        let lifetime = forget + self.policy.max_lock.as_secs() as i64;
        let key = self.account_key(tenant, login);
        if self
            .conn
            .script::<i64>(&self.record_failure, &key, &[now, forget, lifetime.max(1)])
            .await
            .is_none()
        {
            Self::unreachable();
            return self.fallback.record_failure(tenant, login, now).await;
        }
        Ok(())
    }

    async fn record_success(&self, tenant: &str, login: &str) -> Result<(), RepositoryError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.account_key(tenant, login));
        if self.conn.run::<i64>(&cmd).await.is_none() {
            Self::unreachable();
        }
        self.fallback.record_success(tenant, login).await
    }

    async fn hit_ip(&self, ip: &str, now: i64) -> Result<LimitDecision, RepositoryError> {
        let window = now - now.rem_euclid(60);
        let key = format!("{}ip-attempts:{ip}:{window}", self.prefix);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("INCR")
            .arg(&key)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(120)
            .ignore();
        let Some(conn) = self.conn.get().await else {
            Self::unreachable();
            return self.fallback.hit_ip(ip, now).await;
        };
        let mut conn = conn;
        let count =
            tokio::time::timeout(self.conn.timeout, pipe.query_async::<(u32,)>(&mut conn)).await;
        let Ok(Ok((count,))) = count else {
            *self.conn.conn.lock().await = None;
            Self::unreachable();
            return self.fallback.hit_ip(ip, now).await;
        };
        Ok(if count > self.policy.ip_attempts_per_minute {
            LimitDecision::Limited {
                retry_after: Duration::from_secs((window + 60 - now).max(1) as u64),
            }
        } else {
            LimitDecision::Allowed
        })
    }
}

/// MFA challenges on Redis (`GETDEL` makes `take` atomic; Redis ≥ 6.2). When Redis cannot be
/// reached every call fails (the service answers 503): a challenge cannot be checked in
/// another instance's memory.
pub struct RedisChallenges {
    conn: Connection,
    prefix: String,
}

impl std::fmt::Debug for RedisChallenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisChallenges")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisChallenges {
    /// Keys under `prefix` at `url` (nothing is connected yet).
    pub fn new(url: &str, prefix: &str) -> Result<Self, RedisUrlError> {
        Ok(Self {
            conn: Connection::new(url)?,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, id_hash: &str) -> String {
        format!("{}mfa-challenge:{id_hash}", self.prefix)
    }
}

fn encode(c: &MfaChallenge) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        c.tenant, c.user_id, c.expires_at, c.failures
    )
}

fn decode(s: &str) -> Option<MfaChallenge> {
    let mut parts = s.split('\n');
    let c = MfaChallenge {
        tenant: parts.next()?.to_owned(),
        user_id: parts.next()?.to_owned(),
        expires_at: parts.next()?.parse().ok()?,
        failures: parts.next()?.parse().ok()?,
    };
    parts.next().is_none().then_some(c)
}

#[async_trait]
impl ChallengeStore for RedisChallenges {
    async fn put(&self, id_hash: &str, challenge: &MfaChallenge, now: i64) -> RepoResult<()> {
        let ttl = challenge.expires_at - now;
        if ttl <= 0 {
            return Ok(());
        }
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(id_hash))
            .arg(encode(challenge))
            .arg("EX")
            .arg(ttl);
        self.conn
            .run::<()>(&cmd)
            .await
            .ok_or_else(|| RepositoryError::unavailable(RedisDown))
    }

    async fn take(&self, id_hash: &str, now: i64) -> RepoResult<Option<MfaChallenge>> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.key(id_hash));
        let value = self
            .conn
            .run::<Option<String>>(&cmd)
            .await
            .ok_or_else(|| RepositoryError::unavailable(RedisDown))?;
        Ok(value
            .as_deref()
            .and_then(decode)
            .filter(|c| c.expires_at > now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_round_trip_and_garbage_is_no_challenge() {
        let c = MfaChallenge {
            tenant: "acme".into(),
            user_id: "u1".into(),
            expires_at: 42,
            failures: 3,
        };
        assert_eq!(decode(&encode(&c)), Some(c));
        for bad in ["", "a\nb", "a\nb\nx\n1", "a\nb\n1\n2\n3"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
        assert!(RedisChallenges::new("not a url", "p").is_err());
    }
}
