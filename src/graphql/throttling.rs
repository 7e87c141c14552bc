//! Rate limits checked as each root field starts, before its resolver runs, as the field's
//! [rule](super::rules) lists them: `register` and `refreshToken` per client IP,
//! `passwordStrength` per viewer (per client IP without one), and every other query and
//! every mutation per signed-in user. A refused field's resolver never runs: it fails with RATE_LIMITED and
//! `retryAfter`, and the usual GraphQL null rules apply.
//!
//! The check wraps the root types rather than being a schema extension: an extension's
//! field hook runs for every field of every response (a page of tasks has hundreds), and
//! with any extension installed async-graphql also looks up each field's type in the
//! registry; wrapped roots cost nothing below the root fields they limit.

use std::borrow::Cow;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::{ContainerType, resolve_container};
use async_graphql::{
    Context, ContextSelectionSet, ObjectType, OutputType, PathSegment, Positioned, ServerError,
    ServerResult, Value,
};

use super::rules::{Subject, limits};
use crate::audit;
use crate::auth::Authentication;
use crate::client::{ClientMeta, client_network};
use crate::error::AppError;
use crate::state::AppState;
use crate::store;

/// A root type whose fields count against their limits before they resolve. The schema
/// sees `T` itself: same name, same fields.
#[derive(Default)]
pub struct Throttled<T>(T);

impl<T: ObjectType> OutputType for Throttled<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        resolve_container(ctx, self).await
    }
}

impl<T: ObjectType> ContainerType for Throttled<T> {
    async fn resolve_field(&self, ctx: &Context<'_>) -> ServerResult<Option<Value>> {
        // `__typename` and introspection cost nothing and change nothing.
        if !ctx.item.node.name.node.starts_with("__") {
            check(ctx, &T::type_name()).await?;
        }
        self.0.resolve_field(ctx).await
    }

    async fn find_entity(&self, ctx: &Context<'_>, params: &Value) -> ServerResult<Option<Value>> {
        self.0.find_entity(ctx, params).await
    }
}

impl<T: ObjectType> ObjectType for Throttled<T> {}

/// Counts a root field against the limits it falls under.
async fn check(ctx: &Context<'_>, root: &str) -> ServerResult<()> {
    let field = &ctx.item.node;
    let user_id = match ctx.data_opt::<Authentication>() {
        Some(Authentication::Viewer(viewer)) => Some(viewer.user_id()),
        _ => None,
    };
    let ip = ctx
        .data_opt::<ClientMeta>()
        .and_then(|client| client.ip.as_deref());
    let by_ip = || client_network(ip.unwrap_or("unknown"));
    let limits = limits(root, &field.name.node)
        .iter()
        .filter_map(|&(limit, subject)| {
            let key = match (subject, user_id) {
                (Subject::Client, _) | (Subject::ViewerOrClient, None) => by_ip(),
                (Subject::ViewerOrClient, Some(id)) => format!("user:{id}"),
                (Subject::SignedIn, Some(id)) => id.to_string(),
                (Subject::SignedIn, None) => return None,
            };
            Some((limit, key))
        });
    // Only the SDL export and the schema's own tests build a schema without the state.
    let Some(state) = ctx.data_opt::<AppState>() else {
        return Ok(());
    };
    for (limit, subject) in limits {
        if let Err(wait) = state.throttle.hit(limit, &subject, store::now()).await {
            audit::throttled(limit.name(), ip, user_id, wait);
            let error: async_graphql::Error = AppError::RateLimited(wait).into();
            let mut error: ServerError = error.into_server_error(field.name.pos);
            error.path = vec![PathSegment::Field(field.response_key().node.to_string())];
            return Err(error);
        }
    }
    Ok(())
}
