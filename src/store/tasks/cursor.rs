//! Cursors: a position in one order, encoded as an opaque string for clients.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Utc};
use sea_orm::{ActiveEnum, Value};
use uuid::Uuid;

use super::Task;
use super::order::Sort;
use crate::domain::{OrderField, TaskPriority};

/// The value of one order key of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Key {
    Time(DateTime<Utc>),
    OptionalTime(Option<DateTime<Utc>>),
    Priority(TaskPriority),
    Text(String),
}

impl Key {
    fn of(task: &Task, field: OrderField) -> Self {
        match field {
            OrderField::CreatedAt => Key::Time(task.created_at),
            OrderField::UpdatedAt => Key::Time(task.updated_at),
            OrderField::DueAt => Key::OptionalTime(task.due_at),
            OrderField::Priority => Key::Priority(task.priority),
            OrderField::Title => Key::Text(task.title.clone()),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Key::Time(at) => at.timestamp_micros().into(),
            Key::OptionalTime(at) => at.map(|at| at.timestamp_micros()).into(),
            Key::Priority(priority) => i64::from(priority.to_value()).into(),
            Key::Text(text) => text.clone().into(),
        }
    }

    /// Years a task's times can fall in: what an RFC 3339 timestamp (years 0000 to 9999)
    /// can name once converted to UTC. A cursor key outside them was not issued here (and
    /// PostgreSQL cannot even hold years before 4713 BC).
    const YEARS: std::ops::RangeInclusive<i32> = -1..=10_000;

    fn from_json(field: OrderField, value: &serde_json::Value) -> Option<Self> {
        let time = |value: &serde_json::Value| {
            DateTime::from_timestamp_micros(value.as_i64()?)
                .filter(|at| Self::YEARS.contains(&at.year()))
        };
        Some(match field {
            OrderField::CreatedAt | OrderField::UpdatedAt => Key::Time(time(value)?),
            OrderField::DueAt if value.is_null() => Key::OptionalTime(None),
            OrderField::DueAt => Key::OptionalTime(Some(time(value)?)),
            OrderField::Priority => Key::Priority(
                TaskPriority::try_from_value(&i16::try_from(value.as_i64()?).ok()?).ok()?,
            ),
            // No title holds a NUL, and PostgreSQL cannot compare text with one.
            OrderField::Title => Key::Text(
                value
                    .as_str()
                    .filter(|text| !text.contains('\0'))?
                    .to_owned(),
            ),
        })
    }

    /// The bound value; `None` stands for SQL NULL.
    pub(super) fn value(&self) -> Option<Value> {
        match self {
            Key::Time(at) => Some((*at).into()),
            Key::OptionalTime(at) => at.map(Into::into),
            Key::Priority(priority) => Some((*priority).into()),
            Key::Text(text) => Some(text.clone().into()),
        }
    }
}

/// A position in one order, opaque to clients: the order keys of a task and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    keys: Vec<Key>,
    id: Uuid,
}

impl Cursor {
    const VERSION: u64 = 2;
    /// Longest cursor string accepted (a 200-character title fits comfortably).
    const MAX_LEN: usize = 4096;

    pub(super) fn of(task: &Task, sort: &Sort) -> Self {
        Self {
            keys: sort.keys().iter().map(|o| Key::of(task, o.field)).collect(),
            id: task.id,
        }
    }

    /// The opaque string handed to clients.
    pub fn encode(&self, sort: &Sort) -> String {
        let raw = serde_json::json!({
            "v": Self::VERSION,
            "s": sort.signature(),
            "k": self.keys.iter().map(Key::to_json).collect::<Vec<_>>(),
            "i": self.id.simple().to_string(),
        });
        URL_SAFE_NO_PAD.encode(raw.to_string())
    }

