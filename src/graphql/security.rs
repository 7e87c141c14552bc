//! Each viewer's own security history: `securityEvents`.

use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject};
use uuid::Uuid;

use super::paging::{self, PageInfo, page_size};
use super::scalars::DateTime;
use super::users::{CachingUserLoader, User};
use super::{state, viewer};
use crate::domain::{Role, SecurityEventKind};
use crate::error::AppError;
use crate::graphql::schema::STATEMENT_COST;
use crate::store::security_events::{self, EventCursor};

/// Something that happened to an account: a login, a change of password, a second factor
/// turned on or off, and so on. Never carries a password, token or code.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct SecurityEvent {
    /// The event's id.
    id: ID,
    /// What happened.
    kind: SecurityEventKind,
    /// On `ROLE_CHANGED`, the role the account was given; null for every other kind.
    role: Option<Role>,
    /// When it happened.
    at: DateTime,
    /// The client's IP address, when the event came from a request; in the owner's own
    /// `securityEvents`, null for what an administrator did.
    ip: Option<String>,
    /// The client's User-Agent header, when it sent one; null there too for what an
    /// administrator did.
    user_agent: Option<String>,
    /// The session it happened in or to, when there is one.
    session_id: Option<ID>,
    #[graphql(skip)]
    user_id: Uuid,
    #[graphql(skip)]
    actor_id: Option<Uuid>,
}

#[ComplexObject]
impl SecurityEvent {
    /// Whose account it concerns; null once that account is deleted.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        load_user(ctx, self.user_id).await
    }

    /// Who acted, when not the account's owner (an operator); null otherwise.
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>, AppError> {
        match self.actor_id {
            Some(actor) => load_user(ctx, actor).await,
            None => Ok(None),
        }
    }
}

async fn load_user(ctx: &Context<'_>, id: Uuid) -> Result<Option<User>, AppError> {
    Ok(ctx
        .data_unchecked::<CachingUserLoader>()
        .load_one(id)
        .await
        .map_err(|err| AppError::Internal(anyhow::anyhow!("cannot load a user: {err}")))?
        .map(User::from))
}

impl From<security_events::SecurityEvent> for SecurityEvent {
    fn from(event: security_events::SecurityEvent) -> Self {
        Self {
            id: ID(event.id.to_string()),
            kind: event.kind,
            role: event.role,
            at: event.at.into(),
            ip: event.ip,
            user_agent: event.user_agent,
            session_id: event.session_id.map(|id| ID(id.to_string())),
            user_id: event.user_id,
            actor_id: event.actor_id,
        }
    }
}

/// One event in a connection, with the cursor that points at it.
#[derive(SimpleObject)]
pub struct SecurityEventEdge {
    /// Pass as `after` to continue after this event.
    cursor: String,
    /// The event.
    node: SecurityEvent,
}

/// A page of security events, newest first.
#[derive(SimpleObject)]
pub struct SecurityEventConnection {
    /// The events of this page with their cursors.
    edges: Vec<SecurityEventEdge>,
    /// The events of this page, without cursors.
    nodes: Vec<SecurityEvent>,
    /// Where this page sits.
    page_info: PageInfo,
}

impl SecurityEventConnection {
    pub(super) fn new(page: security_events::EventPage, after: bool) -> Self {
        let (edges, nodes, page_info) = paging::forward_page(
            page.events,
            page.has_next_page,
            after,
            |event| EventCursor::of(event).encode(),
            |cursor, node| SecurityEventEdge { cursor, node },
        );
        Self {
            edges,
            nodes,
            page_info,
        }
    }
}

/// Security history queries.
#[derive(Default)]
pub struct SecurityQuery;

#[Object]
impl SecurityQuery {
    /// The viewer's own security history, newest first (GraphQL Cursor Connections).
    /// Events are kept for `SECURITY_EVENT_RETENTION_DAYS` (90 by default).
    #[graphql(complexity = "page_size(first) as usize * child_complexity + STATEMENT_COST")]
    async fn security_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first events after `after`: 20 by default, at most 100.")]
        first: Option<i32>,
        #[graphql(desc = "An `endCursor` or edge cursor of an earlier page.")] after: Option<
            String,
        >,
    ) -> Result<SecurityEventConnection, AppError> {
        let viewer = viewer(ctx)?;
        let size = paging::first(first)?;
        let cursor = event_cursor(after.as_deref())?;
        let page =
            security_events::page_for_owner(&state(ctx).db, viewer.user_id(), size, cursor).await?;
        Ok(SecurityEventConnection::new(page, cursor.is_some()))
    }
}

/// The `after` argument of a list of events; BAD_USER_INPUT for anything but a cursor of one.
pub(super) fn event_cursor(after: Option<&str>) -> Result<Option<EventCursor>, AppError> {
    after
        .map(|raw| {
            EventCursor::decode(raw)
                .ok_or_else(|| AppError::bad_input("`after` is not a cursor of this list"))
        })
        .transpose()
}
