//! Counters in Redis, shared by every replica that uses the same server and key prefix.
//!
//! Each update is one Lua script, so concurrent replicas cannot lose counts. Every call
//! has a short timeout; a failure switches this process to its local counters (one
//! warning), and Redis is tried again at most once a second until it answers (one info
//! line). The connection manager reconnects by itself.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, FromRedisValue, RedisResult, Script, ScriptInvocation};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::BackoffRule;
use super::local::FORGET_AFTER;

/// How long after a failure Redis is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// A call cancelled after waiting this long (or its whole timeout, if shorter) counts as
/// a failure: a healthy Redis answers in well under a millisecond. One cancelled sooner,
/// say because its client hung up, proves nothing about Redis.
const SLOW_CALL: Duration = Duration::from_millis(100);

/// Counts one failure of a login key, sets its wait once the free failures are spent and
/// keeps the key until its wait is over plus the forgetting period.
/// KEYS[1] key; ARGV now_ms, free_failures, base_ms, max_ms, forget_ms.
const FAIL: &str = r"
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local now = tonumber(ARGV[1])
local free = tonumber(ARGV[2])
local wait = 0
if failures >= free then
  wait = math.min(tonumber(ARGV[3]) * 2 ^ math.min(failures - free, 31), tonumber(ARGV[4]))
  redis.call('HSET', KEYS[1], 'until', string.format('%.0f', now + wait))
else
  redis.call('HDEL', KEYS[1], 'until')
end
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', wait + tonumber(ARGV[5])))
return failures
";

/// Counts one event of a rate; the key's first event starts its window, and the key
/// expires with it. Returns the count and the milliseconds left.
/// KEYS[1] key; ARGV window_ms.
const HIT: &str = r"
local count = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if count == 1 or left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {count, left}
";

/// Where the shared counters live.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://…` or `unix://…`; may hold a password, so it is never logged.
    pub url: SecretString,
    /// Put before every key, so several deployments (or tests) can share one server.
    pub key_prefix: String,
    /// The longest any Redis call may take before the local counters answer instead.
    pub timeout: Duration,
}

#[derive(Clone)]
pub(super) struct SharedCounters {
    inner: Arc<Inner>,
}

struct Inner {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    fail: Script,
    hit: Script,
    /// Whether the last call failed.
    down: AtomicBool,
    /// While down, no call before this moment.
    retry_at: Mutex<Option<Instant>>,
}

impl SharedCounters {
    /// Prepares the connection and tries it once. An unreachable server is not an error:
    /// it is logged and the local counters serve until it answers.
    pub(super) async fn connect(settings: &RedisSettings) -> anyhow::Result<Self> {
        let counters = Self::new(settings)?;
        let mut ping = ::redis::cmd("PING");
        ping.arg("taskql");
        let pong = counters
            .call(|mut conn| async move { ping.query_async::<String>(&mut conn).await })
            .await;
        if pong.is_some() {
            tracing::info!("throttling counters are shared through Redis");
        }
        Ok(counters)
    }

