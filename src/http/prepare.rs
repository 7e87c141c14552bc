//! Request preparation, shared by HTTP and the subscription socket: before anything runs,
//! an operation has a document within the [limits](crate::graphql::limits) that parses
//! (its syntax errors reported without the parser's internals), or a known
//! persisted-query hash.
//!
//! Apollo's automatic persisted queries are served here in full, as async-graphql's
//! extension would serve them, rather than by that extension: with any extension on the
//! schema, async-graphql runs a hook around every field of every response.

use async_graphql::extensions::apollo_persisted_queries::{CacheStorage, LruCacheStorage};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerError};
use axum::http::StatusCode;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::refusal::Refusal;
use crate::error::{ErrorCode, request_error};
use crate::graphql::limits::{check_document, check_source};

/// Largest document kept as a persisted query: the cache holds parsed documents, which
/// are many times larger than their source.
const MAX_PERSISTED_QUERY_BYTES: usize = 8 * 1024;

/// Why `request` may not run: it asks to keep a document larger than the persisted-query
/// cache takes. Checked over HTTP and WebSocket alike, since both fill the one cache.
fn persisted_too_large(request: &Request) -> Option<String> {
    (request.extensions.contains_key("persistedQuery")
        && request.query.len() > MAX_PERSISTED_QUERY_BYTES)
        .then(|| {
            format!(
                "Persisted documents are limited to {MAX_PERSISTED_QUERY_BYTES} bytes; send larger ones without `persistedQuery`."
            )
        })
}

/// One checked operation: run it, or answer without running anything.
pub(super) enum Prepared {
    /// Checked: run it.
    Run {
        request: Box<Request>,
        /// Authentication mutations in its document (0 or 1).
        auth_mutations: usize,
    },
    /// Answered without running anything.
    Answer(Box<Response>),
}

impl Prepared {
    fn answer(error: ServerError) -> Self {
        Prepared::Answer(Box::new(Response::from_errors(vec![error])))
    }
}

/// Checks one operation before anything runs: a document is present (or a known
/// persisted-query hash), it stays within the [limits](crate::graphql::limits), it parses,
/// and GET carries queries only.
pub(super) async fn prepare(
    persisted: &LruCacheStorage,
    mut request: Request,
    queries_only: bool,
) -> Result<Prepared, Refusal> {
    if request.query.trim().is_empty() {
        let hash = match request.extensions.get("persistedQuery") {
            Some(async_graphql::Value::Object(persisted)) => match persisted.get("sha256Hash") {
                Some(async_graphql::Value::String(hash)) => Some(hash.clone()),
                _ => None,
            },
            _ => None,
        };
        match hash {
            None => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "The request carries no GraphQL document: put one in `query`.",
                ));
            }
            Some(hash) => match persisted.get(hash).await {
                Some(document) => request.set_parsed_query(document),
                // Answered here rather than by the extension, so that the document that
                // runs is always one this function has checked (GET: queries only).
                None => {
                    return Ok(Prepared::answer(request_error(
                        "PersistedQueryNotFound",
                        ErrorCode::BadUserInput,
                    )));
                }
            },
        }
    } else if let Some(message) = persisted_too_large(&request) {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, message));
    }
    // A cached persisted document was checked when it was first sent; any other is
    // checked here, before the parser sees it.
    if !request.query.trim().is_empty()
        && let Err(error) = check_source(&request.query)
    {
        return Ok(Prepared::answer(error));
    }
    let name = request.operation_name.clone();
    let (operations, summary) = match request.parsed_query() {
        Ok(document) => (
            candidate_operations(document, name.as_deref()),
            check_document(document),
        ),
        Err(err) => {
            // The parser's own message shows its internals; keep only where it failed.
            let mut error = request_error(
                "Syntax error: the document is not valid GraphQL.",
                ErrorCode::BadUserInput,
            );
            error.locations = err.locations;
            return Ok(Prepared::answer(error));
        }
    };
    let summary = match summary {
        Ok(summary) => summary,
        Err(error) => return Ok(Prepared::answer(error)),
    };
    if queries_only && operations.iter().any(|ty| *ty != OperationType::Query) {
        return Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Only queries may be sent with GET; send mutations with POST.",
        ));
    }
    if let Err(error) = persist(persisted, &mut request).await {
        return Ok(Prepared::answer(error));
    }
    Ok(Prepared::Run {
        request: Box::new(request),
        auth_mutations: summary.auth_mutations,
    })
}

/// The `persistedQuery` request extension of Apollo's automatic persisted queries.
#[derive(Deserialize)]
struct PersistedQuery {
    version: i32,
    #[serde(rename = "sha256Hash")]
    sha256_hash: String,
}

/// Applies a checked request's `persistedQuery` extension with the rules and messages of
/// async-graphql's `ApolloPersistedQueries`: version 1 only, and a document sent with its
/// hash must match it and is then kept under it. A document sent by hash alone was looked
/// up by [`prepare`] already.
async fn persist(persisted: &LruCacheStorage, request: &mut Request) -> Result<(), ServerError> {
    let Some(value) = request.extensions.remove("persistedQuery") else {
        return Ok(());
    };
    let refused = |message: String| request_error(message, ErrorCode::BadUserInput);
    let persisted_query: PersistedQuery = async_graphql::from_value(value)
        .map_err(|_| refused("Invalid \"PersistedQuery\" extension configuration.".to_owned()))?;
    if persisted_query.version != 1 {
        return Err(refused(format!(
            "Only the \"PersistedQuery\" extension of version \"1\" is supported, and the current version is \"{}\".",
            persisted_query.version
        )));
    }
    if request.query.is_empty() {
        return Ok(());
    }
    let hash = format!("{:x}", Sha256::digest(request.query.as_bytes()));
    if persisted_query.sha256_hash != hash {
        return Err(refused("provided sha does not match query".to_owned()));
    }
    if let Ok(document) = request.parsed_query() {
        persisted.set(hash, document.clone()).await;
    }
    Ok(())
}

/// The types of the operations `document` may run with the operation name `name`: the
/// selected one, none when the name matches none (execution then reports it), and every
/// operation when several are present and none is named. HTTP (queries only over GET) and
/// the socket (subscriptions only) judge a document by these.
pub(super) fn candidate_operations(
    document: &ExecutableDocument,
    name: Option<&str>,
) -> Vec<OperationType> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => vec![op.node.ty],
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get(name).map(|op| op.node.ty).into_iter().collect()
        }
        (DocumentOperations::Multiple(ops), None) => ops.values().map(|op| op.node.ty).collect(),
    }
}
