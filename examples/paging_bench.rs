//! Measures keyset paging on a 100,000-task account: the median latency of page 1 versus
//! page 1,000 (100 tasks a page), in one run, through the real HTTP API.
//!
//! `cargo run --release --example paging_bench` uses a fresh SQLite file;
//! `BENCH_DATABASE_URL=postgres://…/some_empty_db` runs it on PostgreSQL instead.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use taskql::config::Config;
use taskql::startup::Application;

const TASKS: usize = 100_000;
const PAGE: usize = 100;
/// As many creations as one operation may hold root fields.
const CREATES_PER_REQUEST: usize = taskql::graphql::limits::MAX_ROOT_FIELDS;
const ROUNDS: usize = 41;

const PAGE_QUERY: &str = "query($after: String) { tasks(first: 100, after: $after) {
  edges { cursor node { id title status priority dueAt createdAt } }
  pageInfo { hasNextPage hasPreviousPage endCursor }
} }";
const COUNTED_QUERY: &str = "query($after: String) { tasks(first: 100, after: $after) {
  totalCount
  edges { cursor node { id title status priority dueAt createdAt } }
  pageInfo { hasNextPage hasPreviousPage endCursor }
} }";

struct Client {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl Client {
    async fn gql(&self, query: &str, variables: Value) -> Value {
        let mut request = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let body: Value = request
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON");
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database_url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()));
    let config = Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(database_url.clone()),
        "SECRET_KEY" => Some("paging-benchmark-secret-0123456789abcdef".into()),
        "DATA_ENCRYPTION_KEY" => Some("paging-benchmark-data-key-0123456789abcdef".into()),
        "BIND_ADDR" => Some("127.0.0.1:0".into()),
        "RUST_LOG" => Some("warn".into()),
        _ => None,
    })?;
    let app = Application::build(config).await?;
    let mut client = Client {
        http: reqwest::Client::new(),
        url: format!("http://{}/graphql", app.address()),
        token: None,
    };
    tokio::spawn(app.run_until_stopped());

    let password = "correct horse battery staple";
    client
        .gql(
            "mutation($input: RegisterInput!) { register(input: $input) { id } }",
            json!({ "input": { "username": "bench", "email": "bench@example.com", "password": password } }),
        )
        .await;
    let login = client
        .gql(
            "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
            json!({ "input": { "username": "bench", "password": password } }),
        )
        .await;
    client.token = login["login"]["accessToken"].as_str().map(str::to_owned);

    let started = Instant::now();
    for chunk in 0..TASKS / CREATES_PER_REQUEST {
        let fields: String = (0..CREATES_PER_REQUEST)
            .map(|i| {
                let n = chunk * CREATES_PER_REQUEST + i;
                let priority = ["LOW", "MEDIUM", "HIGH", "URGENT"][n % 4];
                format!(
                    "t{i}: createTask(input: {{ title: \"Task {n} of the benchmark\", priority: {priority} }}) {{ id }} "
                )
            })
            .collect();
        client
            .gql(&format!("mutation {{ {fields} }}"), json!({}))
            .await;
    }
    println!(
        "filled {TASKS} tasks in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Walk to page 1,000 once, keeping the cursor that opens it.
    let mut after = Value::Null;
    let mut last_page_cursor = Value::Null;
    for page in 1..=TASKS / PAGE {
        if page == TASKS / PAGE {
            last_page_cursor = after.clone();
        }
        let data = client.gql(PAGE_QUERY, json!({ "after": after })).await;
        after = data["tasks"]["pageInfo"]["endCursor"].clone();
    }
    let last = client
        .gql(PAGE_QUERY, json!({ "after": last_page_cursor }))
        .await;
    assert_eq!(last["tasks"]["edges"].as_array().map(Vec::len), Some(PAGE));
    assert_eq!(last["tasks"]["pageInfo"]["hasNextPage"], false);

    for (label, query) in [
        ("without totalCount", PAGE_QUERY),
        ("with totalCount", COUNTED_QUERY),
    ] {
        let (mut first, mut thousandth) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let start = Instant::now();
            client.gql(query, json!({ "after": null })).await;
            first.push(start.elapsed());
            let start = Instant::now();
            client
                .gql(query, json!({ "after": last_page_cursor }))
                .await;
            thousandth.push(start.elapsed());
        }
        println!(
            "{label}: median of {ROUNDS} runs: page 1 {:.2} ms, page 1,000 {:.2} ms",
            median(first).as_secs_f64() * 1e3,
            median(thousandth).as_secs_f64() * 1e3,
        );
    }
    Ok(())
}
