//! Query-cost bombs: documents built to make the server work far more than their size
//! suggests. Each is refused before any resolver runs, with BAD_USER_INPUT and a message
//! naming the limit, and the server keeps answering afterwards.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::documents::{LOGIN, TYPENAME};
use crate::helpers::{PASSWORD, Socket, TestApp, code, message, spawn_app, spawn_app_with};

/// POSTs `body` as JSON; returns the status and the JSON answer. Bounded in time, so a
/// bomb that hangs the server fails the probe instead of hanging it.
async fn send(app: &TestApp, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = app
        .request()
        .timeout(Duration::from_secs(20))
        .json(body.clone());
    if let Some(token) = token {
        request = request.token(token);
    }
    let reply = request.send().await;
    (reply.status, reply.body)
}

/// Sends `query` and asserts it was refused before running: status 200 (plain JSON),
/// BAD_USER_INPUT, no `data`, and a message containing `expected`. Then checks that the
/// server still answers.
async fn assert_bomb_refused(app: &TestApp, token: Option<&str>, query: &str, expected: &str) {
    let (status, body) = send(app, token, &json!({ "query": query })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(message(&body).contains(expected), "{body}");
    assert!(body["data"].is_null(), "nothing ran: {body}");
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{body}");
    let (status, alive) = send(app, None, &json!({ "query": TYPENAME })).await;
    assert_eq!(
        (status, &alive["data"]["__typename"]),
        (200, &json!("Query"))
    );
}

/// The whole refusal of a document holding more than one authentication mutation.
const ONCE_PER_DOCUMENT: &str = "`login`, `register`, `refreshToken`, `changePassword`, `deleteAccount`, `changeEmail`, `resetPassword`, `verifyEmail`, `beginTwoFactorSetup`, `enableTwoFactor`, `disableTwoFactor`, `regenerateRecoveryCodes`, `verifyLogin` may appear at most once per document.";

/// Sends `body` and asserts the refusal of more than one authentication mutation in a
/// document: status 200, BAD_USER_INPUT, exactly [`ONCE_PER_DOCUMENT`], no `data`.
async fn assert_once_per_document(app: &TestApp, token: Option<&str>, body: &Value) {
    let (status, body) = send(app, token, body).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(message(&body), ONCE_PER_DOCUMENT, "{body}");
    assert!(body["data"].is_null(), "{body}");
}

fn login_input() -> Value {
    json!({ "username": "victim", "password": PASSWORD })
}

/// An app with one account, `victim`, registered and never logged in.
async fn app_with_victim(vars: &[(&str, &str)]) -> TestApp {
    let app = spawn_app_with(vars).await;
    let body = app.register("victim", "victim@example.com", PASSWORD).await;
    assert!(body["errors"].is_null(), "{body}");
    app
}

#[tokio::test]
async fn probe_depth_bomb() {
    let app = spawn_app().await;
    let mut nested = String::from("name");
    for _ in 0..30 {
        nested = format!("ofType {{ {nested} }}");
    }
    let query = format!("{{ __type(name: \"Task\") {{ {nested} }} }}");
    assert_bomb_refused(&app, None, &query, "nested too deep").await;
}

#[tokio::test]
async fn probe_bracket_nesting_bomb() {
    let app = spawn_app().await;
    // 20,000 open braces in 40 KB: refused before the parser recurses into them.
    let query = "{a".repeat(20_000);
    let (status, body) = send(&app, None, &json!({ "query": query })).await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert!(message(&body).contains("larger than 32768 bytes"), "{body}");
    let query = format!("{{ me {} }}", "{ a ".repeat(40));
    assert_bomb_refused(&app, None, &query, "nests brackets more than 32 deep").await;
    let query = format!("{{ f(x: {}) }}", "[".repeat(1_000));
    assert_bomb_refused(&app, None, &query, "nests brackets more than 32 deep").await;
}

#[tokio::test]
async fn probe_alias_bomb() {
    let app = spawn_app().await;
    let user = app.user("aliaser").await;
    let token = Some(user.token.as_str());
    let aliases = |n: usize| -> String { (0..n).map(|i| format!("a{i}: id ")).collect() };
    let body = app
        .gql(token, &format!("{{ me {{ {} }} }}", aliases(30)), json!({}))
        .await;
    assert!(body["errors"].is_null(), "30 aliases pass: {body}");
    let query = format!("{{ me {{ {} }} }}", aliases(31));
    assert_bomb_refused(&app, token, &query, "at most 30 aliases").await;
    // The classic: one field aliased a thousand times.
    let query: String = (0..1_000).map(|i| format!("m{i}: me {{ id }} ")).collect();
    assert_bomb_refused(
        &app,
        token,
        &format!("{{ {query} }}"),
        "more than 2000 tokens",
    )
    .await;
}

#[tokio::test]
async fn probe_directive_bomb() {
    let app = spawn_app().await;
    let user = app.user("director").await;
    let token = Some(user.token.as_str());
    let directives = |n: usize| " @include(if: true) @skip(if: false)".repeat(n);
    let query = format!("{{ me{} {{ id }} }}", directives(1));
    let body = app.gql(token, &query, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    // Five on one field, refused by their number before their repetition is looked at.
    let query = format!("{{ me{} @include(if: true) {{ id }} }}", directives(2));
    let expected = "directives on the field `me` cannot be greater than `4`";
    assert_bomb_refused(&app, token, &query, expected).await;
    let query = format!("{{ me{} {{ id }} }}", directives(250));
    assert_bomb_refused(&app, token, &query, "more than 2000 tokens").await;
}

#[tokio::test]
async fn probe_fragment_cycle() {
    let app = spawn_app().await;
    let query = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
    assert_bomb_refused(&app, None, query, "fragments may not form a cycle").await;
    let query = "{ __typename ...A } fragment A on Query { __type(name: \"Task\") { name } ...A }";
    assert_bomb_refused(&app, None, query, "`A` spreads itself").await;
}

#[tokio::test]
async fn probe_unused_fragment_cycle() {
    let app = spawn_app().await;
    let query = "{ __typename } fragment A on Query { ...B } fragment B on Query { ...A }";
    assert_bomb_refused(&app, None, query, "fragments may not form a cycle").await;
}

#[tokio::test]
async fn probe_deep_fragment_chain() {
    let app = spawn_app().await;
    let chain = |n: usize| {
        let fragments: String = (0..n)
            .map(|i| format!("fragment F{i} on Query {{ ...F{} }} ", i + 1))
            .collect();
        format!("{{ ...F0 }} {fragments} fragment F{n} on Query {{ __typename }}")
    };
    let body = app.gql(None, &chain(9), json!({})).await;
    assert_eq!(
        body["data"]["__typename"], "Query",
        "10 nested spreads pass: {body}"
    );
    assert_bomb_refused(&app, None, &chain(10), "nested at most 10 deep").await;
    assert_bomb_refused(&app, None, &chain(150), "nested at most 10 deep").await;
}

#[tokio::test]
async fn probe_fragment_fan_out_bomb() {
    let app = spawn_app().await;
    // Nine fragments, each spreading the next nine times: 9^9 fields from 2 KB.
    let fragments: String = (0..9)
        .map(|i| {
            let spreads = format!("...W{} ", i + 1).repeat(9);
            format!("fragment W{i} on __Type {{ {spreads} }} ")
        })
        .collect();
    let query = format!(
        "{{ __type(name: \"Task\") {{ ...W0 }} }} {fragments} fragment W9 on __Type {{ name }}"
    );
    assert_bomb_refused(
        &app,
        None,
        &query,
        "at most 5000 fields once its fragments are expanded",
    )
    .await;
}

#[tokio::test]
async fn probe_token_bomb() {
    let app = spawn_app().await;
    // Ten tokens around `n` fields.
    let fields = |n: usize| format!("{{ __type(name: \"Task\") {{ {} }} }}", "name ".repeat(n));
    let body = app.gql(None, &fields(1_990), json!({})).await;
    assert_eq!(
        body["data"]["__type"]["name"], "Task",
        "2,000 tokens pass: {body}"
    );
    assert_bomb_refused(&app, None, &fields(1_991), "more than 2000 tokens").await;
    // Commas are not tokens, but the bytes they take are bounded.
    let commas = format!("{{ __typename {} }}", ",".repeat(40_000));
    assert_bomb_refused(&app, None, &commas, "larger than 32768 bytes").await;
}

#[tokio::test]
async fn probe_root_field_bomb() {
    let app = spawn_app().await;
    let user = app.user("rooted").await;
    let token = Some(user.token.as_str());
    let roots = |n: usize| -> String { (0..n).map(|_| "me { id } ").collect() };
    let body = app
        .gql(token, &format!("{{ {} }}", roots(10)), json!({}))
        .await;
    assert!(body["errors"].is_null(), "10 root fields pass: {body}");
    let query = format!("{{ {} }}", roots(11));
    assert_bomb_refused(&app, token, &query, "at most 10 root fields").await;
    // Hidden in a fragment, and in mutations: no task is created.
    let creates: String = (0..11)
        .map(|i| format!("t{i}: createTask(input: {{ title: \"t\" }}) {{ id }} "))
        .collect();
    let query = format!("mutation {{ ...C }} fragment C on Mutation {{ {creates} }}");
    assert_bomb_refused(&app, token, &query, "at most 10 root fields").await;
    assert_eq!(app.count("tasks").await, 0);
}

#[tokio::test]
async fn probe_batch_bomb() {
    let app = spawn_app_with(&[("GRAPHQL_MAX_BATCH", "5")]).await;
    let user = app.user("batcher").await;
    let create = json!({ "query": "mutation { createTask(input: { title: \"t\" }) { id } }" });
    let (status, body) = send(&app, Some(&user.token), &json!(vec![create.clone(); 6])).await;
    assert_eq!(status, 400);
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_eq!(message(&body), "A batch holds 1 to 5 operations.");
    // A bomb in a batch is answered on its own, without running; the rest run.
    let bomb = json!({ "query": format!("{{ {} }}", "me { id } ".repeat(11)) });
    let (status, body) = send(&app, Some(&user.token), &json!([create, bomb])).await;
    assert_eq!(status, 200);
    assert!(body[0]["data"]["createTask"]["id"].is_string(), "{body}");
    assert_eq!(code(&body[1]), "BAD_USER_INPUT");
    assert_eq!(app.count("tasks").await, 1);

    let off = spawn_app().await;
    let batch = json!(vec![json!({ "query": TYPENAME }); 1_000]);
    let (status, body) = send(&off, None, &batch).await;
    assert_eq!(status, 400);
    assert!(
        message(&body).contains("one operation per request"),
        "{body}"
    );
}

#[tokio::test]
async fn probe_thousand_aliased_logins() {
    let app = app_with_victim(&[]).await;
    let logins: String = (0..1_000)
        .map(|i| format!("l{i}: login(input: $input) {{ accessToken }} "))
        .collect();
    let query = format!("mutation($input: LoginInput!) {{ {logins} }}");
    let body = json!({ "query": query, "variables": { "input": login_input() } });
    let (status, body) = send(&app, None, &body).await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(app.count("sessions").await, 0);
}

#[tokio::test]
async fn probe_two_aliased_logins() {
    let app = app_with_victim(&[]).await;
    let query = "mutation($input: LoginInput!) { a: login(input: $input) { accessToken } b: login(input: $input) { accessToken } }";
    let body = json!({ "query": query, "variables": { "input": login_input() } });
    assert_once_per_document(&app, None, &body).await;
    assert_eq!(app.count("sessions").await, 0);
}

#[tokio::test]
async fn probe_aliased_account_deletions_guessing_the_password() {
    let app = spawn_app().await;
    let user = app.user("victim").await;
    let guesses: String = (0..10)
        .map(|i| format!("g{i}: deleteAccount(password: \"guess number {i}\") "))
        .collect();
    let body = json!({ "query": format!("mutation {{ {guesses} }}") });
    assert_once_per_document(&app, Some(&user.token), &body).await;
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test]
async fn probe_authentication_mutations_mixed_and_hidden_in_fragments() {
    let app = spawn_app().await;
    let register = |name: &str| {
        format!(
            "{name}: register(input: {{ username: \"{name}\", email: \"{name}@example.com\", password: \"{PASSWORD}\" }}) {{ id }}"
        )
    };
    let query = format!(
        "mutation {{ ...A ...B }} fragment A on Mutation {{ {} }} fragment B on Mutation {{ {} }}",
        register("one"),
        register("two")
    );
    assert_bomb_refused(&app, None, &query, ONCE_PER_DOCUMENT).await;
    let query = format!(
        "mutation {{ {} refreshToken(refreshToken: \"x\") {{ accessToken }} }}",
        register("three")
    );
    assert_bomb_refused(&app, None, &query, ONCE_PER_DOCUMENT).await;
    assert_eq!(app.count("users").await, 0);
}

#[tokio::test]
async fn probe_authentication_mutations_across_a_batch() {
    let app = app_with_victim(&[("GRAPHQL_MAX_BATCH", "10")]).await;
    let login = json!({
        "query": LOGIN,
        "variables": { "input": login_input() },
    });
    let (status, body) = send(&app, None, &json!(vec![login.clone(); 10])).await;
    assert_eq!(status, 400);
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_eq!(
        message(&body),
        "`login`, `register`, `refreshToken`, `changePassword`, `deleteAccount`, `changeEmail`, `resetPassword`, `verifyEmail`, `beginTwoFactorSetup`, `enableTwoFactor`, `disableTwoFactor`, `regenerateRecoveryCodes`, `verifyLogin` may appear at most once per batched request."
    );
    assert_eq!(app.count("sessions").await, 0);
    // One per batch is fine.
    let (status, body) = send(&app, None, &json!([login, { "query": TYPENAME }])).await;
    assert_eq!(status, 200);
    assert!(
        body[0]["data"]["login"]["accessToken"].is_string(),
        "{body}"
    );
    assert_eq!(app.count("sessions").await, 1);
}

#[tokio::test]
async fn probe_persisted_query_bomb_is_not_cached() {
    use sha2::Digest;
    let app = spawn_app().await;
    let query = format!("{{ {} }}", "a ".repeat(2_500));
    assert!(query.len() < 8 * 1024);
    let hash = format!("{:x}", sha2::Sha256::digest(query.as_bytes()));
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let (status, body) = send(
        &app,
        None,
        &json!({ "query": query, "extensions": extensions }),
    )
    .await;
    assert_eq!(status, 200);
    assert!(message(&body).contains("more than 2000 tokens"), "{body}");
    let (status, body) = send(&app, None, &json!({ "extensions": extensions })).await;
    assert_eq!(status, 200);
    assert_eq!(message(&body), "PersistedQueryNotFound");
}

#[tokio::test]
async fn probe_bombs_by_get_are_refused_the_same_way() {
    let app = spawn_app().await;
    let query = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
    let reply = app
        .request()
        .get("/graphql")
        .param("query", query)
        .accept("application/graphql-response+json")
        .send()
        .await;
    assert_eq!(reply.status, 400);
    let body = reply.body;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert!(message(&body).contains("cycle"), "{body}");
}

#[tokio::test]
async fn probe_bombs_over_a_socket_are_refused_the_same_way() {
    let app = spawn_app().await;
    let user = app.user("socketeer").await;
    let mut socket = Socket::authenticated(&app, &user.token).await;
    let aliases: String = (0..31).map(|i| format!("a{i}: kind ")).collect();
    let bombs = [
        (
            format!("subscription {{ taskEvents {{ {aliases} }} }}"),
            "at most 30 aliases",
        ),
        (
            "subscription { ...A } fragment A on Subscription { ...B } fragment B on Subscription { ...A }".to_owned(),
            "fragments may not form a cycle",
        ),
        (
            format!("{{ {} }}", "a ".repeat(2_000)),
            "more than 2000 tokens",
        ),
    ];
    for (id, (query, expected)) in bombs.iter().enumerate() {
        let id = id.to_string();
        socket.subscribe(&id, json!({ "query": query })).await;
        let answer = socket.receive().await;
        assert_eq!(
            (&answer["type"], &answer["id"]),
            (&json!("next"), &json!(id)),
            "{answer}"
        );
        assert_eq!(code(&answer["payload"]), "BAD_USER_INPUT");
        assert!(message(&answer["payload"]).contains(expected), "{answer}");
        assert_eq!(socket.receive().await["type"], "complete");
    }
}

#[tokio::test]
async fn probe_page_size_complexity_bomb() {
    let app = spawn_app().await;
    let user = app.user("pager").await;
    let token = Some(user.token.as_str());
    // 36 fields per task of the page, owner included.
    let task = "id title description status priority dueAt completedAt createdAt updatedAt owner { id username email role isActive emailVerified createdAt }";
    let pages = |first: usize| {
        let page = format!(
            "tasks(first: {first}) {{ nodes {{ {task} }} edges {{ cursor node {{ {task} }} }} }}"
        );
        format!("{{ a: {page} b: {page} }}")
    };
    // Two pages of 50 cost 3,600 and pass; the same selection with 100 costs 7,200.
    let body = app.gql(token, &pages(50), json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_bomb_refused(&app, token, &pages(100), "too complex").await;
}

#[tokio::test]
async fn probe_filter_lists_are_bounded_before_they_reach_the_database() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "1048576")]).await;
    let user = app.user("lister").await;
    let query = "query($f: TaskFilter) { tasks(filter: $f) { nodes { id } } }";
    for (argument, value, count) in [
        ("status", "TODO", 11),
        ("priority", "HIGH", 11),
        // Past SQLite's limit of bind parameters, were each to become one.
        ("status", "DONE", 40_000),
        ("priority", "LOW", 40_000),
    ] {
        let filter = json!({ argument: vec![value; count] });
        let (status, body) = send(
            &app,
            Some(&user.token),
            &json!({ "query": query, "variables": { "f": filter } }),
        )
        .await;
        assert_eq!(status, 200, "{argument} × {count}");
        assert_eq!(code(&body), "BAD_USER_INPUT", "{argument} × {count}");
        assert_eq!(
            message(&body),
            format!("`filter.{argument}` takes at most 10 values"),
        );
    }
    let filter = json!({ "status": vec!["TODO"; 10], "priority": ["LOW", "HIGH"] });
    let body = app
        .gql(Some(&user.token), query, json!({ "f": filter }))
        .await;
    assert!(body["errors"].is_null(), "ten values pass: {body}");
}

