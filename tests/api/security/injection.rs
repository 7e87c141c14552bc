//! Hostile strings in every string argument: SQL, LIKE wildcards, NUL bytes, very long and
//! odd-Unicode values, lone surrogates, and cursors crafted by hand.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::documents::{DELETE_ACCOUNT, DELETE_TASK, LOGIN, LOGOUT, REVOKE_SESSION, TASK};
use crate::helpers::{
    GENERIC_LOGIN_FAILURE, JSON, PASSWORD, TestApp, assert_refresh_refused, b64_json, code,
    current_session, message, refresh, spawn_app, unb64_json,
};

const CREATE: &str =
    "mutation($input: CreateTaskInput!) { createTask(input: $input) { id title description } }";
const UPDATE: &str =
    "mutation($id: ID!, $input: UpdateTaskInput!) { updateTask(id: $id, input: $input) { id } }";
const SEARCH: &str =
    "query($f: TaskFilter) { tasks(filter: $f, first: 100) { totalCount nodes { title } } }";
const PAGE_AFTER: &str = "query($after: String, $order: [TaskOrder!]) { tasks(after: $after, orderBy: $order) { totalCount nodes { title } } }";
const PAGE_BEFORE: &str = "query($before: String) { tasks(before: $before) { totalCount } }";
const STRENGTH: &str = "query($p: String!, $u: String, $e: String) { passwordStrength(password: $p, username: $u, email: $e) { acceptable reasons } }";

/// Asserts an error with `code` whose message contains `rule`, and no data.
fn assert_error(body: &Value, expected: &str, rule: &str, case: &str) {
    assert_eq!(code(body), expected, "{case}: {body}");
    assert!(message(body).contains(rule), "{case}: {body}");
}

/// Sends each `(document, variables, rule, case)` as `token` and asserts a BAD_USER_INPUT
/// whose message contains `rule`.
async fn assert_bad_inputs(app: &TestApp, token: &str, cases: &[(&str, Value, &str, &str)]) {
    for (document, variables, rule, case) in cases {
        let body = app.gql(Some(token), document, variables.clone()).await;
        assert_error(&body, "BAD_USER_INPUT", rule, case);
    }
}

