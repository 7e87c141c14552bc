//! Tasks: the whole flow, paging, input rules and isolation between users.

use serde_json::{Value, json};

use crate::helpers::documents::{CREATE_TASK, DELETE_TASK, ME, TASK_COUNT, TASK_ID};
use crate::helpers::{TestUser, code, message, spawn_app, texts_of};

const TASK_FIELDS: &str = "id title description status priority dueAt completedAt createdAt updatedAt owner { id username }";

/// A `DateTime` value as an instant.
fn ts(value: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a timestamp"))
        .expect("RFC 3339")
        .to_utc()
}

fn update_query() -> String {
    format!(
        "mutation($id: ID!, $input: UpdateTaskInput!) {{ updateTask(id: $id, input: $input) {{ {TASK_FIELDS} }} }}"
    )
}

#[tokio::test]
async fn the_whole_flow_register_login_create_list_update_delete() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let token = Some(alice.token.as_str());

    let body = app
        .gql(
            token,
            &format!("mutation($input: CreateTaskInput!) {{ createTask(input: $input) {{ {TASK_FIELDS} }} }}"),
            json!({ "input": { "title": "  Write the report  ", "description": "Q3 numbers", "dueAt": "2026-12-01T10:00:00+02:00" } }),
        )
        .await;
    let task = &body["data"]["createTask"];
    assert_eq!(task["title"], "Write the report", "{body}");
    assert_eq!(task["description"], "Q3 numbers");
    assert_eq!(task["status"], "TODO");
    assert_eq!(task["priority"], "MEDIUM");
    assert_eq!(task["dueAt"], "2026-12-01T08:00:00Z");
    assert!(task["completedAt"].is_null());
    assert_eq!(task["createdAt"], task["updatedAt"]);
    assert!(task["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(task["owner"]["id"], alice.id.as_str());
    assert_eq!(task["owner"]["username"], "alice");
    let id = task["id"].as_str().unwrap().to_owned();

    let body = app
        .gql(token, &format!("{{ tasks {{ totalCount nodes {{ id }} edges {{ cursor node {{ {TASK_FIELDS} }} }} pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }}"), json!({}))
        .await;
    let tasks = &body["data"]["tasks"];
    assert_eq!(tasks["totalCount"], 1);
    assert_eq!(tasks["nodes"][0]["id"], id.as_str());
    assert_eq!(tasks["edges"][0]["node"], *task);
    assert_eq!(tasks["pageInfo"]["hasNextPage"], false);
    assert_eq!(
        tasks["pageInfo"]["startCursor"],
        tasks["edges"][0]["cursor"]
    );

    let body = app
        .gql(token, &update_query(), json!({ "id": id, "input": { "status": "DONE", "priority": "URGENT", "title": "Send the report" } }))
        .await;
    let updated = &body["data"]["updateTask"];
    assert_eq!(updated["status"], "DONE", "{body}");
    assert_eq!(updated["priority"], "URGENT");
    assert_eq!(updated["title"], "Send the report");
    assert_eq!(
        updated["description"], "Q3 numbers",
        "absent fields are kept"
    );
    assert_eq!(updated["dueAt"], "2026-12-01T08:00:00Z");
    assert!(updated["completedAt"].is_string());
    assert!(ts(&updated["updatedAt"]) > ts(&task["updatedAt"]));

    let body = app
        .gql(
            token,
            &format!("query($id: ID!) {{ task(id: $id) {{ {TASK_FIELDS} }} }}"),
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body["data"]["task"], *updated);

    let body = app.gql(token, DELETE_TASK, json!({ "id": id })).await;
    assert_eq!(body["data"]["deleteTask"], id.as_str());
    let body = app.gql(token, TASK_ID, json!({ "id": id })).await;
    assert!(body["data"]["task"].is_null());
    assert!(body["errors"].is_null());
    let body = app.gql(token, DELETE_TASK, json!({ "id": id })).await;
    assert_eq!(code(&body), "NOT_FOUND");
}

#[tokio::test]
async fn completed_at_follows_the_status_and_null_clears_optional_fields() {
    let app = spawn_app().await;
    let user = app.user("bob").await;
    let token = Some(user.token.as_str());
    let created = app
        .create_task(&user.token, json!({ "title": "t", "status": "DONE", "priority": "LOW", "description": "d", "dueAt": "2030-01-01T00:00:00Z" }))
        .await;
    let done_at = created["completedAt"].as_str().unwrap().to_owned();
    assert_eq!(created["completedAt"], created["createdAt"]);
    let id = created["id"].as_str().unwrap();

    let update = |input: Value| {
        let app = &app;
        async move {
            let body = app
                .gql(token, &update_query(), json!({ "id": id, "input": input }))
                .await;
            assert!(body["errors"].is_null(), "{body}");
            body["data"]["updateTask"].clone()
        }
    };
    // Staying DONE keeps the original completion time.
    assert_eq!(
        update(json!({ "status": "DONE", "title": "t2" })).await["completedAt"],
        done_at.as_str()
    );
    // Leaving DONE clears it; coming back sets a new one.
    assert!(update(json!({ "status": "IN_PROGRESS" })).await["completedAt"].is_null());
    let again = update(json!({ "status": "DONE" })).await;
    assert!(ts(&again["completedAt"]) > ts(&json!(done_at)));
    // Explicit null clears description and dueAt; absent fields stay.
    let cleared = update(json!({ "description": null, "dueAt": null })).await;
    assert!(cleared["description"].is_null());
    assert!(cleared["dueAt"].is_null());
    assert_eq!(cleared["priority"], "LOW");
    assert_eq!(cleared["title"], "t2");
    // An empty input changes nothing.
    let unchanged = update(json!({})).await;
    assert_eq!(unchanged["updatedAt"], cleared["updatedAt"]);
    // Null status or priority on create means the default.
    let defaults = app
        .create_task(
            &user.token,
            json!({ "title": "defaults", "status": null, "priority": null }),
        )
        .await;
    assert_eq!(defaults["status"], "TODO");
    assert_eq!(defaults["priority"], "MEDIUM");
}

#[tokio::test]
async fn paging_walks_every_task_once_newest_first() {
    let app = spawn_app().await;
    let user = app.user("carol").await;
    let token = Some(user.token.as_str());
    let mut created = Vec::new();
    for i in 0..25 {
        created.push(
            app.create_task(&user.token, json!({ "title": format!("task {i}") }))
                .await["id"]
                .clone(),
        );
    }
    created.reverse();

    let query = "query($first: Int, $after: String) { tasks(first: $first, after: $after) { totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let body = app
            .gql(token, query, json!({ "first": 10, "after": after }))
            .await;
        let tasks = &body["data"]["tasks"];
        assert_eq!(tasks["totalCount"], 25, "{body}");
        assert_eq!(tasks["pageInfo"]["hasPreviousPage"], pages > 0);
        for edge in tasks["edges"].as_array().unwrap() {
            seen.push(edge["node"]["id"].clone());
        }
        pages += 1;
        if tasks["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = tasks["pageInfo"]["endCursor"].clone();
        assert!(pages < 10, "paging does not terminate");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "newest first, each once");

    // Default page size is 20; requests above 100 are cut to 100; 0 is an empty page.
    let body = app.gql(token, query, json!({})).await;
    assert_eq!(body["data"]["tasks"]["edges"].as_array().unwrap().len(), 20);
    let body = app.gql(token, query, json!({ "first": 0 })).await;
    let tasks = &body["data"]["tasks"];
    assert_eq!(tasks["edges"], json!([]));
    assert_eq!(tasks["totalCount"], 25);
    assert!(tasks["pageInfo"]["startCursor"].is_null());
    assert_eq!(tasks["pageInfo"]["hasNextPage"], true);
    for _ in 0..80 {
        app.create_task(&user.token, json!({ "title": "more" }))
            .await;
    }
    let body = app.gql(token, query, json!({ "first": 1000 })).await;
    assert_eq!(
        body["data"]["tasks"]["edges"].as_array().unwrap().len(),
        100
    );
}

#[tokio::test]
async fn task_input_rules_are_enforced_with_plain_words() {
    let app = spawn_app().await;
    let user = app.user("dave").await;
    let token = Some(user.token.as_str());
    let id = &app.task_titled(&user.token, "keep").await;
    let create = CREATE_TASK;

    let rejections = [
        (json!({ "title": "" }), "title must be 1 to 200 characters"),
        (
            json!({ "title": "    " }),
            "title must be 1 to 200 characters",
        ),
        (
            json!({ "title": "t".repeat(201) }),
            "title must be 1 to 200 characters",
        ),
        (
            json!({ "title": "nul\u{0}byte" }),
            "title must not contain control characters",
        ),
        (
            json!({ "title": "two\nlines" }),
            "title must not contain control characters",
        ),
        (
            json!({ "title": "ok", "description": "d".repeat(10_001) }),
            "description must be at most 10000 characters",
        ),
        (
            json!({ "title": "ok", "description": "nul\u{0}" }),
            "description must not contain control characters",
        ),
    ];
    for (input, rule) in rejections {
        let body = app.gql(token, create, json!({ "input": input })).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        assert!(message(&body).contains(rule), "{rule}: {body}");
    }
    for (input, rule) in [
        (json!({ "title": "" }), "title must be 1 to 200 characters"),
        (json!({ "title": null }), "`title` cannot be null"),
        (json!({ "status": null }), "`status` cannot be null"),
        (json!({ "priority": null }), "`priority` cannot be null"),
        (
            json!({ "description": "d".repeat(10_001) }),
            "description must be at most 10000 characters",
        ),
    ] {
        let body = app
            .gql(token, &update_query(), json!({ "id": id, "input": input }))
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        assert!(message(&body).contains(rule), "{rule}: {body}");
    }
    // Values at the limits, and any Unicode, are fine.
    for input in [
        json!({ "title": "t".repeat(200), "description": "d".repeat(10_000) }),
        json!({ "title": "界".repeat(200) }),
        json!({ "title": "🚀 Ünïcödé ✓", "description": "ligne 1\nligne 2\ttab" }),
        json!({ "title": "'; DROP TABLE tasks; --", "description": "%_\\" }),
    ] {
        let body = app.gql(token, create, json!({ "input": input })).await;
        assert!(body["data"]["createTask"]["id"].is_string(), "{body}");
    }
    // Enum and timestamp values outside their types.
    for input in [
        json!({ "title": "x", "status": "FINISHED" }),
        json!({ "title": "x", "priority": "low" }),
        json!({ "title": "x", "dueAt": "tomorrow" }),
        json!({ "title": "x", "dueAt": "2026-13-01T00:00:00Z" }),
        json!({ "title": "x", "dueAt": 1767225600 }),
    ] {
        let body = app.gql(token, create, json!({ "input": input })).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    }
    // The task the rejected updates aimed at is unchanged.
    let body = app
        .gql(
            token,
            "query($id: ID!) { task(id: $id) { title } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body["data"]["task"]["title"], "keep");
}

#[tokio::test]
async fn malformed_ids_cursors_and_counts_name_the_argument() {
    let app = spawn_app().await;
    let user = app.user("erin").await;
    let token = Some(user.token.as_str());
    for bad in [
        "",
        "123",
        "not-a-uuid",
        "'; DROP TABLE tasks; --",
        &"f".repeat(5000),
    ] {
        for query in [
            TASK_ID,
            DELETE_TASK,
            "mutation($id: ID!) { updateTask(id: $id, input: { title: \"x\" }) { id } }",
        ] {
            let body = app.gql(token, query, json!({ "id": bad })).await;
            assert_eq!(code(&body), "BAD_USER_INPUT", "{query} {bad}: {body}");
            assert!(message(&body).contains("`id`"), "{body}");
        }
    }
    for bad in ["", "garbage", "c1:0:0", &"A".repeat(3000)] {
        let body = app
            .gql(
                token,
                "query($after: String) { tasks(after: $after) { totalCount } }",
                json!({ "after": bad }),
            )
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{bad}: {body}");
        assert!(message(&body).contains("`after`"), "{body}");
    }
    let body = app
        .gql(token, "{ tasks(first: -1) { totalCount } }", json!({}))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert!(message(&body).contains("`first`"), "{body}");
}

/// What `intruder` sees of `victim`'s task: nothing, on every operation.
async fn assert_isolated(
    app: &crate::helpers::TestApp,
    intruder: &TestUser,
    victim: &TestUser,
    id: &str,
) {
    let token = Some(intruder.token.as_str());
    let missing = uuid::Uuid::now_v7().to_string();
    for target in [id, missing.as_str()] {
        let body = app
            .gql(
                token,
                "query($id: ID!) { task(id: $id) { id title } }",
                json!({ "id": target }),
            )
            .await;
        assert!(body["data"]["task"].is_null(), "{body}");
        assert!(
            body["errors"].is_null(),
            "another's task looks missing: {body}"
        );
        let body = app
            .gql(
                token,
                &update_query(),
                json!({ "id": target, "input": { "title": "pwned" } }),
            )
            .await;
        assert_eq!(code(&body), "NOT_FOUND", "{body}");
        assert_eq!(message(&body), "Task not found.");
        let body = app.gql(token, DELETE_TASK, json!({ "id": target })).await;
        assert_eq!(code(&body), "NOT_FOUND", "{body}");
        assert_eq!(message(&body), "Task not found.");
    }
    let body = app
        .gql(
            token,
            "{ tasks(first: 100) { totalCount nodes { id owner { id } } } }",
            json!({}),
        )
        .await;
    let nodes = body["data"]["tasks"]["nodes"].as_array().unwrap();
    assert!(
        nodes
            .iter()
            .all(|n| n["id"] != id && n["owner"]["id"] == intruder.id.as_str()),
        "{body}"
    );
    assert!(nodes.iter().all(|n| n["owner"]["id"] != victim.id.as_str()));
}

#[tokio::test]
async fn users_cannot_see_change_or_delete_each_others_tasks() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let mallory = app.user("mallory").await;
    let secret = app
        .create_task(
            &alice.token,
            json!({ "title": "alice's secret", "description": "private" }),
        )
        .await;
    app.create_task(&mallory.token, json!({ "title": "mallory's own" }))
        .await;
    let id = secret["id"].as_str().unwrap();

    assert_isolated(&app, &mallory, &alice, id).await;

    // Alice's task is untouched and her list does not include Mallory's.
    let body = app
        .gql(Some(&alice.token), "query($id: ID!) { task(id: $id) { title description } tasks { totalCount nodes { title } } }", json!({ "id": id }))
        .await;
    assert_eq!(body["data"]["task"]["title"], "alice's secret");
    assert_eq!(body["data"]["tasks"]["totalCount"], 1);
    assert_eq!(body["data"]["tasks"]["nodes"][0]["title"], "alice's secret");

    // Interleave more tasks; a cursor from Alice's list gives Mallory exactly her own
    // tasks older than that point, never Alice's.
    let mut mallorys = vec!["mallory's own".to_owned()];
    for i in 0..3 {
        app.create_task(&alice.token, json!({ "title": format!("alice {i}") }))
            .await;
        let title = format!("mallory {i}");
        app.create_task(&mallory.token, json!({ "title": title }))
            .await;
        mallorys.push(title);
    }
    let alice_cursor = app
        .gql(
            Some(&alice.token),
            "{ tasks { edges { cursor node { title } } } }",
            json!({}),
        )
        .await["data"]["tasks"]["edges"][1]
        .clone();
    assert_eq!(alice_cursor["node"]["title"], "alice 1");
    let body = app
        .gql(
            Some(&mallory.token),
            "query($after: String) { tasks(after: $after) { totalCount nodes { title } } }",
            json!({ "after": alice_cursor["cursor"] }),
        )
        .await;
    assert_eq!(body["data"]["tasks"]["totalCount"], 4);
    let titles = texts_of(&body["data"]["tasks"]["nodes"], "title");
    assert_eq!(titles, ["mallory 0", "mallory's own"], "{body}");
}

#[tokio::test]
async fn every_task_operation_requires_a_viewer() {
    let app = spawn_app().await;
    let user = app.user("frank").await;
    let task = app.create_task(&user.token, json!({ "title": "t" })).await;
    let id = task["id"].as_str().unwrap();
    for (query, variables) in [
        (ME, json!({})),
        (TASK_ID, json!({ "id": id })),
        (TASK_COUNT, json!({})),
        (
            "mutation { createTask(input: { title: \"x\" }) { id } }",
            json!({}),
        ),
        (
            "mutation($id: ID!) { updateTask(id: $id, input: { title: \"x\" }) { id } }",
            json!({ "id": id }),
        ),
        (DELETE_TASK, json!({ "id": id })),
    ] {
        let body = app.gql(None, query, variables).await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{query}: {body}");
    }
    let body = app
        .gql(
            Some(&user.token),
            "query($id: ID!) { task(id: $id) { title } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        body["data"]["task"]["title"], "t",
        "nothing was changed anonymously"
    );
}

#[tokio::test]
async fn a_database_failure_is_an_internal_error_without_internals() {
    let app = spawn_app().await;
    let user = app.user("gina").await;
    app.execute("DROP TABLE tasks").await;
    let body = app
        .gql(
            Some(&user.token),
            "mutation { createTask(input: { title: \"x\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "INTERNAL_SERVER_ERROR", "{body}");
    assert_eq!(message(&body), "Internal server error.");
    let text = body.to_string().to_lowercase();
    for leak in [
        "tasks", "table", "sql", "relation", "sqlx", "sea_orm", "dberr",
    ] {
        assert!(!text.contains(leak), "{leak} leaked: {body}");
    }
}