#[tokio::test]
async fn probe_counting_runs_only_when_asked_and_every_aliased_count_spends_the_query_budget() {
    let app = spawn_app_with(&[("QUERY_RATE_LIMIT", "12/minute")]).await;
    let user = app.user("counter").await;
    let token = Some(user.token.as_str());
    let statements = |query: &'static str| {
        let app = &app;
        async move {
            let before = app.statements.get();
            let body = app.gql(token, query, json!({})).await;
            assert!(body["errors"].is_null(), "{body}");
            app.statements.get() - before
        }
    };
    let without = statements("{ tasks(first: 5) { nodes { id } } }").await;
    let with = statements("{ tasks(first: 5) { totalCount nodes { id } } }").await;
    assert_eq!(
        with,
        without + 1,
        "one COUNT, only when totalCount is selected"
    );

    // Ten aliased counts spend ten of the viewer's twelve a minute.
    let counts: String = (0..10)
        .map(|i| format!("c{i}: tasks(first: 0) {{ totalCount }} "))
        .collect();
    let body = app.gql(token, &format!("{{ {counts} }}"), json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let (status, body) = send(&app, token, &json!({ "query": "{ me { id } }" })).await;
    assert_eq!((status, code(&body)), (429, "RATE_LIMITED"), "{body}");
    assert!(body["errors"][0]["extensions"]["retryAfter"].as_u64() <= Some(60));
}
