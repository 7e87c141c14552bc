//! `tasks`: keyset paging in both directions under every order, filters, and search.

use std::cmp::Ordering;

use serde_json::{Value, json};

use crate::helpers::documents::DELETE_TASK;
use crate::helpers::{TestApp, code, message, spawn_app};

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String, $filter: TaskFilter, $orderBy: [TaskOrder!]) {
  tasks(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
    totalCount
    edges { cursor node { id title priority dueAt createdAt updatedAt status } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

async fn page(app: &TestApp, token: &str, variables: Value) -> Value {
    let body = app.gql(Some(token), PAGE, variables).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["tasks"].clone()
}

fn ids(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Which way a walk goes: forward with `first: 2` from the start, or backward with
/// `last: 3` from the end.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    Forward,
    Backward,
}

impl Way {
    /// The page size argument and its value, the cursor argument, the `pageInfo` flag that
    /// must be set once a cursor is sent, the flag that says more pages remain, and the
    /// cursor to go on from.
    fn arguments(self) -> ((&'static str, u64), &'static str, [&'static str; 3]) {
        match self {
            Way::Forward => (
                ("first", 2),
                "after",
                ["hasPreviousPage", "hasNextPage", "endCursor"],
            ),
            Way::Backward => (
                ("last", 3),
                "before",
                ["hasNextPage", "hasPreviousPage", "startCursor"],
            ),
        }
    }
}

/// Walks every page `way`, checking pageInfo on the way; the ids in list order.
async fn walk(app: &TestApp, token: &str, way: Way, order: &Value, filter: &Value) -> Vec<String> {
    let ((size, count), cursor_name, [behind, ahead, go_on_from]) = way.arguments();
    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let mut variables = json!({ "orderBy": order, "filter": filter });
        variables[size] = json!(count);
        variables[cursor_name] = cursor.clone();
        let connection = page(app, token, variables).await;
        assert_eq!(
            connection["pageInfo"][behind],
            !cursor.is_null(),
            "{cursor_name} {cursor}"
        );
        let chunk = ids(&connection);
        if way == Way::Backward {
            seen.splice(0..0, chunk);
        } else {
            seen.extend(chunk);
        }
        if connection["pageInfo"][ahead] == false {
            return seen;
        }
        cursor = connection["pageInfo"][go_on_from].clone();
        assert!(seen.len() < 100, "paging does not end");
    }
}

fn priority_rank(priority: &Value) -> u8 {
    match priority.as_str().unwrap() {
        "LOW" => 0,
        "MEDIUM" => 1,
        "HIGH" => 2,
        _ => 3,
    }
}

fn compare_field(a: &Value, b: &Value, field: &str, ascending: bool) -> Ordering {
    let directed = |ordering: Ordering| {
        if ascending {
            ordering
        } else {
            ordering.reverse()
        }
    };
    let time = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    match field {
        "CREATED_AT" => directed(time(&a["createdAt"]).cmp(&time(&b["createdAt"]))),
        "UPDATED_AT" => directed(time(&a["updatedAt"]).cmp(&time(&b["updatedAt"]))),
        "PRIORITY" => directed(priority_rank(&a["priority"]).cmp(&priority_rank(&b["priority"]))),
        "TITLE" => directed(a["title"].as_str().cmp(&b["title"].as_str())),
        // Tasks without a due time come last in both directions.
        "DUE_AT" => match (a["dueAt"].is_null(), b["dueAt"].is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => directed(time(&a["dueAt"]).cmp(&time(&b["dueAt"]))),
        },
        other => panic!("unknown field {other}"),
    }
}

/// The ids of `tasks` in `order`, ties broken by id in the last key's direction.
fn expected(tasks: &[Value], order: &[(&str, &str)]) -> Vec<String> {
    let mut sorted = tasks.to_vec();
    let id_ascending = order.last().is_some_and(|(_, d)| *d == "ASC");
    sorted.sort_by(|a, b| {
        order
            .iter()
            .map(|(field, direction)| compare_field(a, b, field, *direction == "ASC"))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| {
                let by_id = a["id"].as_str().cmp(&b["id"].as_str());
                if id_ascending { by_id } else { by_id.reverse() }
            })
    });
    sorted
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Nine tasks with ties on every field, and some without a due time.
async fn varied_tasks(app: &TestApp, token: &str) -> Vec<Value> {
    let specs = [
        ("delta", "HIGH", Some("2030-01-02T00:00:00Z")),
        ("alpha", "LOW", None),
        ("charlie", "HIGH", Some("2030-01-01T00:00:00Z")),
        ("bravo", "MEDIUM", Some("2030-01-02T00:00:00Z")),
        ("bravo", "URGENT", None),
        ("echo", "LOW", Some("2029-12-31T00:00:00Z")),
        ("alpha", "MEDIUM", Some("2030-01-01T00:00:00Z")),
        ("foxtrot", "HIGH", None),
        ("golf", "URGENT", Some("2030-01-03T00:00:00Z")),
    ];
    let mut tasks = Vec::new();
    for (title, priority, due) in specs {
        tasks.push(
            app.create_task(
                token,
                json!({ "title": title, "priority": priority, "dueAt": due }),
            )
            .await,
        );
    }
    // Touch two tasks so that updatedAt differs from createdAt order.
    for task in [&tasks[0], &tasks[5]] {
        let body = app
            .gql(
                Some(token),
                "mutation($id: ID!) { updateTask(id: $id, input: { status: IN_PROGRESS }) { id updatedAt } }",
                json!({ "id": task["id"] }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    page(app, token, json!({ "first": 100 })).await["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

#[tokio::test]
async fn every_order_pages_forward_and_backward_without_repeats_or_gaps() {
    let app = spawn_app().await;
    let user = app.user("pager").await;
    let tasks = varied_tasks(&app, &user.token).await;
    let orders: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("CREATED_AT", "ASC")],
        vec![("CREATED_AT", "DESC")],
        vec![("UPDATED_AT", "DESC")],
        vec![("UPDATED_AT", "ASC")],
        vec![("DUE_AT", "ASC")],
        vec![("DUE_AT", "DESC")],
        vec![("PRIORITY", "ASC")],
        vec![("PRIORITY", "DESC")],
        vec![("TITLE", "ASC")],
        vec![("TITLE", "DESC")],
        vec![("PRIORITY", "DESC"), ("DUE_AT", "ASC")],
        vec![("DUE_AT", "DESC"), ("TITLE", "ASC"), ("PRIORITY", "DESC")],
        vec![("TITLE", "ASC"), ("CREATED_AT", "DESC")],
    ];
    for order in orders {
        let variables: Value = order
            .iter()
            .map(|(field, direction)| json!({ "field": field, "direction": direction }))
            .collect();
        let want = if order.is_empty() {
            expected(&tasks, &[("CREATED_AT", "DESC")])
        } else {
            expected(&tasks, &order)
        };
        let forward = walk(&app, &user.token, Way::Forward, &variables, &Value::Null).await;
        assert_eq!(forward, want, "forward {order:?}");
        let backward = walk(&app, &user.token, Way::Backward, &variables, &Value::Null).await;
        assert_eq!(backward, want, "backward {order:?}");
    }
}

#[tokio::test]
async fn page_info_is_exact_between_two_cursors_and_around_a_deleted_cursor_task() {
    let app = spawn_app().await;
    let user = app.user("bounds").await;
    for i in 0..6 {
        app.create_task(&user.token, json!({ "title": format!("t{i}") }))
            .await;
    }
    let all = page(&app, &user.token, json!({})).await;
    let cursors: Vec<Value> = all["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cursor"].clone())
        .collect();
    assert_eq!(all["totalCount"], 6);
    assert_eq!(all["pageInfo"]["hasNextPage"], false);
    assert_eq!(all["pageInfo"]["hasPreviousPage"], false);

    let between = page(
        &app,
        &user.token,
        json!({ "after": cursors[0], "before": cursors[4] }),
    )
    .await;
    assert_eq!(ids(&between), ids(&all)[1..4]);
    assert_eq!(between["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(between["pageInfo"]["hasNextPage"], true);
    let last = page(
        &app,
        &user.token,
        json!({ "last": 2, "after": cursors[0], "before": cursors[4] }),
    )
    .await;
    assert_eq!(ids(&last), ids(&all)[2..4]);
    assert_eq!(last["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(last["pageInfo"]["hasNextPage"], true);

    // The task a cursor points at may disappear; the cursor still marks the position.
    let body = app
        .gql(
            Some(&user.token),
            DELETE_TASK,
            json!({ "id": ids(&all)[2] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let after_deleted = page(&app, &user.token, json!({ "after": cursors[2] })).await;
    assert_eq!(ids(&after_deleted), ids(&all)[3..]);
    assert_eq!(after_deleted["pageInfo"]["hasPreviousPage"], true);
    let empty = page(&app, &user.token, json!({ "first": 0 })).await;
    assert_eq!(ids(&empty), Vec::<String>::new());
    assert_eq!(empty["pageInfo"]["hasNextPage"], true);
    assert!(empty["pageInfo"]["startCursor"].is_null());
    assert_eq!(empty["totalCount"], 5);
}

#[tokio::test]
async fn tasks_inserted_while_paging_are_neither_repeated_nor_skipped() {
    let app = spawn_app().await;
    let user = app.user("racer").await;
    for i in 0..6 {
        app.create_task(&user.token, json!({ "title": format!("old {i}") }))
            .await;
    }
    let order = json!([{ "field": "CREATED_AT", "direction": "DESC" }]);
    let first = page(&app, &user.token, json!({ "first": 3, "orderBy": order })).await;
    for i in 0..3 {
        app.create_task(&user.token, json!({ "title": format!("new {i}") }))
            .await;
    }
    let rest = page(
        &app,
        &user.token,
        json!({ "first": 10, "after": first["pageInfo"]["endCursor"], "orderBy": order }),
    )
    .await;
    let titles: Vec<&str> = first["edges"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["edges"].as_array().unwrap())
        .map(|e| e["node"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["old 5", "old 4", "old 3", "old 2", "old 1", "old 0"]
    );
    assert_eq!(rest["totalCount"], 9);
}

#[tokio::test]
async fn page_sizes_default_to_20_and_are_capped_at_100_both_ways() {
    let app = spawn_app().await;
    let user = app.user("sizes").await;
    app.create_tasks(&user.token, 105).await;
    for (variables, len) in [
        (json!({}), 20),
        (json!({ "last": null }), 20),
        (json!({ "first": 1000 }), 100),
        (json!({ "last": 1000 }), 100),
        (json!({ "last": 5 }), 5),
    ] {
        let connection = page(&app, &user.token, variables.clone()).await;
        assert_eq!(ids(&connection).len(), len, "{variables}");
        assert_eq!(connection["totalCount"], 105);
    }
    let last = page(&app, &user.token, json!({ "last": 1 })).await;
    assert_eq!(last["edges"][0]["node"]["title"], "task 0");
    assert_eq!(last["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(last["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn bad_paging_arguments_are_bad_user_input() {
    let app = spawn_app().await;
    let user = app.user("badargs").await;
    app.create_task(&user.token, json!({ "title": "one" }))
        .await;
    let title_cursor = page(
        &app,
        &user.token,
        json!({ "orderBy": [{ "field": "TITLE", "direction": "ASC" }] }),
    )
    .await["edges"][0]["cursor"]
        .clone();
    let cases = [
        (json!({ "first": 1, "last": 1 }), "`first` or `last`"),
        (json!({ "first": 0, "last": 0 }), "`first` or `last`"),
        (json!({ "last": -1 }), "negative"),
        (json!({ "first": -5 }), "negative"),
        (json!({ "before": "garbage" }), "`before`"),
        (json!({ "before": "" }), "`before`"),
        (json!({ "after": "🦀" }), "`after`"),
        (json!({ "after": "A".repeat(100_000) }), "`after`"),
        // A cursor only serves the order it came from.
        (json!({ "after": title_cursor }), "`after`"),
        (
            json!({ "orderBy": [{ "field": "TITLE", "direction": "ASC" }, { "field": "TITLE", "direction": "DESC" }] }),
            "more than once",
        ),
        (json!({ "filter": { "search": "x".repeat(201) } }), "200"),
        (json!({ "filter": { "search": "a\u{0}b" } }), "NUL"),
    ];
    for (variables, rule) in cases {
        let body = app.gql(Some(&user.token), PAGE, variables.clone()).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{variables}: {body}");
        assert!(message(&body).contains(rule), "{variables}: {body}");
    }
    for variables in [
        json!({ "orderBy": [{ "field": "OWNER", "direction": "ASC" }] }),
        json!({ "filter": { "status": ["NOPE"] } }),
        json!({ "filter": { "dueBefore": "yesterday" } }),
    ] {
        let body = app.gql(Some(&user.token), PAGE, variables.clone()).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{variables}: {body}");
    }
}

async fn titles(app: &TestApp, token: &str, filter: Value) -> Vec<String> {
    let connection = page(
        app,
        token,
        json!({ "first": 100, "filter": filter, "orderBy": [{ "field": "TITLE", "direction": "ASC" }] }),
    )
    .await;
    let titles: Vec<String> = connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(connection["totalCount"], titles.len(), "{filter}");
    titles
}

#[tokio::test]
async fn every_filter_field_narrows_the_result() {
    let app = spawn_app().await;
    let user = app.user("filterer").await;
    let past = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let future = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    for (title, status, priority, due) in [
        ("a late todo", "TODO", "HIGH", Some(past.as_str())),
        ("b late done", "DONE", "LOW", Some(past.as_str())),
        ("c soon", "IN_PROGRESS", "URGENT", Some(future.as_str())),
        ("d undated", "TODO", "MEDIUM", None),
    ] {
        app.create_task(
            &user.token,
            json!({ "title": title, "status": status, "priority": priority, "dueAt": due }),
        )
        .await;
    }
    let other = app.user("bystander").await;
    app.create_task(
        &other.token,
        json!({ "title": "a late todo", "dueAt": past }),
    )
    .await;

    let cases = [
        (
            json!({}),
            vec!["a late todo", "b late done", "c soon", "d undated"],
        ),
        (
            json!({ "status": ["TODO"] }),
            vec!["a late todo", "d undated"],
        ),
        (
            json!({ "status": ["DONE", "IN_PROGRESS"] }),
            vec!["b late done", "c soon"],
        ),
        (json!({ "status": [] }), vec![]),
        (
            json!({ "priority": ["URGENT", "LOW"] }),
            vec!["b late done", "c soon"],
        ),
        (json!({ "priority": [] }), vec![]),
        (
            json!({ "dueBefore": chrono::Utc::now().to_rfc3339() }),
            vec!["a late todo", "b late done"],
        ),
        (
            json!({ "dueAfter": chrono::Utc::now().to_rfc3339() }),
            vec!["c soon"],
        ),
        (json!({ "dueAfter": future, "dueBefore": past }), vec![]),
        (json!({ "overdue": true }), vec!["a late todo"]),
        (
            json!({ "overdue": false }),
            vec!["b late done", "c soon", "d undated"],
        ),
        (
            json!({ "overdue": false, "status": ["TODO"] }),
            vec!["d undated"],
        ),
        (
            json!({ "status": ["TODO", "DONE"], "priority": ["HIGH", "LOW"], "search": "LATE" }),
            vec!["a late todo", "b late done"],
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(
            titles(&app, &user.token, filter.clone()).await,
            want,
            "{filter}"
        );
    }
}

#[tokio::test]
async fn search_is_case_insensitive_and_takes_every_character_literally() {
    let app = spawn_app().await;
    let user = app.user("searcher").await;
    for (title, description) in [
        ("Buy MILK", Some("from the Corner shop")),
        ("Ünïcode Straße", Some("日本語のメモ 🦀")),
        ("100% done_now", None),
        (
            "quote \"this\" and 'that'",
            Some("a*b (NEAR) c:d OR e AND f"),
        ),
        ("back\\slash", Some("tab\there")),
        ("plain", Some("100 percent")),
    ] {
        app.create_task(
            &user.token,
            json!({ "title": title, "description": description }),
        )
        .await;
    }
    let intruder = app.user("intruder").await;
    app.create_task(&intruder.token, json!({ "title": "buy milk too" }))
        .await;

    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("milk", vec!["Buy MILK"]),
        ("bUy mIlK", vec!["Buy MILK"]),
        ("corner SHOP", vec!["Buy MILK"]),
        ("ünÏCODE", vec!["Ünïcode Straße"]),
        ("straße", vec!["Ünïcode Straße"]),
        ("本語", vec!["Ünïcode Straße"]),
        ("🦀", vec!["Ünïcode Straße"]),
        ("100%", vec!["100% done_now"]),
        ("%", vec!["100% done_now"]),
        ("_", vec!["100% done_now"]),
        ("e_n", vec!["100% done_now"]),
        ("100", vec!["100% done_now", "plain"]),
        ("\"this\"", vec!["quote \"this\" and 'that'"]),
        ("'that'", vec!["quote \"this\" and 'that'"]),
        ("\"", vec!["quote \"this\" and 'that'"]),
        ("a*b", vec!["quote \"this\" and 'that'"]),
        ("(near)", vec!["quote \"this\" and 'that'"]),
        ("c:d or e", vec!["quote \"this\" and 'that'"]),
        ("*", vec!["quote \"this\" and 'that'"]),
        ("k\\s", vec!["back\\slash"]),
        ("\\", vec!["back\\slash"]),
        ("tab\th", vec!["back\\slash"]),
        ("m*lk", vec![]),
        ("mi%k", vec![]),
        ("m_lk", vec![]),
        ("NEAR(milk shop)", vec![]),
        ("milk OR plain", vec![]),
        ("'; DROP TABLE tasks; --", vec![]),
        ("nothing like it", vec![]),
    ];
    for (search, want) in cases {
        assert_eq!(
            titles(&app, &user.token, json!({ "search": search })).await,
            want,
            "search {search:?}"
        );
    }
    // Edits and deletions reach the index.
    let milk = page(&app, &user.token, json!({ "filter": { "search": "milk" } })).await["edges"][0]
        ["node"]["id"]
        .clone();
    let body = app
        .gql(
            Some(&user.token),
            "mutation($id: ID!) { updateTask(id: $id, input: { title: \"Buy bread\", description: null }) { id } }",
            json!({ "id": milk }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        titles(&app, &user.token, json!({ "search": "milk" })).await,
        Vec::<String>::new()
    );
    assert_eq!(
        titles(&app, &user.token, json!({ "search": "BREAD" })).await,
        ["Buy bread"]
    );
    let body = app
        .gql(Some(&user.token), DELETE_TASK, json!({ "id": milk }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        titles(&app, &user.token, json!({ "search": "bread" })).await,
        Vec::<String>::new()
    );
    assert_eq!(
        titles(&app, &user.token, json!({ "search": "" }))
            .await
            .len(),
        5
    );
}

#[tokio::test]
async fn search_pages_like_any_other_filter() {
    let app = spawn_app().await;
    let user = app.user("searchpager").await;
    for i in 0..7 {
        app.create_task(&user.token, json!({ "title": format!("Report {i}") }))
            .await;
        app.create_task(&user.token, json!({ "title": format!("other {i}") }))
            .await;
    }
    let filter = json!({ "search": "REPORT" });
    let order = json!([{ "field": "TITLE", "direction": "DESC" }]);
    let forward = walk(&app, &user.token, Way::Forward, &order, &filter).await;
    let backward = walk(&app, &user.token, Way::Backward, &order, &filter).await;
    assert_eq!(forward.len(), 7);
    assert_eq!(forward, backward);
}