    /// Prepares the connection, which opens on the first call.
    fn new(settings: &RedisSettings) -> anyhow::Result<Self> {
        let client = Client::open(settings.url.expose_secret())
            .map_err(|_| anyhow::anyhow!("REDIS_URL: not a valid Redis URL"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(settings.timeout);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|err| anyhow::anyhow!("REDIS_URL: {err}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                connection,
                prefix: settings.key_prefix.clone(),
                timeout: settings.timeout,
                fail: Script::new(FAIL),
                hit: Script::new(HIT),
                down: AtomicBool::new(false),
                retry_at: Mutex::new(None),
            }),
        })
    }

    pub(super) async fn blocked_until(&self, key: &str) -> Option<Option<i64>> {
        let key = self.key(key);
        let mut get = ::redis::cmd("HGET");
        get.arg(&key).arg("until");
        self.call(|mut conn| async move { get.query_async::<Option<i64>>(&mut conn).await })
            .await
    }

    pub(super) async fn fail(
        &self,
        key: &str,
        rule: BackoffRule,
        now: DateTime<Utc>,
    ) -> Option<()> {
        let mut invocation = self.inner.fail.key(self.key(key));
        invocation
            .arg(now.timestamp_millis())
            .arg(rule.free_failures)
            .arg(rule.base.as_millis() as u64)
            .arg(rule.max.as_millis() as u64)
            .arg(FORGET_AFTER.as_millis() as u64);
        self.invoke::<u64>(invocation).await.map(drop)
    }

    pub(super) async fn clear(&self, key: &str) -> Option<()> {
        let mut del = ::redis::cmd("DEL");
        del.arg(self.key(key));
        self.call(|mut conn| async move { del.query_async::<u64>(&mut conn).await })
            .await
            .map(drop)
    }

    /// The window's count after this event, and the milliseconds left in it.
    pub(super) async fn hit(&self, key: &str, window_ms: i64) -> Option<(u64, i64)> {
        let mut invocation = self.inner.hit.key(self.key(key));
        invocation.arg(window_ms);
        self.invoke::<(u64, i64)>(invocation).await
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.inner.prefix)
    }

    async fn invoke<T: FromRedisValue + Send>(
        &self,
        invocation: ScriptInvocation<'_>,
    ) -> Option<T> {
        self.call(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await
    }

    /// Runs one call within the timeout; `None` when Redis is down (or just failed).
    async fn call<T, F>(&self, call: impl FnOnce(ConnectionManager) -> F) -> Option<T>
    where
        F: Future<Output = RedisResult<T>>,
    {
        let inner = &self.inner;
        if inner.down.load(Ordering::Relaxed) {
            let mut retry_at = inner.retry_at.lock().unwrap_or_else(|e| e.into_inner());
            match *retry_at {
                Some(at) if Instant::now() < at => return None,
                // This caller probes; the others keep to local counters meanwhile.
                _ => *retry_at = Some(Instant::now() + RETRY_AFTER),
            }
        }
        // The request's deadline may drop this future before its own timeout ends it; the
        // guard then records the failure, or every later call would wait on Redis again.
        let mut pending = Pending {
            counters: self,
            started: Instant::now(),
            finished: false,
        };
        let outcome = tokio::time::timeout(inner.timeout, call(inner.connection.clone())).await;
        pending.finished = true;
        match outcome {
            Ok(Ok(value)) => {
                if inner.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis answers again: throttling counters are shared again");
                }
                Some(value)
            }
            Ok(Err(err)) => {
                self.went_down(&err.to_string());
                None
            }
            Err(_) => {
                self.went_down("timed out");
                None
            }
        }
    }

    fn went_down(&self, why: &str) {
        let inner = &self.inner;
        *inner.retry_at.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Instant::now() + RETRY_AFTER);
        if !inner.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = why,
                "Redis is unreachable: throttling falls back to this process's counters"
            );
        }
    }
}

/// A Redis call in flight; dropped before it finished, it marks Redis down if it had
/// waited long enough to say so.
struct Pending<'a> {
    counters: &'a SharedCounters,
    started: Instant,
    finished: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let slow = SLOW_CALL.min(self.counters.inner.timeout);
        if !self.finished && self.started.elapsed() >= slow {
            self.counters
                .went_down("cancelled while waiting for an answer");
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    /// Counters whose Redis accepts connections and never answers, as a hung server does.
    async fn silent_redis(timeout: Duration) -> SharedCounters {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        SharedCounters::new(&RedisSettings {
            url: SecretString::from(url),
            key_prefix: "test:".into(),
            timeout,
        })
        .unwrap()
    }

    fn down(counters: &SharedCounters) -> bool {
        counters.inner.down.load(Ordering::Relaxed)
    }

    #[tokio::test]
    async fn a_call_cancelled_while_redis_hangs_marks_it_down() {
        let counters = silent_redis(Duration::from_secs(5)).await;
        let cancelled = |wait| tokio::time::timeout(wait, counters.hit("k", 1000));
        assert!(cancelled(Duration::from_millis(10)).await.is_err());
        assert!(!down(&counters), "a call cancelled at once proves nothing");
        assert!(cancelled(Duration::from_millis(300)).await.is_err());
        assert!(
            down(&counters),
            "a call cancelled after 300 ms means Redis hangs"
        );
        // Down: the next calls answer at once, and the local counters serve.
        let started = Instant::now();
        assert_eq!(counters.hit("k", 1000).await, None);
        assert!(started.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_call_that_outlasts_its_timeout_marks_redis_down() {
        let counters = silent_redis(Duration::from_millis(50)).await;
        let started = Instant::now();
        assert_eq!(counters.hit("k", 1000).await, None);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(down(&counters));
    }
}
