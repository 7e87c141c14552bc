//! The load benchmark: starts the reference server, taskql on SQLite and taskql on
//! PostgreSQL on 127.0.0.1, seeds each through its own API, drives each workload with wrk
//! and prints medians and ratios as a Markdown table.
//!
//! `taskql-bench --taskql <binary> --reference <binary> [--smoke] [--only <workloads>]
//! [--sqlite-only] [--seconds <n>] [--runs <n>]`; `bench/run.sh` builds both and runs this.
//! `--only` takes a comma-separated subset of `list,mixed,login,create,paging`, and
//! `--sqlite-only` leaves PostgreSQL out: both are for measuring one change quickly. `BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! names the server on which a fresh database is created and dropped afterwards.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";
/// taskql's most root fields per operation: the seeding batch of creations.
const TASKQL_BATCH: usize = 10;
const REFERENCE_BATCH: usize = 1_000;
const PAGE: usize = 100;
const LIST: &str = "{ tasks(first: 50) { nodes { id title description status createdAt } } }";

/// How much of everything a run does.
struct Plan {
    users: usize,
    tasks_per_user: usize,
    paging_tasks: usize,
    seconds: u64,
    runs: usize,
}

impl Plan {
    fn full() -> Self {
        Self {
            users: 100,
            tasks_per_user: 20,
            paging_tasks: 100_000,
            seconds: 10,
            runs: 3,
        }
    }

