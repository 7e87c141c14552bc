//! Reaching another user's tasks, sessions or account through any operation.

use serde_json::{Value, json};

use crate::helpers::documents::{
    CREATE_TASK, DELETE_ACCOUNT, DELETE_TASK, REVOKE_SESSION, TASK, TASK_COUNT,
};
use crate::helpers::{PASSWORD, TestApp, TestUser, code, message, spawn_app, works};

const UPDATE: &str = "mutation($id: ID!, $input: UpdateTaskInput!) { updateTask(id: $id, input: $input) { id title } }";
const VICTIM_PASSWORD: &str = "quiet meadow orbit 7731";

/// A victim with one private task, and an attacker with a task of their own.
struct Scene {
    app: TestApp,
    victim: TestUser,
    attacker: TestUser,
    /// The victim's task as the victim sees it.
    secret: Value,
}

impl Scene {
    async fn new() -> Self {
        let app = spawn_app().await;
        let registered = app
            .register("victim", "victim@example.com", VICTIM_PASSWORD)
            .await;
        let login = app.login("victim", VICTIM_PASSWORD).await;
        let victim = TestUser {
            id: registered["data"]["register"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
            token: login["data"]["login"]["accessToken"]
                .as_str()
                .unwrap()
                .to_owned(),
            refresh: login["data"]["login"]["refreshToken"]
                .as_str()
                .unwrap()
                .to_owned(),
        };
        let attacker = app.user("mallory").await;
        let created = app
            .create_task(
                &victim.token,
                json!({ "title": "zebra payroll plan", "description": "private notes",
                        "priority": "HIGH", "dueAt": "2030-01-01T00:00:00Z" }),
            )
            .await;
        app.create_task(&attacker.token, json!({ "title": "mallory's own" }))
            .await;
        let secret = app
            .task_as(&victim.token, created["id"].as_str().unwrap())
            .await;
        Self {
            app,
            victim,
            attacker,
            secret,
        }
    }

    fn secret_id(&self) -> &str {
        self.secret["id"].as_str().unwrap()
    }

    /// The victim's task is exactly as it was, and the victim still has only it.
    async fn assert_victim_untouched(&self) {
        assert_eq!(
            self.app.task_as(&self.victim.token, self.secret_id()).await,
            self.secret
        );
        let body = self
            .app
            .gql(Some(&self.victim.token), TASK_COUNT, json!({}))
            .await;
        assert_eq!(body["data"]["tasks"]["totalCount"], 1, "{body}");
    }

    /// The attacker's raw response text for `query` on `id`.
    async fn raw(&self, query: &str, variables: Value) -> String {
        self.app
            .post(Some(&self.attacker.token), query, variables)
            .await
            .text
    }
}

#[tokio::test]
async fn probe_reading_another_users_task_is_byte_identical_to_a_missing_one() {
    let scene = Scene::new().await;
    let missing = uuid::Uuid::now_v7().to_string();
    let theirs = scene.raw(TASK, json!({ "id": scene.secret_id() })).await;
    let absent = scene.raw(TASK, json!({ "id": missing })).await;
    assert_eq!(theirs, absent);
    assert_eq!(theirs, r#"{"data":{"task":null}}"#);
}

#[tokio::test]
async fn probe_updating_another_users_task_is_byte_identical_to_a_missing_one() {
    let scene = Scene::new().await;
    let missing = uuid::Uuid::now_v7().to_string();
    let input = json!({ "title": "pwned", "description": null, "status": "DONE",
                        "priority": "LOW", "dueAt": null });
    let theirs = scene
        .raw(UPDATE, json!({ "id": scene.secret_id(), "input": input }))
        .await;
    let absent = scene
        .raw(UPDATE, json!({ "id": missing, "input": input }))
        .await;
    assert_eq!(theirs, absent);
    let body: Value = serde_json::from_str(&theirs).unwrap();
    assert_eq!(code(&body), "NOT_FOUND");
    assert_eq!(message(&body), "Task not found.");
    assert!(body["data"].is_null());
    scene.assert_victim_untouched().await;
}

#[tokio::test]
async fn probe_deleting_another_users_task_is_byte_identical_to_a_missing_one() {
    let scene = Scene::new().await;
    let missing = uuid::Uuid::now_v7().to_string();
    let theirs = scene
        .raw(DELETE_TASK, json!({ "id": scene.secret_id() }))
        .await;
    let absent = scene.raw(DELETE_TASK, json!({ "id": missing })).await;
    assert_eq!(theirs, absent);
    let body: Value = serde_json::from_str(&theirs).unwrap();
    assert_eq!(code(&body), "NOT_FOUND");
    assert_eq!(scene.app.count("tasks").await, 2);
    scene.assert_victim_untouched().await;
}

#[tokio::test]
async fn probe_aliased_mutations_mixing_own_and_victims_tasks() {
    let scene = Scene::new().await;
    let own = scene
        .app
        .create_task(&scene.attacker.token, json!({ "title": "bait" }))
        .await;
    let body = scene
        .app
        .gql(
            Some(&scene.attacker.token),
            "mutation($own: ID!, $theirs: ID!) {
               a: deleteTask(id: $own)
               b: deleteTask(id: $theirs)
               c: updateTask(id: $theirs, input: { title: \"pwned\" }) { id title }
             }",
            json!({ "own": own["id"], "theirs": scene.secret_id() }),
        )
        .await;
    assert_eq!(body["data"]["a"], own["id"], "{body}");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{body}");
    for error in errors {
        assert_eq!(error["extensions"]["code"], "NOT_FOUND", "{body}");
        assert_eq!(error["message"], "Task not found.");
    }
    scene.assert_victim_untouched().await;
}

#[tokio::test]
async fn probe_other_spellings_of_the_victims_task_id() {
    let scene = Scene::new().await;
    let id = uuid::Uuid::parse_str(scene.secret_id()).unwrap();
    for spelling in [
        id.hyphenated().to_string().to_uppercase(),
        id.simple().to_string(),
        id.braced().to_string(),
        id.urn().to_string(),
    ] {
        let body = scene
            .app
            .gql(Some(&scene.attacker.token), TASK, json!({ "id": spelling }))
            .await;
        assert_eq!(body, json!({ "data": { "task": null } }), "{spelling}");
        for query in [DELETE_TASK, UPDATE] {
            let body = scene
                .app
                .gql(
                    Some(&scene.attacker.token),
                    query,
                    json!({ "id": spelling, "input": { "title": "pwned" } }),
                )
                .await;
            assert_eq!(code(&body), "NOT_FOUND", "{spelling}: {body}");
        }
    }
    scene.assert_victim_untouched().await;
}

#[tokio::test]
async fn probe_nested_owner_traversal_stays_with_the_viewer() {
    let scene = Scene::new().await;
    let body = scene
        .app
        .gql(
            Some(&scene.attacker.token),
            "{ me { id } tasks(first: 100) { totalCount nodes { owner { id username email } } edges { node { owner { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["tasks"]["totalCount"], 1, "{body}");
    let text = body.to_string();
    assert!(!text.contains(&scene.victim.id), "{text}");
    assert!(!text.contains("victim"), "{text}");
    // The owner is a dead end: no field leads from a user to tasks or sessions.
    for query in [
        "{ tasks { nodes { owner { tasks { totalCount } } } } }",
        "{ me { tasks { totalCount } } }",
        "{ me { sessions { id } } }",
        "{ tasks { nodes { owner { passwordHash } } } }",
    ] {
        let body = scene
            .app
            .gql(Some(&scene.attacker.token), query, json!({}))
            .await;
        assert!(body["data"].is_null(), "{query}: {body}");
        assert_eq!(code(&body), "BAD_USER_INPUT", "{query}");
    }
}

#[tokio::test]
async fn probe_output_types_expose_no_secret_fields() {
    let app = spawn_app().await;
    let body = app
        .gql(
            None,
            "{ __schema { types { name fields { name } inputFields { name } } } }",
            json!({}),
        )
        .await;
    let types = body["data"]["__schema"]["types"].as_array().unwrap();
    for ty in types {
        let name = ty["name"].as_str().unwrap();
        if name.starts_with("__") || name == "AuthPayload" || name == "Mutation" {
            continue;
        }
        for field in ty["fields"]
            .as_array()
            .into_iter()
            .chain(ty["inputFields"].as_array())
            .flatten()
        {
            let field = field["name"].as_str().unwrap().to_lowercase();
            // The one type made to hand a secret to its owner, once.
            if name == "TwoFactorSetup" {
                continue;
            }
            for secret in ["hash", "secret", "salt", "token", "ownerid", "userid"] {
                assert!(!field.contains(secret), "{name}.{field}");
            }
            if !matches!(name, "RegisterInput" | "LoginInput" | "Query") {
                assert!(!field.contains("password"), "{name}.{field}");
            }
        }
    }
}

#[tokio::test]
async fn probe_a_task_cannot_be_given_to_or_taken_from_another_owner() {
    let scene = Scene::new().await;
    for field in ["ownerId", "owner", "userId", "owner_id"] {
        let body = scene
            .app
            .gql(
                Some(&scene.attacker.token),
                CREATE_TASK,
                json!({ "input": { "title": "planted", field: scene.victim.id } }),
            )
            .await;
        assert!(body["data"].is_null(), "{field}: {body}");
        assert_eq!(code(&body), "BAD_USER_INPUT", "{field}");
        let own = scene
            .app
            .gql(
                Some(&scene.attacker.token),
                "{ tasks { nodes { id } } }",
                json!({}),
            )
            .await["data"]["tasks"]["nodes"][0]["id"]
            .clone();
        let body = scene
            .app
            .gql(
                Some(&scene.attacker.token),
                UPDATE,
                json!({ "id": own, "input": { field: scene.victim.id } }),
            )
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{field}: {body}");
    }
    assert_eq!(scene.app.count("tasks").await, 2);
    scene.assert_victim_untouched().await;
}

#[tokio::test]
async fn probe_filters_and_counts_are_no_oracle_for_other_users_tasks() {
    let scene = Scene::new().await;
    for filter in [
        json!({ "search": "zebra" }),
        json!({ "search": "ze" }),
        json!({ "search": "z" }),
        json!({ "search": "private notes" }),
        json!({ "priority": ["HIGH"] }),
        json!({ "dueAfter": "2029-12-31T00:00:00Z" }),
        json!({ "overdue": false, "status": ["TODO"] }),
    ] {
        let body = scene
            .app
            .gql(
                Some(&scene.attacker.token),
                "query($f: TaskFilter) { tasks(filter: $f) { totalCount nodes { title } } }",
                json!({ "f": filter }),
            )
            .await;
        let tasks = &body["data"]["tasks"];
        assert!(
            tasks["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|node| node["title"] == "mallory's own"),
            "{filter}: {body}"
        );
        assert_eq!(
            tasks["totalCount"],
            tasks["nodes"].as_array().unwrap().len(),
            "{filter}: {body}"
        );
    }
}

#[tokio::test]
async fn probe_revoking_another_users_session_is_byte_identical_to_a_missing_one() {
    let scene = Scene::new().await;
    let victim_sid = crate::helpers::claims_of(&scene.victim.token)["sid"].clone();
    let revoke = REVOKE_SESSION;
    let theirs = scene.raw(revoke, json!({ "id": victim_sid })).await;
    let absent = scene
        .raw(revoke, json!({ "id": uuid::Uuid::now_v7().to_string() }))
        .await;
    assert_eq!(theirs, absent);
    let body: Value = serde_json::from_str(&theirs).unwrap();
    assert_eq!(code(&body), "NOT_FOUND");
    assert!(works(&scene.app, &scene.victim.token).await);
    // Nor does the attacker's session list show the victim's.
    let body = scene
        .app
        .gql(
            Some(&scene.attacker.token),
            "{ sessions { id } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["sessions"].as_array().unwrap().len(), 1);
    assert!(!body.to_string().contains(victim_sid.as_str().unwrap()));
}

#[tokio::test]
async fn probe_account_mutations_act_on_the_viewer_only_even_with_the_victims_password() {
    let scene = Scene::new().await;
    let app = &scene.app;
    let token = Some(scene.attacker.token.as_str());
    let body = app
        .gql(token, DELETE_ACCOUNT, json!({ "p": VICTIM_PASSWORD }))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = app
        .change_password(token, VICTIM_PASSWORD, "taken over 99 lanterns")
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(app.count("users").await, 2);
    assert!(works(app, &scene.victim.token).await);
    assert!(app.login("victim", VICTIM_PASSWORD).await["data"]["login"].is_object());
    assert!(works(app, &scene.attacker.token).await);
    assert!(app.login("mallory", PASSWORD).await["data"]["login"].is_object());
    scene.assert_victim_untouched().await;
}
