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

use super::local::{FORGET_AFTER, KNOWN_FOR};
use super::{BackoffRule, LoginKeys};

/// How long after a failure Redis is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// A call cancelled after waiting this long (or its whole timeout, if shorter) counts as
/// a failure: a healthy Redis answers in well under a millisecond. One cancelled sooner,
/// say because its client hung up, proves nothing about Redis.
const SLOW_CALL: Duration = Duration::from_millis(100);

/// One login attempt, in one step: when the account (unless its client is known to it)
/// or the address must still wait, returns `{0, account_left_ms, address_left_ms}` and
/// counts nothing; otherwise counts a failure of each in advance, sets a wait once its free
/// failures are spent, keeps each key until its wait is over plus the forgetting period,
/// and returns `{1, account_until_ms, address_until_ms}` (-1: no wait set).
/// KEYS[1] account, then with a client address KEYS[2] known client and KEYS[3] address;
/// ARGV now_ms, forget_ms, then free_failures, base_ms, max_ms of the account and of the
/// address.
const RESERVE: &str = r"
local now = tonumber(ARGV[1])
local forget = tonumber(ARGV[2])
local function left(key)
  local till = tonumber(redis.call('HGET', key, 'until'))
  if till and till > now then return till - now end
  return 0
end
local function fail(key, free, base, max)
  local failures = redis.call('HINCRBY', key, 'failures', 1)
  local wait = 0
  local till = -1
  if failures >= free then
    wait = math.min(base * 2 ^ math.min(failures - free, 31), max)
    till = now + wait
    redis.call('HSET', key, 'until', string.format('%.0f', till))
  else
    redis.call('HDEL', key, 'until')
  end
  redis.call('PEXPIRE', key, string.format('%.0f', wait + forget))
  return till
end
local account_left = 0
local known = KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1
if not known then account_left = left(KEYS[1]) end
local address_left = 0
if KEYS[3] then address_left = left(KEYS[3]) end
if account_left > 0 or address_left > 0 then return {0, account_left, address_left} end
local account_until = fail(KEYS[1], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
local address_until = -1
if KEYS[3] then
  address_until = fail(KEYS[3], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]))
end
return {1, account_until, address_until}
";

/// A login that succeeded: clears the account, remembers the client as known to it, and
/// takes back the failure reserved on the address with the wait that reservation set (any
/// wait once the address is below its free failures again).
/// KEYS[1] account, then with a client address KEYS[2] known client and KEYS[3] address
/// (only when its failure was reserved here); ARGV known_ms, the address's reserved
/// until_ms (-1: none), the address's free_failures.
const SUCCEED: &str = r"
redis.call('DEL', KEYS[1])
if KEYS[2] then redis.call('SET', KEYS[2], '1', 'PX', ARGV[1]) end
if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 1 then
  local failures = redis.call('HINCRBY', KEYS[3], 'failures', -1)
  if failures <= 0 then
    redis.call('DEL', KEYS[3])
  elseif failures < tonumber(ARGV[3]) or redis.call('HGET', KEYS[3], 'until') == ARGV[2] then
    redis.call('HDEL', KEYS[3], 'until')
  end
end
return 1
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

/// A rate window's count and milliseconds left (negative: no window), counting nothing.
const PEEK: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
return {count, redis.call('PTTL', KEYS[1])}
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
    reserve: Script,
    succeed: Script,
    hit: Script,
    peek: Script,
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
                reserve: Script::new(RESERVE),
                succeed: Script::new(SUCCEED),
                hit: Script::new(HIT),
                peek: Script::new(PEEK),
                down: AtomicBool::new(false),
                retry_at: Mutex::new(None),
            }),
        })
    }

    /// Runs [`RESERVE`] for a login: `(counted, account, address)`, where the last two
    /// are the milliseconds left to wait when not counted, else the waits' ends (-1: none).
    pub(super) async fn reserve(
        &self,
        keys: &LoginKeys<'_>,
        account_rule: BackoffRule,
        address_rule: BackoffRule,
        now: DateTime<Utc>,
    ) -> Option<(bool, i64, i64)> {
        let mut invocation = self.inner.reserve.key(self.key(keys.account));
        if let Some((known, address)) = keys.client {
            invocation.key(self.key(known)).key(self.key(address));
        }
        invocation
            .arg(now.timestamp_millis())
            .arg(FORGET_AFTER.as_millis() as u64);
        for rule in [account_rule, address_rule] {
            invocation
                .arg(rule.free_failures)
                .arg(rule.base.as_millis() as u64)
                .arg(rule.max.as_millis() as u64);
        }
        self.invoke::<(i64, i64, i64)>(invocation)
            .await
            .map(|(counted, account, address)| (counted == 1, account, address))
    }

    /// Runs [`SUCCEED`]; the address is refunded only when `refund` holds the wait its
    /// reservation here set (`None` inside: none).
    pub(super) async fn succeed(
        &self,
        keys: &LoginKeys<'_>,
        refund: Option<Option<i64>>,
        address_rule: BackoffRule,
    ) -> Option<()> {
        let mut invocation = self.inner.succeed.key(self.key(keys.account));
        if let Some((known, address)) = keys.client {
            invocation.key(self.key(known));
            if refund.is_some() {
                invocation.key(self.key(address));
            }
        }
        invocation
            .arg(KNOWN_FOR.as_millis() as u64)
            .arg(refund.flatten().unwrap_or(-1))
            .arg(address_rule.free_failures);
        self.invoke::<i64>(invocation).await.map(drop)
    }

    /// The window's count after this event, and the milliseconds left in it.
    pub(super) async fn hit(&self, key: &str, window_ms: i64) -> Option<(u64, i64)> {
        let mut invocation = self.inner.hit.key(self.key(key));
        invocation.arg(window_ms);
        self.invoke::<(u64, i64)>(invocation).await
    }

    /// The window's count and the milliseconds left in it, counting nothing.
    pub(super) async fn peek(&self, key: &str) -> Option<(u64, i64)> {
        let invocation = self.inner.peek.key(self.key(key));
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
