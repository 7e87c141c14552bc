//! Throttling counters shared through Redis by every replica, and what happens while Redis
//! is away. The tests against a real server need `TEST_REDIS_URL` (e.g.
//! redis://127.0.0.1:6379); without it they say so and pass. The one against a server
//! that never answers needs nothing.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use uuid::Uuid;

use crate::helpers::documents::REGISTER;
use crate::helpers::{
    PASSWORD, Reply, TestApp, assert_rate_limited, code, parallel_guesses, register_input,
    spawn_app_with,
};

/// The Redis server to test against, or `None` (after saying so, naming the test) when
/// none is configured.
fn redis_url() -> Option<String> {
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // libtest names each test's thread after the test.
            let thread = std::thread::current();
            let test = thread.name().unwrap_or("a shared-limits test");
            println!("{test}: skipped, TEST_REDIS_URL is not set");
            None
        }
    }
}

/// Two replicas on one database sharing `redis` under a key prefix no other test uses,
/// configured with `vars` too.
async fn replicas(redis: &str, vars: &[(&str, &str)]) -> (TestApp, TestApp) {
    let prefix = unique_prefix();
    let mut all = vec![("REDIS_URL", redis), ("REDIS_KEY_PREFIX", prefix.as_str())];
    all.extend_from_slice(vars);
    let a = spawn_app_with(&all).await;
    let b = a.replica(&all).await;
    (a, b)
}

/// A key prefix no other test uses.
fn unique_prefix() -> String {
    format!("taskql-test-{}:", Uuid::now_v7().simple())
}