    /// Only proves that every step still works.
    fn smoke() -> Self {
        Self {
            users: 4,
            tasks_per_user: 20,
            paging_tasks: 300,
            seconds: 1,
            runs: 1,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Reference,
    Taskql,
}

/// A server under test, started by the driver.
struct Server {
    label: &'static str,
    kind: Kind,
    child: Child,
    base: String,
    http: reqwest::Client,
}

/// One HTTP request as wrk sends it.
#[derive(Clone)]
struct Request {
    method: &'static str,
    path: String,
    token: Option<String>,
    body: Option<String>,
}

/// What the seeding left for the workloads.
struct Seeded {
    usernames: Vec<String>,
    tokens: Vec<String>,
    pager_token: String,
    /// The cursor that opens the last page of the paging account.
    last_page_after: String,
}

/// One wrk measurement.
#[derive(Clone, Copy, Default)]
struct Sample {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_ms: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    List,
    Create,
    Login,
    MixedList,
    MixedLogin,
    Page { last: bool, count: bool },
}

impl Workload {
    const ALL: [Workload; 9] = [
        Workload::List,
        Workload::MixedList,
        Workload::MixedLogin,
        Workload::Login,
        Workload::Create,
        Workload::Page {
            last: false,
            count: false,
        },
        Workload::Page {
            last: true,
            count: false,
        },
        Workload::Page {
            last: false,
            count: true,
        },
        Workload::Page {
            last: true,
            count: true,
        },
    ];

    /// The name `--only` selects it by.
    fn group(self) -> &'static str {
        match self {
            Workload::List => "list",
            Workload::MixedList | Workload::MixedLogin => "mixed",
            Workload::Login => "login",
            Workload::Create => "create",
            Workload::Page { .. } => "paging",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Workload::List => "W1: list my 20 tasks, 32 connections",
            Workload::Create => "W2: create a task, 32 connections",
            Workload::Login => "W3: login, 8 connections",
            Workload::MixedList => "W1 while W3 floods",
            Workload::MixedLogin => "W3 while W1 runs",
            Workload::Page {
                last: false,
                count: false,
            } => "page 1 of 100, 8 connections",
            Workload::Page {
                last: true,
                count: false,
            } => "page 1,000 of 100",
            Workload::Page {
                last: false,
                count: true,
            } => "page 1 with totalCount",
            Workload::Page {
                last: true,
                count: true,
            } => "page 1,000 with totalCount",
        }
    }
}

impl Server {
    async fn start(
        label: &'static str,
        kind: Kind,
        program: &Path,
        dir: &Path,
        database_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join(format!("{label}.log")))?;
        let mut command = Command::new(program);
        command
            .current_dir(dir)
            .stdout(log.try_clone()?)
            .stderr(log);
        match kind {
            Kind::Reference => {
                command.arg(&address).arg(dir.join("reference.db"));
            }
            Kind::Taskql => {
                command.arg("serve").envs(taskql_env(
                    &address,
                    database_url.context("taskql needs a database")?,
                ));
            }
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let server = Self {
            label,
            kind,
            child,
            base: format!("http://{address}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(&address).is_err() {
            ensure!(
                started.elapsed() < Duration::from_secs(60),
                "{label} did not start listening; see {}",
                dir.join(format!("{label}.log")).display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `request` and returns its JSON answer, failing on any error status or GraphQL error.
    async fn send(&self, request: &Request) -> anyhow::Result<Value> {
        let url = format!("{}{}", self.base, request.path);
        let mut builder = match request.method {
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        };
        if let Some(token) = &request.token {
            builder = builder.bearer_auth(token);
        }
        if let Some(body) = &request.body {
            builder = builder
                .header("content-type", "application/json")
                .body(body.clone());
        }
        let response = builder.send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        ensure!(
            status.is_success() && body.get("errors").is_none(),
            "{}: {} {} answered {status}: {body}",
            self.label,
            request.method,
            request.path
        );
        Ok(body)
    }

    fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Request {
        Request {
            method: "POST",
            path: "/graphql".into(),
            token: token.map(str::to_owned),
            body: Some(json!({ "query": query, "variables": variables }).to_string()),
        }
    }

    fn register(&self, username: &str) -> Request {
        match self.kind {
            Kind::Reference => Request {
                method: "POST",
                path: "/register".into(),
                token: None,
                body: Some(json!({ "username": username, "password": PASSWORD }).to_string()),
            },
            Kind::Taskql => self.graphql(
                None,
                "mutation($i: RegisterInput!) { register(input: $i) { id } }",
                json!({ "i": { "username": username, "email": format!("{username}@example.com"), "password": PASSWORD } }),
            ),
        }
    }

    fn login(&self, username: &str) -> Request {
        match self.kind {
            Kind::Reference => Request {
                method: "POST",
                path: "/login".into(),
                token: None,
                body: Some(json!({ "username": username, "password": PASSWORD }).to_string()),
            },
            Kind::Taskql => self.graphql(
                None,
                "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
                json!({ "i": { "username": username, "password": PASSWORD } }),
            ),
        }
    }

    fn token_of(&self, answer: &Value) -> anyhow::Result<String> {
        let token = match self.kind {
            Kind::Reference => &answer["accessToken"],
            Kind::Taskql => &answer["data"]["login"]["accessToken"],
        };
        token
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("{}: no token in {answer}", self.label))
    }

    /// Creates the tasks numbered `numbers` in one request.
    fn create(&self, token: &str, numbers: impl Iterator<Item = usize>) -> Request {
        let tasks: Vec<(String, String)> = numbers
            .map(|n| (format!("Task {n}"), format!("The description of task {n}")))
            .collect();
        match self.kind {
            Kind::Reference => Request {
                method: "POST",
                path: "/tasks".into(),
                token: Some(token.to_owned()),
                body: Some(
                    Value::Array(
                        tasks
                            .iter()
                            .map(|(title, description)| json!({ "title": title, "description": description }))
                            .collect(),
                    )
                    .to_string(),
                ),
            },
            Kind::Taskql => {
                let fields: String = tasks
                    .iter()
                    .enumerate()
                    .map(|(i, (title, description))| {
                        format!(
                            "t{i}: createTask(input: {{ title: \"{title}\", description: \"{description}\" }}) {{ id title status createdAt }} "
                        )
                    })
                    .collect();
                self.graphql(Some(token), &format!("mutation {{ {fields}}}"), json!({}))
            }
        }
    }

    fn list(&self, token: &str) -> Request {
        match self.kind {
            Kind::Reference => Request {
                method: "GET",
                path: "/tasks?first=50".into(),
                token: Some(token.to_owned()),
                body: None,
            },
            Kind::Taskql => self.graphql(Some(token), LIST, json!({})),
        }
    }

    fn page(&self, token: &str, after: Option<&str>, count: bool) -> Request {
        match self.kind {
            Kind::Reference => {
                let mut path = format!("/tasks?first={PAGE}&count={count}");
                if let Some(after) = after {
                    write!(path, "&after={after}").expect("writing to a String");
                }
                Request {
                    method: "GET",
                    path,
                    token: Some(token.to_owned()),
                    body: None,
                }
            }
            Kind::Taskql => {
                let total = if count { "totalCount " } else { "" };
                self.graphql(
                    Some(token),
                    &format!(
                        "query($after: String) {{ tasks(first: {PAGE}, after: $after) {{ {total}nodes {{ id title description status createdAt }} pageInfo {{ endCursor }} }} }}"
                    ),
                    json!({ "after": after }),
                )
            }
        }
    }

    fn end_cursor(&self, answer: &Value) -> anyhow::Result<String> {
        let cursor = match self.kind {
            Kind::Reference => &answer["endCursor"],
            Kind::Taskql => &answer["data"]["tasks"]["pageInfo"]["endCursor"],
        };
        cursor
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("{}: no cursor in {answer}", self.label))
    }

    async fn seed(&self, plan: &Plan, paging: bool) -> anyhow::Result<Seeded> {
        let started = Instant::now();
        let usernames: Vec<String> = (0..plan.users).map(|i| format!("user{i:03}")).collect();
        let batch = match self.kind {
            Kind::Reference => REFERENCE_BATCH,
            Kind::Taskql => TASKQL_BATCH,
        };
        // Twenty sign-ups at once, as a burst of real ones would come.
        let tokens: Vec<String> = stream::iter(usernames.iter().chain(["pager".to_owned()].iter()))
            .map(|username| async move {
                self.send(&self.register(username)).await?;
                let token = self.token_of(&self.send(&self.login(username)).await?)?;
                for start in (0..plan.tasks_per_user).step_by(batch) {
                    let end = (start + batch).min(plan.tasks_per_user);
                    self.send(&self.create(&token, start..end)).await?;
                }
                anyhow::Ok(token)
            })
            .buffered(20)
            .try_collect()
            .await?;
        let (pager_token, tokens) = tokens.split_last().context("no users")?;
        let pager_token = pager_token.clone();
        let filled = Instant::now();
        let paging_tasks = if paging { plan.paging_tasks } else { 2 * PAGE };
        let requests = (0..paging_tasks)
            .step_by(batch)
            .map(|start| self.create(&pager_token, start..(start + batch).min(paging_tasks)));
        stream::iter(requests)
            .map(|request| async move { self.send(&request).await.map(drop) })
            .buffer_unordered(8)
            .try_collect::<()>()
            .await?;
        let filled_in = filled.elapsed();
        let mut after: Option<String> = None;
        for _ in 1..paging_tasks / PAGE {
            let answer = self
                .send(&self.page(&pager_token, after.as_deref(), false))
                .await?;
            after = Some(self.end_cursor(&answer)?);
        }
        let last_page_after = after.context("the paging account needs two pages at least")?;
        eprintln!(
            "{}: seeded {} users with {} tasks each and {} tasks for paging in {:.1} s (paging account {:.1} s)",
            self.label,
            plan.users,
            plan.tasks_per_user,
            paging_tasks,
            started.elapsed().as_secs_f64(),
            filled_in.as_secs_f64()
        );
        Ok(Seeded {
            usernames,
            tokens: tokens.to_vec(),
            pager_token,
            last_page_after,
        })
    }

    /// The requests wrk sends for `workload`, in turn.
    fn requests(&self, workload: Workload, seeded: &Seeded) -> Vec<Request> {
        match workload {
            Workload::List | Workload::MixedList => {
                seeded.tokens.iter().map(|token| self.list(token)).collect()
            }
            Workload::Create => seeded
                .tokens
                .iter()
                .map(|token| self.create(token, 0..1))
                .collect(),
            Workload::Login | Workload::MixedLogin => seeded
                .usernames
                .iter()
                .map(|username| self.login(username))
                .collect(),
            Workload::Page { last, count } => {
                let after = last.then_some(seeded.last_page_after.as_str());
                vec![self.page(&seeded.pager_token, after, count)]
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The driver started this process, so it alone ends it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn taskql_env(address: &str, database_url: &str) -> Vec<(&'static str, String)> {
    let unlimited = "1000000/second".to_owned();
    vec![
        ("DATABASE_URL", database_url.to_owned()),
        ("BIND_ADDR", address.to_owned()),
        (
            "SECRET_KEY",
            "taskql-benchmark-secret-0123456789abcdef".to_owned(),
        ),
        ("RUST_LOG", "warn".to_owned()),
        ("SMTP_URL", "off".to_owned()),
        ("EMAIL_VERIFICATION", "off".to_owned()),
        // The limits are raised so that the benchmark measures the work, not the refusals.
        ("REGISTER_RATE_LIMIT", unlimited.clone()),
        ("MUTATION_RATE_LIMIT", unlimited.clone()),
        ("QUERY_RATE_LIMIT", unlimited.clone()),
        ("LOGIN_ADDRESS_RATE_LIMIT", unlimited.clone()),
        ("LOGIN_ACCOUNT_RATE_LIMIT", unlimited),
        // A login in flight counts as a failure until it succeeds, and a flood keeps many
        // in flight for each account and for the one client address.
        ("LOGIN_ACCOUNT_FREE_FAILURES", "1000".to_owned()),
        ("LOGIN_ADDRESS_FREE_FAILURES", "100000".to_owned()),
        ("MAX_SESSIONS_PER_ACCOUNT", "10000".to_owned()),
        ("REQUEST_TIMEOUT_SECONDS", "60".to_owned()),
    ]
}

fn lua_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A wrk script that sends `requests` in turn and prints its figures as one JSON line.
fn wrk_script(requests: &[Request]) -> String {
    let mut script = String::from("local specs = {\n");
    for request in requests {
        let mut headers = String::from("{ [\"Content-Type\"] = \"application/json\"");
        if let Some(token) = &request.token {
            write!(
                headers,
                ", Authorization = {}",
                lua_string(&format!("Bearer {token}"))
            )
            .expect("writing to a String");
        }
        headers.push_str(" }");
        let body = request
            .body
            .as_deref()
            .map_or_else(|| "nil".to_owned(), lua_string);
        writeln!(
            script,
            "  {{ {}, {}, {headers}, {body} }},",
            lua_string(request.method),
            lua_string(&request.path)
        )
        .expect("writing to a String");
    }
    script.push_str(
        r#"}
local prepared = {}
local next_index = 0
function init(args)
  for i, spec in ipairs(specs) do
    prepared[i] = wrk.format(spec[1], spec[2], spec[3], spec[4])
  end
  next_index = math.random(#prepared) - 1
end
function request()
  next_index = next_index % #prepared + 1
  return prepared[next_index]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"failed":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"#,
    );
    script
}

/// A wrk run in progress.
struct Load {
    child: Child,
    label: String,
}

impl Load {
    fn start(
        server: &Server,
        requests: &[Request],
        connections: usize,
        seconds: u64,
        dir: &Path,
        name: &str,
    ) -> anyhow::Result<Self> {
        let script = dir.join(format!("{}-{name}.lua", server.label));
        std::fs::write(&script, wrk_script(requests))?;
        let child = Command::new("wrk")
            .arg("-t2")
            .arg(format!("-c{connections}"))
            .arg(format!("-d{seconds}s"))
            .args(["--timeout", "30s", "-s"])
            .arg(&script)
            .arg(&server.base)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot run wrk")?;
        Ok(Self {
            child,
            label: format!("{} {name}", server.label),
        })
    }

    /// Requests, seconds, p50 and p99 in milliseconds.
    fn finish(self) -> anyhow::Result<(f64, f64, f64, f64)> {
        let output = self.child.wait_with_output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text
            .lines()
            .find_map(|line| line.strip_prefix("WRK "))
            .with_context(|| format!("{}: wrk printed no figures: {text}", self.label))?;
        let figures: Value = serde_json::from_str(line)?;
        let number = |key: &str| figures[key].as_f64().unwrap_or_default();
        ensure!(
            number("failed") == 0.0,
            "{}: {} requests failed: {text}",
            self.label,
            number("failed")
        );
        ensure!(
            number("requests") > 0.0,
            "{}: no request completed",
            self.label
        );
        Ok((
            number("requests"),
            number("duration_us") / 1e6,
            number("p50_us") / 1e3,
            number("p99_us") / 1e3,
        ))
    }
}

/// CPU time the process has used, in milliseconds.
fn cpu_ms(pid: u32, tick_ms: f64) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which may itself contain spaces, are counted from its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("malformed stat")?
        .1
        .split_whitespace()
        .collect();
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) * tick_ms)
}

/// The process's peak resident set (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .context("no VmHWM")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib / 1024.0)
}

fn tick_ms() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .map_or(10.0, |ticks| 1000.0 / ticks)
}

/// The median; NaN for no values (a workload left out of the run).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Measures one workload once on one server.
async fn measure(
    server: &Server,
    seeded: &Seeded,
    workload: Workload,
    plan: &Plan,
    dir: &Path,
    tick: f64,
) -> anyhow::Result<Vec<(Workload, Sample)>> {
    let pid = server.pid();
    match workload {
        Workload::MixedLogin => Ok(Vec::new()),
        Workload::MixedList => {
            let logins = server.requests(Workload::MixedLogin, seeded);
            let lists = server.requests(Workload::MixedList, seeded);
            // The flood starts first and ends last, so the listing runs under it throughout.
            let flood = Load::start(server, &logins, 8, plan.seconds + 2, dir, "mixed-login")?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let cpu = cpu_ms(pid, tick)?;
            let (requests, seconds, p50, p99) =
                Load::start(server, &lists, 32, plan.seconds, dir, "mixed-list")?.finish()?;
            let cpu = cpu_ms(pid, tick)? - cpu;
            let (logins, login_seconds, login_p50, login_p99) = flood.finish()?;
            Ok(vec![
                (
                    Workload::MixedList,
                    Sample {
                        rps: requests / seconds,
                        p50_ms: p50,
                        p99_ms: p99,
                        cpu_ms: cpu / requests,
                    },
                ),
                (
                    Workload::MixedLogin,
                    Sample {
                        rps: logins / login_seconds,
                        p50_ms: login_p50,
                        p99_ms: login_p99,
                        cpu_ms: f64::NAN,
                    },
                ),
            ])
        }
        _ => {
            let requests = server.requests(workload, seeded);
            server.send(&requests[0]).await?;
            let connections = match workload {
                Workload::List | Workload::Create => 32,
                _ => 8,
            };
            let cpu = cpu_ms(pid, tick)?;
            let (count, seconds, p50, p99) =
                Load::start(server, &requests, connections, plan.seconds, dir, "load")?.finish()?;
            let cpu = cpu_ms(pid, tick)? - cpu;
            Ok(vec![(
                workload,
                Sample {
                    rps: count / seconds,
                    p50_ms: p50,
                    p99_ms: p99,
                    cpu_ms: cpu / count,
                },
            )])
        }
    }
}

/// Every sample of one server, by workload, in run order.
type Samples = Vec<(Workload, Vec<Sample>)>;

fn samples_of(samples: &Samples, workload: Workload) -> &[Sample] {
    samples
        .iter()
        .find(|(w, _)| *w == workload)
        .map_or(&[], |(_, s)| s.as_slice())
}

fn push(samples: &mut Samples, workload: Workload, sample: Sample) {
    match samples.iter_mut().find(|(w, _)| *w == workload) {
        Some((_, list)) => list.push(sample),
        None => samples.push((workload, vec![sample])),
    }
}

fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn rate(value: f64) -> String {
    if value < 100.0 {
        format!("{value:.1}")
    } else {
        thousands(value)
    }
}

/// The median over runs of `of(server run) / of(reference run)`: ratios within one run.
fn ratio(ours: &[Sample], reference: &[Sample], of: impl Fn(&Sample) -> f64) -> f64 {
    median(
        ours.iter()
            .zip(reference)
            .map(|(a, b)| of(a) / of(b))
            .collect(),
    )
}

fn report(
    servers: &[Server],
    all: &[Samples],
    workloads: &[Workload],
    plan: &Plan,
) -> anyhow::Result<String> {
    let mut out = String::new();
    write!(out, "| workload |")?;
    for server in servers {
        write!(out, " {} |", server.label)?;
    }
    writeln!(out)?;
    writeln!(out, "|{}", " --- |".repeat(servers.len() + 1))?;
    let reference = &all[0];
    for &workload in workloads {
        write!(out, "| {} |", workload.title())?;
        for (index, samples) in all.iter().enumerate() {
            let ours = samples_of(samples, workload);
            let theirs = samples_of(reference, workload);
            let med = |of: fn(&Sample) -> f64| median(ours.iter().map(of).collect());
            let (rps, p50, p99, cpu) = (
                med(|s| s.rps),
                med(|s| s.p50_ms),
                med(|s| s.p99_ms),
                med(|s| s.cpu_ms),
            );
            let mut cell = format!("{} req/s", rate(rps));
            if index > 0 {
                write!(cell, " ({:.1}%)", 100.0 * ratio(ours, theirs, |s| s.rps))?;
            }
            write!(cell, "; p50 {p50:.2} ms, p99 {p99:.1} ms")?;
            if !cpu.is_nan() {
                write!(cell, "; {cpu:.3} ms CPU/req")?;
                if index > 0 {
                    write!(cell, " ({:.1}×)", ratio(ours, theirs, |s| s.cpu_ms))?;
                }
            }
            match workload {
                Workload::MixedList => {
                    let solo = samples_of(samples, Workload::List);
                    write!(cell, "; {:.0}% of solo", 100.0 * ratio_to(ours, solo))?;
                }
                Workload::MixedLogin => {
                    let solo = samples_of(samples, Workload::Login);
                    write!(cell, "; {:.0}% of solo", 100.0 * ratio_to(ours, solo))?;
                }
                Workload::Page { last: true, count } => {
                    let first = samples_of(samples, Workload::Page { last: false, count });
                    let slower = median(
                        ours.iter()
                            .zip(first)
                            .map(|(last, first)| last.p50_ms / first.p50_ms)
                            .collect(),
                    );
                    write!(cell, "; p50 {slower:.2}× page 1's")?;
                }
                _ => {}
            }
            write!(out, " {cell} |")?;
        }
        writeln!(out)?;
    }
    write!(out, "| peak RSS over the run |")?;
    for server in servers {
        write!(out, " {:.0} MiB |", peak_rss_mib(server.pid())?)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "\nMedians of {} runs of {} s each; percentages and × are medians of the ratios to the reference within each run.",
        plan.runs, plan.seconds
    )?;
    Ok(out)
}

/// The median over runs of this workload's req/s against another workload's of the same run.
fn ratio_to(ours: &[Sample], solo: &[Sample]) -> f64 {
    median(ours.iter().zip(solo).map(|(a, b)| a.rps / b.rps).collect())
}

struct Postgres {
    server: String,
    database: String,
}

impl Postgres {
    fn create(server: &str) -> anyhow::Result<Self> {
        let database = format!("taskql_bench_{}", std::process::id());
        psql(server, &format!("CREATE DATABASE {database}"))?;
        Ok(Self {
            server: server.to_owned(),
            database,
        })
    }

    fn url(&self) -> anyhow::Result<String> {
        let (base, _) = self
            .server
            .rsplit_once('/')
            .context("BENCH_POSTGRES_URL needs a database path")?;
        Ok(format!("{base}/{}", self.database))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Err(err) = psql(
            &self.server,
            &format!("DROP DATABASE IF EXISTS {}", self.database),
        ) {
            eprintln!("{err:#}");
        }
    }
}

fn psql(server: &str, statement: &str) -> anyhow::Result<()> {
    let status = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", server, "-c", statement])
        .status()
        .context("cannot run psql")?;
    if !status.success() {
        bail!("psql failed: {statement}");
    }
    Ok(())
}

struct Args {
    taskql: PathBuf,
    reference: PathBuf,
    smoke: bool,
    only: Option<Vec<String>>,
    sqlite_only: bool,
    seconds: Option<u64>,
    runs: Option<usize>,
}

fn args() -> anyhow::Result<Args> {
    let (mut taskql, mut reference, mut smoke, mut only, mut sqlite_only) =
        (None, None, false, None, false);
    let (mut seconds, mut runs) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--taskql" => taskql = Some(PathBuf::from(value()?)),
            "--reference" => reference = Some(PathBuf::from(value()?)),
            "--smoke" => smoke = true,
            "--only" => only = Some(value()?.split(',').map(str::to_owned).collect()),
            "--sqlite-only" => sqlite_only = true,
            "--seconds" => seconds = Some(value()?.parse()?),
            "--runs" => runs = Some(value()?.parse()?),
            other => bail!("unknown argument {other}"),
        }
    }
    // Absolute, since the servers run in the benchmark's own directory.
    let absolute = |path: Option<PathBuf>, flag: &str| {
        let path = path.with_context(|| format!("{flag} <binary> is required"))?;
        std::fs::canonicalize(&path).with_context(|| format!("no binary at {}", path.display()))
    };
    Ok(Args {
        taskql: absolute(taskql, "--taskql")?,
        reference: absolute(reference, "--reference")?,
        smoke,
        only,
        sqlite_only,
        seconds,
        runs,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let mut plan = if args.smoke {
        Plan::smoke()
    } else {
        Plan::full()
    };
    plan.seconds = args.seconds.unwrap_or(plan.seconds);
    plan.runs = args.runs.unwrap_or(plan.runs);
    let workloads: Vec<Workload> = Workload::ALL
        .into_iter()
        .filter(|w| {
            args.only
                .as_ref()
                .is_none_or(|only| only.iter().any(|name| name == w.group()))
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("taskql-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let postgres = Postgres::create(
        &std::env::var("BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
    )?;
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.join("taskql.db").display());
    let mut servers = vec![
        Server::start("reference", Kind::Reference, &args.reference, &dir, None).await?,
        Server::start(
            "taskql on SQLite",
            Kind::Taskql,
            &args.taskql,
            &dir,
            Some(&sqlite_url),
        )
        .await?,
    ];
    if !args.sqlite_only {
        servers.push(
            Server::start(
                "taskql on PostgreSQL",
                Kind::Taskql,
                &args.taskql,
                &dir,
                Some(&postgres.url()?),
            )
            .await?,
        );
    }
    for server in &servers {
        eprintln!("{}: pid {}", server.label, server.pid());
    }
    let mut seeded = Vec::new();
    for server in &servers {
        let paging = workloads.iter().any(|w| w.group() == "paging");
        seeded.push(server.seed(&plan, paging).await?);
    }
    let tick = tick_ms();
    let mut all: Vec<Samples> = servers.iter().map(|_| Vec::new()).collect();
    for &workload in &workloads {
        for run in 0..plan.runs {
            for (index, server) in servers.iter().enumerate() {
                for (measured, sample) in
                    measure(server, &seeded[index], workload, &plan, &dir, tick).await?
                {
                    eprintln!(
                        "{} | {} | run {} | {:.1} req/s, p50 {:.2} ms, p99 {:.1} ms, {:.3} ms CPU/req",
                        measured.title(),
                        server.label,
                        run + 1,
                        sample.rps,
                        sample.p50_ms,
                        sample.p99_ms,
                        sample.cpu_ms
                    );
                    push(&mut all[index], measured, sample);
                }
            }
        }
    }
    println!("{}", report(&servers, &all, &workloads, &plan)?);
    drop(servers);
    drop(postgres);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
