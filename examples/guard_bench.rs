//! Measures what the guard's per-request session check costs.
//!
//! Two replicas share one database: one checks the session of every request in the
//! database (the default, `SESSION_CACHE_SECONDS=0`), the other trusts its cache for 5 s,
//! the longest allowed, which skips all but one check every 5 s. Both serve `{ me { id } }` with the same
//! token, in alternating rounds; the medians and their ratio are printed. An anonymous
//! `{ __typename }` on the first replica is the reference for a request with no guard work.
//!
//! `cargo run --release --example guard_bench` (SQLite in a temporary directory), or with
//! `BENCH_DATABASE_URL=postgres://…` on an existing, empty database.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use taskql::config::Config;
use taskql::startup::Application;

const ROUNDS: usize = 7;
const REQUESTS: usize = 2_000;
const CONCURRENCY: usize = 16;

async fn spawn(database_url: &str, cache_seconds: &str) -> String {
    let env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", database_url.to_owned()),
        (
            "SECRET_KEY",
            "guard-benchmark-secret-0123456789abcdef".to_owned(),
        ),
        (
            "DATA_ENCRYPTION_KEY",
            "guard-benchmark-data-key-0123456789abcdef".to_owned(),
        ),
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("SESSION_CACHE_SECONDS", cache_seconds.to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]);
    let config = Config::from_lookup(|name| env.get(name).cloned()).expect("config");
    let app = Application::build(config).await.expect("application");
    let url = format!("http://{}/graphql", app.address());
    tokio::spawn(app.run_until_stopped());
    url
}

async fn post(client: &reqwest::Client, url: &str, token: Option<&str>, body: &Value) -> Value {
    let mut request = client.post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON")
}

/// Requests per second for `REQUESTS` requests, `CONCURRENCY` in flight.
async fn rate(client: &reqwest::Client, url: &str, token: Option<&str>, body: &Value) -> f64 {
    let start = Instant::now();
    let failures = futures::stream::iter(0..REQUESTS)
        .map(|_| post(client, url, token, body))
        .buffer_unordered(CONCURRENCY)
        .filter(|answer| std::future::ready(answer.get("errors").is_some()))
        .count()
        .await;
    assert_eq!(failures, 0, "every request must succeed");
    REQUESTS as f64 / start.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()));
    let checked = spawn(&database_url, "0").await;
    let cached = spawn(&database_url, "5").await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");

    let register = json!({
        "query": "mutation($i: RegisterInput!) { register(input: $i) { id } }",
        "variables": { "i": { "username": "bench", "email": "bench@example.com", "password": "correct horse battery staple" } },
    });
    post(&client, &checked, None, &register).await;
    let login = json!({
        "query": "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
        "variables": { "i": { "username": "bench", "password": "correct horse battery staple" } },
    });
    let answer = post(&client, &checked, None, &login).await;
    let token = answer["data"]["login"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();

    let me = json!({ "query": "{ me { id } }" });
    let anonymous = json!({ "query": "{ __typename }" });
    // Warm both replicas and their pools.
    rate(&client, &checked, Some(&token), &me).await;
    rate(&client, &cached, Some(&token), &me).await;

    let (mut with_check, mut without_check, mut reference) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            with_check.push(rate(&client, &checked, Some(&token), &me).await);
            without_check.push(rate(&client, &cached, Some(&token), &me).await);
        } else {
            without_check.push(rate(&client, &cached, Some(&token), &me).await);
            with_check.push(rate(&client, &checked, Some(&token), &me).await);
        }
        reference.push(rate(&client, &checked, None, &anonymous).await);
    }
    let backend = database_url.split(':').next().unwrap_or("?");
    println!(
        "guard benchmark on {backend}: {ROUNDS} rounds of {REQUESTS} requests, {CONCURRENCY} in flight"
    );
    println!(
        "  me, session checked every request   median {:>8.0} req/s",
        median(with_check.clone())
    );
    println!(
        "  me, session check cached (skipped)  median {:>8.0} req/s",
        median(without_check.clone())
    );
    println!(
        "  __typename, anonymous (no guard)    median {:>8.0} req/s",
        median(reference.clone())
    );
    println!(
        "  ratio checked / cached: {:.3}",
        median(with_check) / median(without_check)
    );
}
