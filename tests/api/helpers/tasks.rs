//! Tasks made through the API, for tests that need some to exist.

use serde_json::{Value, json};
use taskql::graphql::limits::MAX_ROOT_FIELDS;

use super::TestApp;
use super::documents::{CREATE_TASK_FULL, TASK};

impl TestApp {
    /// Creates `count` tasks titled "task 0", "task 1", … in order, as many per request as
    /// an operation may hold root fields.
    pub async fn create_tasks(&self, token: &str, count: usize) {
        let ids: Vec<usize> = (0..count).collect();
        for chunk in ids.chunks(MAX_ROOT_FIELDS) {
            let mutation = chunk
                .iter()
                .map(|i| format!("t{i}: createTask(input: {{ title: \"task {i}\" }}) {{ id }}"))
                .collect::<Vec<_>>()
                .join(" ");
            let body = self
                .gql(
                    Some(token),
                    &format!("mutation {{ {mutation} }}"),
                    json!({}),
                )
                .await;
            assert!(body["errors"].is_null(), "{body}");
        }
    }

    /// Creates a task with `input` and returns it (id, title, status, …).
    pub async fn create_task(&self, token: &str, input: Value) -> Value {
        let body = self
            .gql(Some(token), CREATE_TASK_FULL, json!({ "input": input }))
            .await;
        let task = body["data"]["createTask"].clone();
        assert!(task.is_object(), "createTask failed: {body}");
        task
    }

    /// Creates a task titled `title` and returns its id.
    pub async fn task_titled(&self, token: &str, title: &str) -> String {
        let task = self.create_task(token, json!({ "title": title })).await;
        task["id"].as_str().expect("a task id").to_owned()
    }

    /// The task `id` as `token`'s viewer sees it (null when it is not theirs).
    pub async fn task_as(&self, token: &str, id: &str) -> Value {
        let body = self.gql(Some(token), TASK, json!({ "id": id })).await;
        body["data"]["task"].clone()
    }
}
