//! The PostgreSQL NOTIFY payload of a task change: a small versioned type of its own, not
//! the entity, so replicas of two releases can share the channel during a rolling deploy.
//!
//! Within a version a field may only be added, and only as an optional one: an older
//! replica ignores a field it does not know, a newer one reads a missing field as `None`.
//! Any other change of shape is a new version, which a replica that does not know it
//! skips with a warning instead of misreading.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Announced, TaskChangeKind};
use crate::domain::{TaskPriority, TaskStatus};
use crate::store::tasks::Task;

/// The version this release writes and the only one it reads.
const VERSION: u64 = 1;
/// PostgreSQL refuses notification payloads of 8000 bytes or more.
const MAX_BYTES: usize = 7_900;

/// Version 1 of the payload.
#[derive(Debug, Serialize, Deserialize)]
struct Notice {
    v: u64,
    owner_id: Uuid,
    task_id: Uuid,
    kind: TaskChangeKind,
    /// Absent for a deletion and for a task too large to travel (the subscriber reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task: Option<Snapshot>,
}

/// The task as the write left it, without the ids the notice already carries.
#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    title: String,
    description: Option<String>,
    status: TaskStatus,
    priority: TaskPriority,
    due_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Just enough of any version to tell which one it is.
#[derive(Deserialize)]
struct Version {
    v: u64,
}

/// Why a notification was skipped.
#[derive(Debug, thiserror::Error)]
pub(super) enum DecodeError {
    #[error("payload does not parse: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("payload has version {0}; this release reads version {VERSION}")]
    UnknownVersion(u64),
}

impl From<&Task> for Snapshot {
    fn from(task: &Task) -> Self {
        Self {
            title: task.title.clone(),
            description: task.description.clone(),
            status: task.status,
            priority: task.priority,
            due_at: task.due_at,
            completed_at: task.completed_at,
            created_at: task.created_at,
            updated_at: task.updated_at,
        }
    }
}

impl Snapshot {
    fn into_task(self, id: Uuid, owner_id: Uuid) -> Task {
        Task {
            id,
            owner_id,
            title: self.title,
            description: self.description,
            status: self.status,
            priority: self.priority,
            due_at: self.due_at,
            completed_at: self.completed_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// The payload announcing `change`; without the task when it would be too large.
pub(super) fn encode(change: &Announced) -> serde_json::Result<String> {
    let mut notice = Notice {
        v: VERSION,
        owner_id: change.owner_id,
        task_id: change.task_id,
        kind: change.kind,
        task: change.task.as_ref().map(Snapshot::from),
    };
    let payload = serde_json::to_string(&notice)?;
    if payload.len() <= MAX_BYTES {
        return Ok(payload);
    }
    notice.task = None;
    serde_json::to_string(&notice)
}

/// The change a payload announces, if it is of the version this release reads.
pub(super) fn decode(payload: &str) -> Result<Announced, DecodeError> {
    let Version { v } = serde_json::from_str(payload)?;
    if v != VERSION {
        return Err(DecodeError::UnknownVersion(v));
    }
    let notice: Notice = serde_json::from_str(payload)?;
    Ok(Announced {
        owner_id: notice.owner_id,
        task_id: notice.task_id,
        kind: notice.kind,
        task: notice
            .task
            .map(|snapshot| snapshot.into_task(notice.task_id, notice.owner_id)),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn task(description: Option<String>) -> Task {
        let at = Utc.timestamp_micros(1_780_000_000_123_456).unwrap();
        Task {
            id: Uuid::now_v7(),
            owner_id: Uuid::now_v7(),
            title: "ünïcode \"quoted\" 🦀".into(),
            description,
            status: TaskStatus::Done,
            priority: TaskPriority::Urgent,
            due_at: None,
            completed_at: Some(at),
            created_at: at,
            updated_at: at,
        }
    }

    fn announced(kind: TaskChangeKind, task: Option<Task>) -> Announced {
        let id = task.as_ref().map_or_else(Uuid::now_v7, |task| task.id);
        Announced {
            owner_id: task
                .as_ref()
                .map_or_else(Uuid::now_v7, |task| task.owner_id),
            task_id: id,
            kind,
            task,
        }
    }

    #[test]
    fn changes_round_trip() {
        for change in [
            announced(TaskChangeKind::Created, Some(task(Some("notes".into())))),
            announced(TaskChangeKind::Updated, Some(task(None))),
            announced(TaskChangeKind::Deleted, None),
        ] {
            let payload = encode(&change).unwrap();
            assert_eq!(decode(&payload).unwrap(), change, "{payload}");
        }
    }

    #[test]
    fn a_task_too_large_travels_without_its_snapshot() {
        let change = announced(
            TaskChangeKind::Updated,
            Some(task(Some("x".repeat(10_000)))),
        );
        let payload = encode(&change).unwrap();
        assert!(payload.len() <= MAX_BYTES);
        let decoded = decode(&payload).unwrap();
        assert_eq!(decoded.task, None);
        assert_eq!(
            (decoded.owner_id, decoded.task_id, decoded.kind),
            (change.owner_id, change.task_id, change.kind)
        );
    }

    #[test]
    fn added_fields_are_ignored_and_missing_optional_ones_read_as_none() {
        let (owner, id) = (Uuid::now_v7(), Uuid::now_v7());
        let newer = json!({
            "v": 1, "owner_id": owner, "task_id": id, "kind": "Updated", "origin": "replica-2",
            "task": {
                "title": "t", "description": null, "status": "Todo", "priority": "Low",
                "due_at": null, "completed_at": null, "labels": ["a"],
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
            }
        });
        let decoded = decode(&newer.to_string()).unwrap();
        assert_eq!(
            decoded
                .task
                .map(|task| (task.id, task.owner_id, task.title)),
            Some((id, owner, "t".into()))
        );
        let older = json!({
            "v": 1, "owner_id": owner, "task_id": id, "kind": "Created",
            "task": {
                "title": "t", "status": "InProgress", "priority": "High",
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
            }
        });
        let task = decode(&older.to_string()).unwrap().task.unwrap();
        assert_eq!(
            (task.description, task.due_at, task.completed_at),
            (None, None, None)
        );
    }

    #[test]
    fn unknown_versions_and_malformed_payloads_are_refused() {
        let (owner, id) = (Uuid::now_v7(), Uuid::now_v7());
        let future = json!({ "v": 2, "owner": owner, "changed": [id] });
        assert!(matches!(
            decode(&future.to_string()),
            Err(DecodeError::UnknownVersion(2))
        ));
        // What the release before versioning sent: the entity itself, with no version.
        let unversioned =
            json!({ "owner_id": owner, "task_id": id, "kind": "Deleted", "task": null });
        for payload in [
            unversioned.to_string(),
            "not json".into(),
            r#"{"v":"1"}"#.into(),
            r#"{"v":1}"#.into(),
        ] {
            assert!(
                matches!(decode(&payload), Err(DecodeError::Malformed(_))),
                "{payload}"
            );
        }
    }
}
