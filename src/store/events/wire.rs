//! The PostgreSQL NOTIFY payload of a task change: a small versioned type of its own, not
//! the entity, so replicas of two releases can share the channel during a rolling deploy.
//!
//! Within a version a field may only be added, and only as an optional one: an older
//! replica ignores a field it does not know, a newer one reads a missing field as `None`.
//! Any other change of shape is a new version, which a replica that does not know it
//! skips with a warning instead of misreading; so a release must read a new version
//! before any release writes it.
//!
//! Version 1 has exactly the fields of the payload the releases before versioning sent
//! (the task with its ids, in the entity's shape), plus `v`: those releases ignore `v` and
//! read version 1, and this one reads their unversioned payloads as version 1, so the
//! deploy that introduces versioning loses no event in either direction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Announced, TaskChangeKind};
use crate::domain::{TaskPriority, TaskStatus};
use crate::store::tasks::Task;

/// The version this release writes.
const VERSION: u64 = 1;
/// What a payload without `v` (from a release before versioning) counts as; it has
/// version 1's shape.
const UNVERSIONED: u64 = 0;
/// PostgreSQL refuses notification payloads of 8000 bytes or more.
const MAX_BYTES: usize = 7_900;

/// Version 1 of the payload.
#[derive(Debug, Serialize, Deserialize)]
struct Notice {
    #[serde(default)]
    v: u64,
    owner_id: Uuid,
    task_id: Uuid,
    kind: TaskChangeKind,
    /// Absent for a deletion and for a task too large to travel (the subscriber reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task: Option<Snapshot>,
}

/// The task as the write left it.
#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    id: Uuid,
    owner_id: Uuid,
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
    #[serde(default)]
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
            id: task.id,
            owner_id: task.owner_id,
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
    fn into_task(self) -> Task {
        Task {
            id: self.id,
            owner_id: self.owner_id,
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

/// The change a payload announces, if it is of a version this release reads.
pub(super) fn decode(payload: &str) -> Result<Announced, DecodeError> {
    let Version { v } = serde_json::from_str(payload)?;
    if v != VERSION && v != UNVERSIONED {
        return Err(DecodeError::UnknownVersion(v));
    }
    let notice: Notice = serde_json::from_str(payload)?;
    Ok(Announced {
        owner_id: notice.owner_id,
        task_id: notice.task_id,
        kind: notice.kind,
        task: notice.task.map(Snapshot::into_task),
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
                "id": id, "owner_id": owner, "title": "t", "description": null, "status": "Todo", "priority": "Low",
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
                "id": id, "owner_id": owner, "title": "t", "status": "InProgress", "priority": "High",
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
    fn payloads_of_the_release_before_versioning_are_read_and_can_read_ours() {
        let change = announced(TaskChangeKind::Updated, Some(task(Some("notes".into()))));
        let mut payload: serde_json::Value =
            serde_json::from_str(&encode(&change).unwrap()).unwrap();
        // What that release read: the task in the entity's shape, ids included.
        let previous = payload["task"].clone();
        for field in [
            "id",
            "owner_id",
            "title",
            "status",
            "priority",
            "created_at",
        ] {
            assert!(!previous[field].is_null(), "{field} in {previous}");
        }
        // What it sent: the same fields, without `v`.
        payload.as_object_mut().unwrap().remove("v");
        assert_eq!(decode(&payload.to_string()).unwrap(), change);
        let deleted = json!({
            "owner_id": change.owner_id, "task_id": change.task_id, "kind": "Deleted", "task": null
        });
        assert_eq!(
            decode(&deleted.to_string()).unwrap(),
            announced_deletion(&change)
        );
    }

    fn announced_deletion(of: &Announced) -> Announced {
        Announced {
            kind: TaskChangeKind::Deleted,
            task: None,
            ..of.clone()
        }
    }

    #[test]
    fn unknown_versions_and_malformed_payloads_are_refused() {
        let (owner, id) = (Uuid::now_v7(), Uuid::now_v7());
        let future = json!({ "v": 2, "owner": owner, "changed": [id] });
        assert!(matches!(
            decode(&future.to_string()),
            Err(DecodeError::UnknownVersion(2))
        ));
        for payload in [
            "not json".to_owned(),
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
