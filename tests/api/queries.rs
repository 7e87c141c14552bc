//! No N+1: a page of tasks with their owners costs a constant number of SQL statements,
//! counted by the server's own statement counter.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_page_of_tasks_with_owners_costs_a_constant_number_of_statements() {
    let app = spawn_app().await;
    let user = app.user("counter").await;
    app.create_tasks(&user.token, 100).await;

    let query = "query($first: Int) { tasks(first: $first) {
        totalCount
        nodes { id title owner { id username email } }
        edges { cursor node { id owner { id createdAt } } }
        pageInfo { hasNextPage endCursor }
    } }";
    let mut costs = Vec::new();
    for first in [1, 10, 100, 100, 100] {
        let before = app.statements.get();
        let body = app
            .gql(Some(&user.token), query, json!({ "first": first }))
            .await;
        let cost = app.statements.get() - before;
        assert!(body["errors"].is_null(), "{body}");
        let nodes = body["data"]["tasks"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), first);
        assert!(nodes.iter().all(|n| n["owner"]["id"] == user.id.as_str()));
        costs.push(cost);
    }
    println!("statements per page of 1, 10, 100, 100 and 100 tasks with owners: {costs:?}");
    // The viewer, the page, the total and one batch of owners, whatever the page size.
    assert_eq!(costs, [4, 4, 4, 4, 4]);

    // Without owners or the total in the selection, neither is loaded.
    let before = app.statements.get();
    let body = app
        .gql(
            Some(&user.token),
            "{ tasks(first: 100) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(app.statements.get() - before, 2);
}
