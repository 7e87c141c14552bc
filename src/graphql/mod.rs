//! The GraphQL schema: one module per domain, merged in [`schema`].

mod admin;
mod email;
mod introspection;
pub mod limits;
mod paging;
mod rules;
mod scalars;
pub mod schema;
mod security;
mod sessions;
mod tasks;
mod throttling;
mod two_factor;
mod users;

use async_graphql::{Context, Data, ID, Request};
use uuid::Uuid;

pub use introspection::INTROSPECTION_DISABLED;
pub use schema::{TaskqlSchema, build_schema, sdl};

use crate::auth::{Authentication, Viewer};
use crate::client::ClientMeta;
use crate::error::AppError;
use crate::state::AppState;

/// Attaches what one request's resolvers need: who is asking, from where, and a fresh
/// user loader (its cache lives exactly as long as the request).
pub fn prepare_request(
    request: Request,
    state: &AppState,
    authentication: Authentication,
    client: ClientMeta,
) -> Request {
    request
        .data(authentication)
        .data(client)
        .data(users::UserLoader::caching(state.db.clone()))
}

/// The data of one subscription connection: who it acts for, from where, and a user loader.
pub fn connection_data(
    state: &AppState,
    authentication: Authentication,
    client: ClientMeta,
) -> Data {
    let mut data = Data::default();
    data.insert(authentication);
    data.insert(client);
    data.insert(users::UserLoader::caching(state.db.clone()));
    data
}

/// The application state every resolver reads. Installed by [`build_schema`].
fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

/// Where the request comes from; nothing is known over a subscription connection.
fn client<'a>(ctx: &Context<'a>) -> &'a ClientMeta {
    static UNKNOWN: ClientMeta = ClientMeta {
        user_agent: None,
        ip: None,
    };
    ctx.data_opt::<ClientMeta>().unwrap_or(&UNKNOWN)
}

/// The viewer the request guard decided, or UNAUTHENTICATED.
fn viewer<'a>(ctx: &Context<'a>) -> Result<&'a Viewer, AppError> {
    match ctx.data_opt::<Authentication>() {
        Some(Authentication::Viewer(viewer)) => Ok(viewer),
        Some(Authentication::Unavailable) => Err(AppError::Internal(anyhow::anyhow!(
            "the viewer could not be loaded"
        ))),
        _ => Err(AppError::Unauthenticated),
    }
}

/// Parses an `ID` argument naming a `what` (a task, a user); the error names the argument.
fn parse_id(id: &ID, argument: &str, what: &str) -> Result<Uuid, AppError> {
    Uuid::try_parse(id.as_str())
        .map_err(|_| AppError::bad_input(format!("`{argument}` must be a {what} ID (a UUID)")))
}
