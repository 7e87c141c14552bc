//! Measures whether `login` outcomes that the API does not tell apart take the same time.
//!
//! One server answers the failure paths: wrong password, unknown account, unknown email,
//! deactivated account and a password too short to be anyone's. A second server on the
//! same database, whose account limit trips after one failure, answers throttled logins for
//! a real and an unknown account (each round it also fails one untimed login for a new
//! name, so that its typical verification time, which a throttled login sleeps, stays
//! current). A successful login is the reference for a path that does
//! more (it starts a session). Requests go one at a time, the paths taking turns in a new
//! random order each round, so noise spreads evenly over them; the median, the 90th percentile and the ratio of each median to the
//! wrong-password median are printed.
//!
//! `cargo run --release --example timing_bench` (SQLite in a temporary directory), or with
//! `BENCH_DATABASE_URL=postgres://…` on an existing, empty database.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use taskql::config::Config;
use taskql::startup::Application;

const WARMUP: usize = 10;
const SAMPLES: usize = 200;
const PASSWORD: &str = "correct horse battery staple";

async fn spawn(database_url: &str, account_free_failures: &str) -> String {
    let env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", database_url.to_owned()),
        (
            "SECRET_KEY",
            "timing-benchmark-secret-0123456789abcdef".to_owned(),
        ),
        (
            "DATA_ENCRYPTION_KEY",
            "timing-benchmark-data-key-0123456789abcdef".to_owned(),
        ),
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
        (
            "LOGIN_ACCOUNT_FREE_FAILURES",
            account_free_failures.to_owned(),
        ),
        ("LOGIN_ADDRESS_FREE_FAILURES", "100000".to_owned()),
        ("LOGIN_BACKOFF_BASE_SECONDS", "3600".to_owned()),
    ]);
    let config = Config::from_lookup(|name| env.get(name).cloned()).expect("config");
    let app = Application::build(config).await.expect("application");
    let url = format!("http://{}/graphql", app.address());
    tokio::spawn(app.run_until_stopped());
    url
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Value {
    client
        .post(url)
        .json(body)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON")
}

fn login(username: &str, password: &str) -> Value {
    json!({
        "query": "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
        "variables": { "i": { "username": username, "password": password } },
    })
}

/// One way a login can go: where it is sent, what is sent and the code it must answer.
struct Path {
    name: &'static str,
    url: String,
    body: Value,
    code: Option<&'static str>,
    times: Vec<Duration>,
}

impl Path {
    fn new(name: &'static str, url: &str, body: Value, code: Option<&'static str>) -> Self {
        Self {
            name,
            url: url.to_owned(),
            body,
            code,
            times: Vec::with_capacity(SAMPLES),
        }
    }

    /// Sends the login once, checks its outcome and returns how long it took.
    async fn time(&self, client: &reqwest::Client) -> Duration {
        let start = Instant::now();
        let answer = post(client, &self.url, &self.body).await;
        let elapsed = start.elapsed();
        let code = answer["errors"][0]["extensions"]["code"].as_str();
        assert_eq!(code, self.code, "{}: {answer}", self.name);
        elapsed
    }
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()));
    let open = spawn(&database_url, "1000").await;
    let strict = spawn(&database_url, "1").await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");

    for name in ["walter", "dora", "tess"] {
        let register = json!({
            "query": "mutation($i: RegisterInput!) { register(input: $i) { id } }",
            "variables": { "i": { "username": name, "email": format!("{name}@example.com"), "password": PASSWORD } },
        });
        let answer = post(&client, &open, &register).await;
        assert!(answer["data"]["register"].is_object(), "{answer}");
    }
    Database::connect(&database_url)
        .await
        .expect("database")
        .execute_unprepared("UPDATE users SET is_active = false WHERE username = 'dora'")
        .await
        .expect("deactivate");
    // One failure each trips the strict server's account limit for an hour.
    for name in ["tess", "ghost"] {
        post(&client, &strict, &login(name, "wrong password")).await;
    }

    let failed = Some("UNAUTHENTICATED");
    let limited = Some("RATE_LIMITED");
    let mut paths = [
        Path::new(
            "wrong password",
            &open,
            login("walter", "wrong password"),
            failed,
        ),
        Path::new(
            "unknown account",
            &open,
            login("nobody", "wrong password"),
            failed,
        ),
        Path::new(
            "unknown email",
            &open,
            login("nobody@example.com", PASSWORD),
            failed,
        ),
        Path::new(
            "deactivated account",
            &open,
            login("dora", PASSWORD),
            failed,
        ),
        Path::new(
            "password too short",
            &open,
            login("walter", "short"),
            failed,
        ),
        Path::new(
            "throttled, real account",
            &strict,
            login("tess", PASSWORD),
            limited,
        ),
        Path::new(
            "throttled, unknown account",
            &strict,
            login("ghost", PASSWORD),
            limited,
        ),
        Path::new(
            "success (reference)",
            &open,
            login("walter", PASSWORD),
            None,
        ),
    ];
    // A throttled login sleeps for the median of the server's latest verifications. The
    // strict server would otherwise verify only during setup, so each round it also fails
    // one login for a name never seen before, untimed, as a live server's traffic would.
    let refresh_typical = |round: usize| {
        let body = login(&format!("newcomer{round}"), "wrong password");
        let (client, strict) = (&client, &strict);
        async move {
            let answer = post(client, strict, &body).await;
            assert_eq!(answer["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        }
    };
    for round in 0..WARMUP {
        refresh_typical(round).await;
        for path in &paths {
            path.time(&client).await;
        }
    }
    let mut order: Vec<usize> = (0..paths.len()).collect();
    for round in WARMUP..WARMUP + SAMPLES {
        refresh_typical(round).await;
        order.shuffle(&mut rand::rng());
        for &index in &order {
            let elapsed = paths[index].time(&client).await;
            paths[index].times.push(elapsed);
        }
    }

    let backend = database_url.split(':').next().unwrap_or("?");
    println!(
        "login timing on {backend}: {SAMPLES} requests per path, one at a time, in shuffled turns"
    );
    println!(
        "  {:<28} {:>11} {:>11} {:>16}",
        "path", "median ms", "p90 ms", "median / wrong"
    );
    let reference = {
        let mut sorted = paths[0].times.clone();
        sorted.sort();
        percentile(&sorted, 0.5)
    };
    for path in &mut paths {
        path.times.sort();
        let median = percentile(&path.times, 0.5);
        println!(
            "  {:<28} {:>11.2} {:>11.2} {:>16.3}",
            path.name,
            millis(median),
            millis(percentile(&path.times, 0.9)),
            millis(median) / millis(reference)
        );
    }
}