#[tokio::test]
async fn replicas_sharing_redis_share_login_and_register_limits() {
    let Some(redis) = redis_url() else {
        return;
    };
    let prefix = unique_prefix();
    let vars = [
        ("REDIS_URL", redis.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("REGISTER_RATE_LIMIT", "3/hour"),
        ("LOGIN_ACCOUNT_FREE_FAILURES", "3"),
        ("LOGIN_ADDRESS_FREE_FAILURES", "1000"),
    ];
    let a = spawn_app_with(&vars).await;
    let b = a.replica(&vars).await;
    for (app, name) in [(&a, "ann"), (&b, "ben"), (&a, "cat")] {
        app.registered(name).await;
    }
    // b has registered one account itself, but the three together spent the budget.
    assert_rate_limited(
        &b.post_via(None, None, REGISTER, register_input("dan"))
            .await,
    );
    assert_rate_limited(
        &a.post_via(None, None, REGISTER, register_input("dan"))
            .await,
    );

    for app in [&a, &b, &a] {
        let Reply { body, .. } = app.login_from(None, "ann", "wrong password").await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    }
    // Three failures across two replicas: both make the account wait, even for the right
    // password, and a replica that never saw a failure agrees.
    for app in [&a, &b] {
        assert_eq!(
            assert_rate_limited(&app.login_from(None, "ann", PASSWORD).await),
            30
        );
    }
    let c = a.replica(&vars).await;
    assert_rate_limited(&c.login_from(None, "ANN", PASSWORD).await);
    // Another deployment on the same server (another prefix) counts on its own.
    let other_prefix = unique_prefix();
    let mut other = vars;
    other[1] = ("REDIS_KEY_PREFIX", other_prefix.as_str());
    let d = a.replica(&other).await;
    let Reply { status, body, .. } = d.login_from(None, "ann", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
}

/// A TCP proxy in front of Redis that the test can cut (every connection is dropped and
/// new ones are closed at once) and restore.
struct Proxy {
    url: String,
    cut: watch::Sender<bool>,
}

impl Proxy {
    async fn start(redis: &str) -> Proxy {
        let target = url::Url::parse(redis).expect("TEST_REDIS_URL is a URL");
        let target = format!(
            "{}:{}",
            target.host_str().unwrap_or("127.0.0.1"),
            target.port().unwrap_or(6379)
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let (cut, watching) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut watching = watching.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    if *watching.borrow_and_update() {
                        return;
                    }
                    let Ok(mut upstream) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = watching.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Proxy {
            url: format!("redis://{address}"),
            cut,
        }
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }

    fn restore(&self) {
        self.cut.send_replace(false);
    }
}

#[tokio::test]
async fn while_redis_is_away_local_limits_apply_and_shared_ones_return_with_it() {
    let Some(redis) = redis_url() else {
        return;
    };
    let proxy = Proxy::start(&redis).await;
    let (a, b) = replicas(
        &proxy.url,
        &[
            ("REDIS_TIMEOUT_MS", "200"),
            ("REGISTER_RATE_LIMIT", "2/hour"),
            ("LOGIN_ACCOUNT_FREE_FAILURES", "1000"),
            ("LOGIN_ADDRESS_FREE_FAILURES", "2"),
        ],
    )
    .await;
    for (app, name) in [(&a, "eve"), (&b, "fay")] {
        let Reply { status, body, .. } = app
            .post_via(None, None, REGISTER, register_input(name))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_rate_limited(
        &a.post_via(None, None, REGISTER, register_input("gus"))
            .await,
    );
    // Two failures from this address across the replicas make it wait. A success does not
    // clear an address, so the shared wait outlives the logins below.
    for (app, name) in [(&a, "eve"), (&b, "fay")] {
        let Reply { body, .. } = app.login_from(None, name, "wrong password").await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    }
    assert_rate_limited(&a.login_from(None, "eve", PASSWORD).await);

    proxy.cut();
    // Redis is away: requests are served, against each replica's own counters.
    let Reply { status, body, .. } = a.login_from(None, "eve", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
    for name in ["gus", "hal"] {
        let Reply { status, body, .. } =
            a.post_via(None, None, REGISTER, register_input(name)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["data"]["register"]["id"].is_string(), "{body}");
    }
    assert_rate_limited(
        &a.post_via(None, None, REGISTER, register_input("ida"))
            .await,
    );

    proxy.restore();
    // Once a replica reaches Redis again, the shared wait recorded before the cut applies.
    let mut shared_again = false;
    for _ in 0..40 {
        let Reply { status, body, .. } = b.login_from(None, "eve", PASSWORD).await;
        if status == 429 {
            assert_eq!(code(&body), "RATE_LIMITED");
            shared_again = true;
            break;
        }
        assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        shared_again,
        "the shared limit did not apply again within 10 s"
    );
    // b has registered one account itself; the shared count is spent.
    assert_rate_limited(
        &b.post_via(None, None, REGISTER, register_input("ida"))
            .await,
    );
}

#[tokio::test]
async fn concurrent_requests_on_two_replicas_never_exceed_the_shared_budget() {
    let Some(redis) = redis_url() else {
        return;
    };
    let (a, b) = replicas(&redis, &[("PASSWORD_STRENGTH_RATE_LIMIT", "7/minute")]).await;
    let query = "query($p: String!) { passwordStrength(password: $p) { score } }";
    let requests = (0..24).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.post_via(None, None, query, json!({ "p": format!("candidate {i}") }))
    });
    let outcomes = futures::future::join_all(requests).await;
    let served = outcomes.iter().filter(|reply| reply.status == 200).count();
    let refused = outcomes.iter().filter(|reply| reply.status == 429).count();
    assert_eq!((served, refused), (7, 17));
}

#[tokio::test]
async fn a_redis_that_accepts_and_never_answers_leaves_requests_to_local_limits() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let app = spawn_app_with(&[
        ("REDIS_URL", url.as_str()),
        ("REDIS_TIMEOUT_MS", "200"),
        ("REQUEST_TIMEOUT_SECONDS", "3"),
        ("LOGIN_ACCOUNT_FREE_FAILURES", "3"),
    ])
    .await;
    let started = std::time::Instant::now();
    app.registered("joan").await;
    for _ in 0..3 {
        // Past the probe interval, so that a call waits on the silent server again.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let Reply { status, body, .. } = app.login_from(None, "joan", "wrong password").await;
        assert_eq!((status, code(&body)), (200, "UNAUTHENTICATED"), "{body}");
    }
    assert_eq!(
        assert_rate_limited(&app.login_from(None, "joan", PASSWORD).await),
        30
    );
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test]
async fn parallel_guesses_on_two_replicas_are_counted_before_any_is_verified() {
    let Some(redis) = redis_url() else {
        return;
    };
    for (account_free, address_free, expected) in [("5", "1000", (5, 35)), ("1000", "4", (4, 36))] {
        let (a, b) = replicas(
            &redis,
            &[
                ("LOGIN_ACCOUNT_FREE_FAILURES", account_free),
                ("LOGIN_ADDRESS_FREE_FAILURES", address_free),
            ],
        )
        .await;
        a.registered("judy").await;
        let outcome = if account_free == "5" {
            parallel_guesses(&[&a, &b], 40, |_| "judy".into()).await
        } else {
            parallel_guesses(&[&a, &b], 40, |i| format!("victim{i}")).await
        };
        assert_eq!(
            outcome, expected,
            "free failures {account_free}/{address_free}"
        );
        assert_rate_limited(&b.login_from(None, "judy", PASSWORD).await);
    }
}

#[tokio::test]
async fn a_client_that_signed_in_through_one_replica_is_known_to_the_others() {
    let Some(redis) = redis_url() else {
        return;
    };
    let (a, b) = replicas(
        &redis,
        &[
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("LOGIN_ACCOUNT_FREE_FAILURES", "3"),
        ],
    )
    .await;
    a.registered("owner").await;
    let (home, attacker, stranger) = ("192.0.2.10", "203.0.113.66", "198.51.100.5");
    let Reply { status, body, .. } = a.login_from(Some(home), "owner", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    for _ in 0..3 {
        let Reply { body, .. } = b.login_from(Some(attacker), "owner", "guess one two").await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    }
    assert_eq!(
        assert_rate_limited(&a.login_from(Some(stranger), "owner", PASSWORD).await),
        30
    );
    let Reply { status, body, .. } = b.login_from(Some(home), "owner", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
}

#[tokio::test]
async fn a_success_clears_the_local_wait_too_so_it_does_not_return_with_the_next_outage() {
    let Some(redis) = redis_url() else {
        return;
    };
    let proxy = Proxy::start(&redis).await;
    let prefix = unique_prefix();
    let app = spawn_app_with(&[
        ("REDIS_URL", proxy.url.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("REDIS_TIMEOUT_MS", "200"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("LOGIN_ACCOUNT_FREE_FAILURES", "2"),
    ])
    .await;
    app.registered("lena").await;
    let (home, laptop) = ("192.0.2.10", "198.51.100.5");

    proxy.cut();
    // Redis is away: two failures make the account wait in this process's counters.
    for _ in 0..2 {
        let Reply { body, .. } = app.login_from(Some(laptop), "lena", "wrong password").await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    }
    assert_rate_limited(&app.login_from(Some(laptop), "lena", PASSWORD).await);

    proxy.restore();
    // Redis knows no failure of lena: once it answers again, she signs in.
    let mut signed_in = false;
    for _ in 0..40 {
        let Reply { status, body, .. } = app.login_from(Some(home), "lena", PASSWORD).await;
        if status == 200 {
            assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
            signed_in = true;
            break;
        }
        assert_eq!(code(&body), "RATE_LIMITED", "{body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(signed_in, "Redis did not answer again within 10 s");

    proxy.cut();
    // That success cleared the local wait too: at the next outage it does not come back.
    let Reply { status, body, .. } = app.login_from(Some(laptop), "lena", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
}

#[tokio::test]
async fn replicas_sharing_redis_share_the_login_and_query_rates() {
    let Some(redis) = redis_url() else {
        return;
    };
    let (a, b) = replicas(
        &redis,
        &[
            ("LOGIN_ADDRESS_RATE_LIMIT", "4/minute"),
            ("LOGIN_ACCOUNT_RATE_LIMIT", "1000/minute"),
            ("QUERY_RATE_LIMIT", "3/minute"),
        ],
    )
    .await;
    // One login each way to set up, then two more: four from this address in all.
    let user = a.user("roamer").await;
    for app in [&b, &a, &b] {
        let Reply { body, .. } = app.login_from(None, "roamer", PASSWORD).await;
        assert!(body["data"]["login"].is_object(), "{body}");
    }
    assert_rate_limited(&a.login_from(None, "roamer", PASSWORD).await);
    assert_rate_limited(&b.login_from(None, "roamer", PASSWORD).await);

    for app in [&a, &b, &a] {
        let body = app.gql(Some(&user.token), "{ me { id } }", json!({})).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    assert_rate_limited(
        &b.post_via(Some(&user.token), None, "{ me { id } }", json!({}))
            .await,
    );
}