/// The titles `search` finds for `token`.
async fn found(app: &TestApp, token: &str, search: &str) -> Vec<String> {
    let body = app
        .gql(Some(token), SEARCH, json!({ "f": { "search": search } }))
        .await;
    body["data"]["tasks"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{search:?}: {body}"))
        .iter()
        .map(|node| node["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn probe_sql_in_text_arguments_is_stored_and_matched_as_data() {
    let app = spawn_app().await;
    let user = app.user("alice").await;
    let other = app.user("bob").await;
    app.create_task(&other.token, json!({ "title": "bob's task" }))
        .await;
    let payloads = [
        "'; DROP TABLE tasks; --",
        "\" OR \"\"=\"",
        "x') OR ('1'='1",
        "1; UPDATE users SET role = 'ADMIN' --",
        "$1 $2 ?",
        "Robert'); DELETE FROM users WHERE ('a'='a",
    ];
    for payload in payloads {
        let task = app
            .create_task(
                &user.token,
                json!({ "title": payload, "description": payload }),
            )
            .await;
        assert_eq!(task["title"], payload);
        assert_eq!(task["description"], payload);
        assert_eq!(found(&app, &user.token, payload).await, [payload]);
    }
    assert_eq!(app.count("tasks").await, 7);
    assert_eq!(app.count("users").await, 2);
    // An email address may legally hold quotes; it is data too.
    let email = "o'reilly'--@example.com";
    let body = app.register("oreilly", email, PASSWORD).await;
    assert_eq!(body["data"]["register"]["email"], email, "{body}");
    assert!(app.login(email, PASSWORD).await["data"]["login"].is_object());
    for login in ["alice' --", "alice' OR '1'='1", "' OR 1=1 --@example.com"] {
        let body = app.login(login, "whatever it is").await;
        assert_eq!(message(&body), GENERIC_LOGIN_FAILURE, "{login}");
    }
    let body = app
        .gql(Some(&user.token), "{ me { role } }", json!({}))
        .await;
    assert_eq!(body["data"]["me"]["role"], "USER");
}

#[tokio::test]
async fn probe_like_wildcards_match_literally_on_every_search_path() {
    let app = spawn_app().await;
    let user = app.user("carol").await;
    for title in ["plain words", "50% off", "snake_case", "C:\\path", "a\\%b"] {
        app.create_task(&user.token, json!({ "title": title }))
            .await;
    }
    // One- and two-character searches take the scan path, longer ones the index.
    let cases: [(&str, &[&str]); 11] = [
        ("%", &["50% off", "a\\%b"]),
        ("%%", &[]),
        ("_", &["snake_case"]),
        ("__", &[]),
        ("\\", &["C:\\path", "a\\%b"]),
        ("\\%", &["a\\%b"]),
        ("%_%", &[]),
        ("% o", &["50% off"]),
        ("e_c", &["snake_case"]),
        ("\\\\", &[]),
        ("[a-z]", &[]),
    ];
    for (search, want) in cases {
        let mut got = found(&app, &user.token, search).await;
        got.sort();
        let mut want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        assert_eq!(got, want, "search {search:?}");
    }
}

#[tokio::test]
async fn probe_nul_bytes_in_every_string_argument() {
    let app = spawn_app().await;
    let user = app.user("dave").await;
    let token = Some(user.token.as_str());
    let task = app
        .create_task(&user.token, json!({ "title": "keep" }))
        .await;
    let nul = "nul\u{0}byte";

    let control = "control characters";
    let update = |input: Value| json!({ "id": task["id"], "input": input });
    let cases = [
        (
            CREATE,
            json!({ "input": { "title": nul } }),
            control,
            "title",
        ),
        (
            CREATE,
            json!({ "input": { "title": "t", "description": nul } }),
            control,
            "description",
        ),
        (UPDATE, update(json!({ "title": nul })), control, "update"),
        (
            UPDATE,
            update(json!({ "description": nul })),
            control,
            "update",
        ),
        (SEARCH, json!({ "f": { "search": nul } }), "NUL", "search"),
        (PAGE_AFTER, json!({ "after": nul }), "`after`", "after"),
        (PAGE_AFTER, json!({ "after": "\u{0}" }), "`after`", "after"),
        (PAGE_BEFORE, json!({ "before": nul }), "`before`", "before"),
        (TASK, json!({ "id": nul }), "`id`", "id"),
        (DELETE_TASK, json!({ "id": nul }), "`id`", "id"),
        (
            REVOKE_SESSION,
            json!({ "id": "\u{0}" }),
            "`id`",
            "session id",
        ),
    ];
    assert_bad_inputs(&app, &user.token, &cases).await;

    // Accounts: nothing stored, nothing looked up that the database would choke on.
    for (username, email) in [
        ("nul\u{0}user", "nul@example.com"),
        ("nuluser", "nul\u{0}@example.com"),
        ("nuluser", "\"nul\u{0}\"@example.com"),
        ("nuluser", "nul@exam\u{0}ple.com"),
    ] {
        let body = app.register(username, email, PASSWORD).await;
        assert_eq!(
            code(&body),
            "BAD_USER_INPUT",
            "{username:?} {email:?}: {body}"
        );
    }
    for login in [
        "dave\u{0}",
        "\u{0}",
        "dave@example.com\u{0}",
        "da\u{0}ve@example.com",
    ] {
        let body = app.login(login, PASSWORD).await;
        assert_eq!(message(&body), GENERIC_LOGIN_FAILURE, "{login:?}: {body}");
    }
    let body = app.login("dave", &format!("{PASSWORD}\u{0}")).await;
    assert_eq!(message(&body), GENERIC_LOGIN_FAILURE);
    let body = app
        .gql(None, STRENGTH, json!({ "p": nul, "u": nul, "e": nul }))
        .await;
    assert!(
        body["data"]["passwordStrength"]["acceptable"].is_boolean(),
        "{body}"
    );
    assert_refresh_refused(
        &refresh(&app, &format!("tqr_{}", "\u{0}".repeat(43))).await,
        "nul",
    );
    let body = app.gql(None, LOGOUT, json!({ "t": "\u{0}" })).await;
    assert_eq!(body["data"]["logout"], false, "{body}");
    let body = app
        .change_password(token, "\u{0}", "violet harbor lantern 42")
        .await;
    assert_error(
        &body,
        "BAD_USER_INPUT",
        "`currentPassword` is incorrect",
        "current",
    );
    let body = app
        .gql(token, DELETE_ACCOUNT, json!({ "p": "\u{0}" }))
        .await;
    assert_error(&body, "BAD_USER_INPUT", "`password` is incorrect", "delete");
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("tasks").await, 1);
}

#[tokio::test]
async fn probe_a_nul_in_a_password_is_not_a_terminator() {
    let app = spawn_app().await;
    let password = "first half\u{0}second half kept";
    let body = app.register("erin", "erin@example.com", password).await;
    assert!(body["data"]["register"].is_object(), "{body}");
    assert!(app.login("erin", password).await["data"]["login"].is_object());
    // Were the password cut at the NUL, these would log in.
    for truncated in ["first half", "first half\u{0}"] {
        let body = app.login("erin", truncated).await;
        assert_eq!(message(&body), GENERIC_LOGIN_FAILURE, "{truncated:?}");
    }
}

#[tokio::test]
async fn probe_very_long_values_in_every_string_argument() {
    let app = spawn_app().await;
    let user = app.user("frank").await;
    let token = Some(user.token.as_str());
    let task = app
        .create_task(&user.token, json!({ "title": "keep" }))
        .await;
    let long = "x".repeat(100_000);
    let started = Instant::now();

    let title_rule = "1 to 200 characters";
    let cases = [
        (
            CREATE,
            json!({ "input": { "title": long } }),
            title_rule,
            "title",
        ),
        (
            CREATE,
            json!({ "input": { "title": "t", "description": long } }),
            "at most 10000",
            "description",
        ),
        (
            UPDATE,
            json!({ "id": task["id"], "input": { "title": long } }),
            title_rule,
            "update title",
        ),
        (
            SEARCH,
            json!({ "f": { "search": "y".repeat(201) } }),
            "at most 200",
            "search",
        ),
        (PAGE_AFTER, json!({ "after": long }), "`after`", "after"),
        (PAGE_BEFORE, json!({ "before": long }), "`before`", "before"),
        (TASK, json!({ "id": long }), "`id`", "id"),
    ];
    assert_bad_inputs(&app, &user.token, &cases).await;

    let body = app.register(&long, "long@example.com", PASSWORD).await;
    assert_error(&body, "BAD_USER_INPUT", "3 to 32", "username");
    let email = format!("{long}@example.com");
    let body = app.register("longmail", &email, PASSWORD).await;
    assert_error(&body, "BAD_USER_INPUT", "at most 254", "email");
    let body = app.register("longpass", "lp@example.com", &long).await;
    assert_error(&body, "BAD_USER_INPUT", "8 to 128", "password");
    for (login, password) in [(long.as_str(), PASSWORD), ("frank", long.as_str())] {
        let body = app.login(login, password).await;
        assert_eq!(message(&body), GENERIC_LOGIN_FAILURE);
    }
    let body = app
        .gql(
            None,
            STRENGTH,
            json!({ "p": long, "u": long, "e": "long@example.com" }),
        )
        .await;
    assert_eq!(
        body["data"]["passwordStrength"]["acceptable"], false,
        "{body}"
    );
    assert_refresh_refused(&refresh(&app, &long).await, "long refresh token");
    let body = app.change_password(token, PASSWORD, &long).await;
    assert_error(&body, "BAD_USER_INPUT", "8 to 128", "new password");

    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("tasks").await, 1);
}

#[tokio::test]
async fn probe_odd_unicode_round_trips_exactly_and_searches_literally() {
    let app = spawn_app().await;
    let user = app.user("grace").await;
    let values = [
        "invoice\u{202e}fdp.exe",
        "zero\u{200b}width\u{200d}joiner\u{2060}",
        "e\u{301}\u{302}\u{303}\u{304} combining",
        "family 👨\u{200d}👩\u{200d}👧\u{200d}👦 flag 🏳\u{fe0f}\u{200d}🌈",
        "line\u{2028}separator\u{2029}paragraph",
        "\u{fffd}\u{feff}bom and replacement",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math ﬁ ligature",
    ];
    for value in values {
        let task = app
            .create_task(&user.token, json!({ "title": value, "description": value }))
            .await;
        assert_eq!(task["title"], value);
        assert_eq!(task["description"], value);
        assert_eq!(
            app.task_as(&user.token, task["id"].as_str().unwrap()).await["title"],
            value
        );
    }
    assert_eq!(
        found(&app, &user.token, "\u{202e}fdp").await,
        ["invoice\u{202e}fdp.exe"]
    );
    assert_eq!(
        found(&app, &user.token, "👩\u{200d}👧").await,
        ["family 👨\u{200d}👩\u{200d}👧\u{200d}👦 flag 🏳\u{fe0f}\u{200d}🌈"]
    );
    // Invisible characters are data: the text without them is not a match.
    assert_eq!(
        found(&app, &user.token, "zerowidth").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn probe_lone_surrogate_escapes_create_nothing() {
    let app = spawn_app().await;
    let user = app.user("hank").await;
    for escape in [r"\ud800", r"\udfff", r"\ud800\u0041", r"\udc00\ud800"] {
        // In a JSON variable: not valid Unicode, so the body is refused before anything runs.
        let raw = format!(
            r#"{{"query":"mutation($i: CreateTaskInput!) {{ createTask(input: $i) {{ id }} }}","variables":{{"i":{{"title":"x{escape}y"}}}}}}"#
        );
        let reply = app.request().token(&user.token).raw(JSON, raw).send().await;
        assert_eq!(reply.status, 400, "{escape}");
        assert_eq!(reply.code(), "BAD_USER_INPUT", "{escape}");
        // In a GraphQL string literal inside the document.
        let document =
            format!(r#"mutation {{ createTask(input: {{ title: "x{escape}y" }}) {{ id }} }}"#);
        let body = app.gql(Some(&user.token), &document, json!({})).await;
        assert!(body["data"].is_null(), "{escape}: {body}");
        assert_eq!(code(&body), "BAD_USER_INPUT", "{escape}: {body}");
    }
    assert_eq!(app.count("tasks").await, 0);
}

#[tokio::test]
async fn probe_lookalike_usernames_reach_no_account() {
    let app = spawn_app().await;
    app.user("kim").await;
    for lookalike in [
        "\u{212a}im",  // KELVIN SIGN, lower-cases to "k"
        "k\u{0131}m",  // dotless i
        "\u{43a}im",   // Cyrillic ka
        "ｋｉｍ",      // full width
        "kim\u{200b}", // zero-width space
        "k\u{301}im",  // combining accent
    ] {
        let body = app
            .register(lookalike, "lookalike@example.com", PASSWORD)
            .await;
        assert_error(
            &body,
            "BAD_USER_INPUT",
            "username may contain only",
            lookalike,
        );
        let body = app.login(lookalike, PASSWORD).await;
        assert_eq!(message(&body), GENERIC_LOGIN_FAILURE, "{lookalike}");
    }
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test]
async fn probe_addresses_that_lengthen_when_lower_cased_are_refused_by_their_rule() {
    let app = spawn_app().await;
    // 254 characters as typed; `İ` lower-cases to two, so 276 would be stored, past the
    // column's 254.
    let domain = format!(
        "{a}.{a}.{a}.{b}.com",
        a = "a".repeat(63),
        b = "b".repeat(35)
    );
    let email = format!("{}@{domain}", "\u{130}".repeat(22));
    assert_eq!(email.chars().count(), 254);
    let body = app.register("dotted", &email, PASSWORD).await;
    assert_error(&body, "BAD_USER_INPUT", "at most 254 characters", "email");
    let body = app.login(&email, PASSWORD).await;
    assert_eq!(message(&body), GENERIC_LOGIN_FAILURE);
    // The same address with a shorter domain is stored in the form it was judged in.
    let email = format!("{}@example.com", "\u{130}".repeat(20));
    let body = app.register("dotted", &email, PASSWORD).await;
    assert_eq!(
        body["data"]["register"]["email"],
        format!("{}@example.com", "i\u{307}".repeat(20)),
        "{body}"
    );
    assert_eq!(app.count("users").await, 1);
}

/// A cursor the server issued for `order`, with its JSON `k` (keys) or `i` (id) replaced.
async fn crafted_cursor(
    app: &TestApp,
    token: &str,
    order: &Value,
    field: &str,
    value: Value,
) -> String {
    let body = app
        .gql(
            Some(token),
            "query($order: [TaskOrder!]) { tasks(orderBy: $order, first: 1) { pageInfo { endCursor } } }",
            json!({ "order": order }),
        )
        .await;
    let issued = body["data"]["tasks"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    let mut raw = unb64_json(issued);
    raw[field] = value;
    b64_json(&raw)
}

#[tokio::test]
async fn probe_cursors_crafted_with_sql_in_their_keys_are_just_positions() {
    let app = spawn_app().await;
    let user = app.user("ivan").await;
    let victim = app.user("judy").await;
    for title in ["apple", "banana", "cherry"] {
        app.create_task(&user.token, json!({ "title": title }))
            .await;
        app.create_task(&victim.token, json!({ "title": format!("{title} secret") }))
            .await;
    }
    let order = json!([{ "field": "TITLE", "direction": "ASC" }]);
    for key in ["' OR 1=1 --", "b') OR ('1'='1", "\" OR \"\"=\""] {
        let cursor = crafted_cursor(&app, &user.token, &order, "k", json!([key])).await;
        let body = app
            .gql(
                Some(&user.token),
                PAGE_AFTER,
                json!({ "after": cursor, "order": order }),
            )
            .await;
        // Where the key falls depends on the database's collation; what it reaches does not.
        let nodes = body["data"]["tasks"]["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("{key}: {body}"));
        assert!(
            nodes.iter().all(
                |node| ["apple", "banana", "cherry"].contains(&node["title"].as_str().unwrap())
            ),
            "{key}: {body}"
        );
        assert_eq!(body["data"]["tasks"]["totalCount"], 3);
    }
    // SQL in the id part is no cursor at all.
    let cursor = crafted_cursor(&app, &user.token, &order, "i", json!("1' OR '1'='1")).await;
    let body = app
        .gql(
            Some(&user.token),
            PAGE_AFTER,
            json!({ "after": cursor, "order": order }),
        )
        .await;
    assert_error(&body, "BAD_USER_INPUT", "`after`", "sql id");
}

#[tokio::test]
async fn probe_cursors_crafted_with_values_no_task_can_hold() {
    let app = spawn_app().await;
    let user = app.user("kate").await;
    app.create_task(
        &user.token,
        json!({ "title": "only", "dueAt": "2030-01-01T00:00:00Z" }),
    )
    .await;
    let title = json!([{ "field": "TITLE", "direction": "ASC" }]);
    let created = json!([{ "field": "CREATED_AT", "direction": "DESC" }]);
    let due = json!([{ "field": "DUE_AT", "direction": "ASC" }]);
    let priority = json!([{ "field": "PRIORITY", "direction": "ASC" }]);
    let cases = [
        (&title, json!(["nul\u{0}title"]), "NUL in a title key"),
        (&title, json!([5]), "number as a title key"),
        (
            &created,
            json!([-8_000_000_000_000_000_000_i64]),
            "250,000 BC",
        ),
        (
            &created,
            json!([8_000_000_000_000_000_000_i64]),
            "255,000 AD",
        ),
        (&created, json!([i64::MIN]), "i64::MIN"),
        (&created, json!([1.5]), "fraction"),
        (
            &due,
            json!([-8_000_000_000_000_000_000_i64]),
            "due 250,000 BC",
        ),
        (&priority, json!([99]), "no such priority"),
        (&priority, json!([-1]), "negative priority"),
    ];
    for (order, keys, case) in cases {
        let cursor = crafted_cursor(&app, &user.token, order, "k", keys).await;
        let body = app
            .gql(
                Some(&user.token),
                PAGE_AFTER,
                json!({ "after": cursor, "order": order }),
            )
            .await;
        assert!(body["data"].is_null(), "{case}: {body}");
        assert_error(&body, "BAD_USER_INPUT", "`after`", case);
    }
}

#[tokio::test]
async fn probe_malformed_cursor_structures() {
    let app = spawn_app().await;
    let user = app.user("liam").await;
    app.create_task(&user.token, json!({ "title": "t" })).await;
    let deep = format!("{}{}", "[".repeat(1400), "]".repeat(1400));
    let cursors = [
        b64_json(&json!(null)),
        b64_json(&json!([])),
        b64_json(&json!({ "v": 2 })),
        b64_json(&json!({ "v": "2", "s": "CreatedAt.Desc", "k": [0], "i": "x" })),
        {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&deep)
        },
        "====".to_owned(),
        "eyJ2Ijo".to_owned(),
        "%00".to_owned(),
    ];
    for cursor in &cursors {
        for (query, variables, argument) in [
            (PAGE_AFTER, json!({ "after": cursor }), "`after`"),
            (PAGE_BEFORE, json!({ "before": cursor }), "`before`"),
        ] {
            let body = app.gql(Some(&user.token), query, variables).await;
            assert_error(&body, "BAD_USER_INPUT", argument, &format!("{cursor:.40}"));
        }
    }
}

#[tokio::test]
async fn probe_extreme_due_times_store_and_page_without_error() {
    let app = spawn_app().await;
    let user = app.user("mia").await;
    // The earliest and latest instants an RFC 3339 timestamp can name, once in UTC.
    let extremes = [
        "0000-01-01T00:00:00+23:59",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "9999-12-31T23:59:59-23:59",
    ];
    for due in extremes {
        let body = app
            .gql(
                Some(&user.token),
                "mutation($due: DateTime) { createTask(input: { title: \"t\", dueAt: $due }) { dueAt } }",
                json!({ "due": due }),
            )
            .await;
        assert!(
            body["data"]["createTask"]["dueAt"].is_string(),
            "{due}: {body}"
        );
    }
    // Every cursor the server hands out for these tasks is accepted back, both ways.
    for direction in ["ASC", "DESC"] {
        let order = json!([{ "field": "DUE_AT", "direction": direction }]);
        let mut after = Value::Null;
        let mut seen = 0;
        for _ in 0..extremes.len() + 1 {
            let body = app
                .gql(
                    Some(&user.token),
                    "query($after: String, $order: [TaskOrder!]) { tasks(first: 1, after: $after, orderBy: $order) { nodes { id } pageInfo { hasNextPage endCursor } } }",
                    json!({ "after": after, "order": order }),
                )
                .await;
            let tasks = &body["data"]["tasks"];
            assert!(body["errors"].is_null(), "{direction}: {body}");
            seen += tasks["nodes"].as_array().unwrap().len();
            if tasks["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = tasks["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen, extremes.len(), "{direction}");
    }
}

#[tokio::test]
async fn probe_hostile_user_agents_are_recorded_harmlessly() {
    let app = spawn_app().await;
    app.user("noah").await;
    let login = |agent: Vec<u8>| {
        let app = &app;
        async move {
            app.request()
                .header_bytes("user-agent", &agent)
                .operation(
                    LOGIN,
                    json!({ "input": { "username": "noah", "password": PASSWORD } }),
                )
                .send()
                .await
                .body["data"]["login"]["accessToken"]
                .as_str()
                .unwrap_or_else(|| panic!("login failed"))
                .to_owned()
        }
    };
    let cases = [
        (
            "<script>".repeat(2000).into_bytes(),
            Some("<script>".repeat(32)),
        ),
        (b"agent \xff\xfe".to_vec(), None),
        (
            b"'); DROP TABLE sessions; --".to_vec(),
            Some("'); DROP TABLE sessions; --".to_owned()),
        ),
    ];
    for (agent, recorded) in cases {
        let case = String::from_utf8_lossy(&agent)
            .chars()
            .take(40)
            .collect::<String>();
        let token = login(agent).await;
        let current = current_session(&app, &token, "userAgent").await;
        assert_eq!(
            current["userAgent"].as_str().map(str::to_owned),
            recorded,
            "{case:?}"
        );
    }
    assert_eq!(app.count("sessions").await, 4);
}
