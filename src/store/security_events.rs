//! Each account's security history: one row per event, newest first, read a page at a
//! time by the account's owner or by administrators, and deleted once older than the
//! retention period.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::entities::security_event::{self, Entity as SecurityEvents};
use crate::client::ClientMeta;
use crate::domain::{Role, SecurityEventKind};
use crate::error::AppError;

/// Longest user agent kept; the rest is cut.
const MAX_USER_AGENT_CHARS: usize = 512;

plain_from_model! {
    /// One event of an account's history.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SecurityEvent from security_event::Model {
        /// The event's id.
        pub id: Uuid,
        /// Whose account it concerns.
        pub user_id: Uuid,
        /// Who acted, when not the account's owner.
        pub actor_id: Option<Uuid>,
        /// The session it happened in or to, when there is one.
        pub session_id: Option<Uuid>,
        /// What happened.
        pub kind: SecurityEventKind,
        /// On a change of role, the role the account was given.
        pub role: Option<Role>,
        /// The client's address.
        pub ip: Option<String>,
        /// The client's user agent.
        pub user_agent: Option<String>,
        /// When.
        pub at: DateTime<Utc>,
    }
}

/// What [`record`] stores.
pub struct NewEvent<'a> {
    pub user_id: Uuid,
    pub actor_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub kind: SecurityEventKind,
    /// On a change of role, the role the account was given.
    pub role: Option<Role>,
    pub client: &'a ClientMeta,
    pub at: DateTime<Utc>,
}

/// Stores one event.
pub async fn record(db: &impl ConnectionTrait, event: NewEvent<'_>) -> Result<(), AppError> {
    let user_agent = event
        .client
        .user_agent
        .as_deref()
        .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect());
    security_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(event.user_id),
        actor_id: Set(event.actor_id),
        session_id: Set(event.session_id),
        kind: Set(event.kind),
        role: Set(event.role),
        ip: Set(event.client.ip.clone()),
        user_agent: Set(user_agent),
        at: Set(event.at),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Where a page of events continues: after the event with this time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCursor {
    at: DateTime<Utc>,
    id: Uuid,
}

impl EventCursor {
    /// The opaque form handed to clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.at.timestamp_micros(), self.id))
    }

    /// Reads a cursor [`encode`](Self::encode) made; `None` for anything else.
    pub fn decode(raw: &str) -> Option<Self> {
        if raw.len() > 128 {
            return None;
        }
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
        let (micros, id) = text.split_once(':')?;
        Some(Self {
            at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: Uuid::try_parse(id).ok()?,
        })
    }

    /// The cursor of `event`.
    pub fn of(event: &SecurityEvent) -> Self {
        Self {
            at: event.at,
            id: event.id,
        }
    }
}

/// A page of events, newest first.
pub struct EventPage {
    pub events: Vec<SecurityEvent>,
    pub has_next_page: bool,
}

/// Which events a page holds. Every field given narrows it.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this account's events.
    pub user_id: Option<Uuid>,
    /// Only events of these kinds (an empty list matches nothing).
    pub kinds: Option<Vec<SecurityEventKind>>,
}

impl EventFilter {
    /// One account's whole history.
    fn of_user(user_id: Uuid) -> Self {
        Self {
            user_id: Some(user_id),
            kinds: None,
        }
    }
}

/// Up to `size` of the events `filter` keeps after `after`, newest first, of every
/// account: what administrators read, through [`AdminStore`](super::admin::AdminStore)
/// alone.
pub(super) async fn page(
    db: &DatabaseConnection,
    filter: &EventFilter,
    size: u64,
    after: Option<EventCursor>,
) -> Result<EventPage, AppError> {
    let mut query = SecurityEvents::find();
    if let Some(user_id) = filter.user_id {
        query = query.filter(security_event::Column::UserId.eq(user_id));
    }
    if let Some(kinds) = &filter.kinds {
        query = query.filter(security_event::Column::Kind.is_in(kinds.iter().copied()));
    }
    if let Some(after) = after {
        query = query.filter(
            Condition::any()
                .add(security_event::Column::At.lt(after.at))
                .add(
                    Condition::all()
                        .add(security_event::Column::At.eq(after.at))
                        .add(security_event::Column::Id.lt(after.id)),
                ),
        );
    }
    let mut events: Vec<SecurityEvent> = query
        .order_by_desc(security_event::Column::At)
        .order_by_desc(security_event::Column::Id)
        .limit(size + 1)
        .all(db)
        .await?
        .into_iter()
        .map(SecurityEvent::from)
        .collect();
    let has_next_page = events.len() as u64 > size;
    events.truncate(usize::try_from(size).unwrap_or(usize::MAX));
    Ok(EventPage {
        events,
        has_next_page,
    })
}

/// Up to `size` of account `user_id`'s events after `after`, newest first, as its owner
/// reads them: an administrator's address and user agent stay in the audit log, and the
/// owner sees who acted but not from where.
pub async fn page_for_owner(
    db: &DatabaseConnection,
    user_id: Uuid,
    size: u64,
    after: Option<EventCursor>,
) -> Result<EventPage, AppError> {
    let mut page = page(db, &EventFilter::of_user(user_id), size, after).await?;
    for event in &mut page.events {
        if event.actor_id.is_some() {
            event.ip = None;
            event.user_agent = None;
        }
    }
    Ok(page)
}

/// Deletes the events older than `before`; how many went.
pub async fn purge(db: &DatabaseConnection, before: DateTime<Utc>) -> Result<u64, AppError> {
    let result = SecurityEvents::delete_many()
        .filter(security_event::Column::At.lt(before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = EventCursor {
            at: crate::store::now(),
            id: Uuid::now_v7(),
        };
        assert_eq!(EventCursor::decode(&cursor.encode()), Some(cursor));
        for junk in [
            "",
            "x",
            "!!!!",
            &URL_SAFE_NO_PAD.encode("1:nope"),
            &"a".repeat(10_000),
        ] {
            assert_eq!(EventCursor::decode(junk), None, "{junk}");
        }
    }
}