    /// `None` for anything this server did not produce for `sort`.
    pub fn decode(cursor: &str, sort: &Sort) -> Option<Self> {
        if cursor.len() > Self::MAX_LEN {
            return None;
        }
        let raw: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
        if raw["v"].as_u64()? != Self::VERSION || raw["s"].as_str()? != sort.signature() {
            return None;
        }
        let values = raw["k"].as_array()?;
        if values.len() != sort.keys().len() {
            return None;
        }
        let keys = sort
            .keys()
            .iter()
            .zip(values)
            .map(|(order, value)| Key::from_json(order.field, value))
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            keys,
            id: Uuid::try_parse(raw["i"].as_str()?).ok()?,
        })
    }

    /// The task's order keys, in the order's sequence.
    pub(super) fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The task's id, the last key of every order.
    pub(super) fn id(&self) -> Uuid {
        self.id
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::OrderDirection;
    use crate::store::tasks::SortKey;

    fn by(field: OrderField, direction: OrderDirection) -> Sort {
        Sort::parse(vec![SortKey { field, direction }]).unwrap()
    }

    #[test]
    fn cursors_round_trip_and_reject_foreign_strings() {
        let sort = Sort::parse(vec![
            SortKey {
                field: OrderField::DueAt,
                direction: OrderDirection::Asc,
            },
            SortKey {
                field: OrderField::Title,
                direction: OrderDirection::Desc,
            },
            SortKey {
                field: OrderField::Priority,
                direction: OrderDirection::Asc,
            },
        ])
        .unwrap();
        let cursor = Cursor {
            keys: vec![
                Key::OptionalTime(None),
                Key::Text("ünïcode \"quoted\" 🦀".into()),
                Key::Priority(TaskPriority::Urgent),
            ],
            id: Uuid::now_v7(),
        };
        assert_eq!(
            Cursor::decode(&cursor.encode(&sort), &sort),
            Some(cursor.clone())
        );
        let newest = Sort::newest_first();
        let dated = Cursor {
            keys: vec![Key::Time(
                Utc.timestamp_micros(1_780_000_000_123_456).unwrap(),
            )],
            id: Uuid::now_v7(),
        };
        assert_eq!(
            Cursor::decode(&dated.encode(&newest), &newest),
            Some(dated.clone())
        );
        // A cursor serves only the order it was made for.
        assert_eq!(Cursor::decode(&cursor.encode(&sort), &newest), None);
        let oldest = by(OrderField::CreatedAt, OrderDirection::Asc);
        assert_eq!(Cursor::decode(&dated.encode(&newest), &oldest), None);
        for bad in [
            "",
            "abc",
            "!!!!",
            &URL_SAFE_NO_PAD.encode("{}"),
            &URL_SAFE_NO_PAD.encode(r#"{"v":2,"s":"CreatedAt.Desc","k":["x"],"i":"00"}"#),
            &URL_SAFE_NO_PAD.encode(format!(
                r#"{{"v":2,"s":"CreatedAt.Desc","k":[{}],"i":"{}"}}"#,
                i64::MAX,
                Uuid::nil().simple()
            )),
            &URL_SAFE_NO_PAD.encode(format!(
                r#"{{"v":2,"s":"CreatedAt.Desc","k":[1,2],"i":"{}"}}"#,
                Uuid::nil().simple()
            )),
            &"A".repeat(10_000),
        ] {
            assert_eq!(Cursor::decode(bad, &newest), None, "{bad}");
        }
        let priority = by(OrderField::Priority, OrderDirection::Asc);
        let out_of_range = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"v":2,"s":"Priority.Asc","k":[9],"i":"{}"}}"#,
            Uuid::nil().simple()
        ));
        assert_eq!(Cursor::decode(&out_of_range, &priority), None);
    }

    #[test]
    fn cursor_keys_no_task_can_hold_are_refused() {
        let crafted = |sort: &str, key: serde_json::Value| {
            URL_SAFE_NO_PAD.encode(
                serde_json::json!({ "v": 2, "s": sort, "k": [key], "i": Uuid::nil().simple().to_string() })
                    .to_string(),
            )
        };
        let newest = Sort::newest_first();
        let by_due = by(OrderField::DueAt, OrderDirection::Asc);
        let by_title = by(OrderField::Title, OrderDirection::Asc);
        let year = |year: i32| {
            Utc.with_ymd_and_hms(year, 6, 1, 0, 0, 0)
                .unwrap()
                .timestamp_micros()
        };
        for micros in [year(-2), year(10_001), -8_000_000_000_000_000_000] {
            assert_eq!(
                Cursor::decode(&crafted("CreatedAt.Desc", micros.into()), &newest),
                None
            );
            assert_eq!(
                Cursor::decode(&crafted("DueAt.Asc", micros.into()), &by_due),
                None
            );
        }
        for micros in [year(-1), year(0), year(9999), year(10_000)] {
            assert!(Cursor::decode(&crafted("DueAt.Asc", micros.into()), &by_due).is_some());
        }
        assert_eq!(
            Cursor::decode(&crafted("Title.Asc", "a\0b".into()), &by_title),
            None
        );
        assert!(Cursor::decode(&crafted("Title.Asc", "a b".into()), &by_title).is_some());
    }
}
