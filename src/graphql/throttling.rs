//! Rate limits checked as each root field starts, before its resolver runs, as the field's
//! [rule](super::rules) lists them: `register` and `refreshToken` per client IP,
//! `passwordStrength` per viewer (per client IP without one), and every other query and
//! every mutation per signed-in user. A refused field's resolver never runs: it fails with RATE_LIMITED and
//! `retryAfter`, and the usual GraphQL null rules apply.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{PathSegment, ServerError, ServerResult, Value};

use super::rules::{Subject, limits};
use crate::audit;
use crate::auth::Authentication;
use crate::client::{ClientMeta, client_network};
use crate::error::AppError;
use crate::state::AppState;
use crate::store;

/// Installs the rate limits on the schema.
pub struct Throttling;

impl ExtensionFactory for Throttling {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Throttling)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Throttling {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // `__typename` and introspection cost nothing and change nothing.
        if info.path_node.parent.is_none() && !info.name.starts_with("__") {
            check(ctx, &info).await?;
        }
        next.run(ctx, info).await
    }
}

/// Counts a root field against the limits it falls under.
async fn check(ctx: &ExtensionContext<'_>, info: &ResolveInfo<'_>) -> ServerResult<()> {
    let user_id = match ctx.data_opt::<Authentication>() {
        Some(Authentication::Viewer(viewer)) => Some(viewer.user_id()),
        _ => None,
    };
    let ip = ctx
        .data_opt::<ClientMeta>()
        .and_then(|client| client.ip.as_deref());
    let by_ip = || client_network(ip.unwrap_or("unknown"));
    let limits = limits(info.parent_type, info.name)
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
    let state = ctx.data_unchecked::<AppState>();
    for (limit, subject) in limits {
        if let Err(wait) = state.throttle.hit(limit, &subject, store::now()).await {
            audit::throttled(limit.name(), ip, user_id, wait);
            let error: async_graphql::Error = AppError::RateLimited(wait).into();
            let mut error: ServerError = error.into_server_error(info.field.name.pos);
            error.path = vec![PathSegment::Field(
                info.alias.unwrap_or(info.name).to_owned(),
            )];
            return Err(error);
        }
    }
    Ok(())
}
