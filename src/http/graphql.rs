//! The `/graphql` endpoint. The bearer token becomes an [`Authentication`] here, once;
//! resolvers only read it from the request data.
//!
//! Deliberately stricter than a generic GraphQL handler: one operation per request unless
//! bounded batching is enabled, GET for queries only, POST only with a JSON content type
//! (so a browser cannot send one without a CORS preflight), bodies capped. Answers
//! `application/graphql-response+json` to clients that accept it (GraphQL over HTTP) and
//! `application/json` to the others; serves Apollo's automatic persisted queries.

use std::net::SocketAddr;
use std::time::Duration;

use async_graphql::extensions::apollo_persisted_queries::CacheStorage;
use async_graphql::http::{GraphiQLSource, parse_query_string};
use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse};
use http_body_util::LengthLimitError;

use super::HttpState;
use crate::auth::{Authentication, authenticate};
use crate::error::{ErrorCode, deadline_exceeded, request_error, to_wire};
use crate::graphql::limits::{auth_message, check_document, check_source};
use crate::graphql::prepare_request;
use crate::store::sessions::ClientMeta;

type HttpResponse = axum::response::Response;

/// POST `/graphql`: one operation as a JSON object, or a bounded batch as a JSON array
/// when batching is enabled.
pub async fn post_graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> HttpResponse {
    let media = MediaType::negotiate(&headers);
    if !is_json(&headers) {
        return refuse(
            media,
            Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send the request with Content-Type: application/json.",
            ),
        );
    }
    let body = match read_body(&state, body).await {
        Ok(body) => body,
        Err(refusal) => return refuse(media, refusal),
    };
    const SHAPE: &str = "The request body must be a JSON object with a `query` string and optional `variables`, `operationName` and `extensions`.";
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        if state.max_batch == 0 {
            return refuse(
                media,
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "Batched requests are not enabled: send one operation per request.",
                ),
            );
        }
        let Ok(requests) = serde_json::from_slice::<Vec<Request>>(&body) else {
            return refuse(
                media,
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    format!("A batch is a JSON array of operations. {SHAPE}"),
                ),
            );
        };
        if requests.is_empty() || requests.len() > state.max_batch {
            let message = format!("A batch holds 1 to {} operations.", state.max_batch);
            return refuse(media, Refusal::new(StatusCode::BAD_REQUEST, message));
        }
        return execute_batch(&state, peer, &headers, media, requests).await;
    }
    let Ok(request) = serde_json::from_slice::<Request>(&body) else {
        return refuse(media, Refusal::new(StatusCode::BAD_REQUEST, SHAPE));
    };
    execute(&state, peer, &headers, media, request, false).await
}

/// The whole body, read within the request deadline and the size cap, so a client that
/// sends slowly or too much holds nothing for long.
async fn read_body(state: &HttpState, body: Body) -> Result<Bytes, Refusal> {
    let read = axum::body::to_bytes(body, state.max_body_bytes);
    match tokio::time::timeout(state.request_timeout, read).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => Err(if error.into_inner().is::<LengthLimitError>() {
            let message = format!(
                "The request body is larger than {} bytes.",
                state.max_body_bytes
            );
            Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, message)
        } else {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "The request body could not be read.",
            )
        }),
        Err(_) => {
            let message = format!(
                "The request body did not arrive within {} seconds.",
                state.request_timeout.as_secs_f64()
            );
            Err(Refusal::new(StatusCode::REQUEST_TIMEOUT, message))
        }
    }
}

/// GET `/graphql`: a query in the URL, or GraphiQL for a browser.
pub async fn get_graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> HttpResponse {
    let media = MediaType::negotiate(&headers);
    let query = query.unwrap_or_default();
    if query.is_empty() && state.graphiql {
        return Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response();
    }
    let Ok(request) = parse_query_string(&query) else {
        return refuse(
            media,
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "Pass the operation as the `query` URL parameter, with optional `variables` (JSON) and `operationName`.",
            ),
        );
    };
    execute(&state, peer, &headers, media, request, true).await
}

/// The response format, from the request's `Accept` (GraphQL over HTTP): the spec's
/// `application/graphql-response+json` when the client accepts it, else `application/json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    GraphQLResponse,
    Json,
}

impl MediaType {
    const GRAPHQL_RESPONSE: &'static str = "application/graphql-response+json";

    fn negotiate(headers: &HeaderMap) -> Self {
        let accepts = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|range| {
                let mut parts = range.split(';').map(str::trim);
                let accepted = parts
                    .next()
                    .is_some_and(|mime| mime.eq_ignore_ascii_case(Self::GRAPHQL_RESPONSE));
                let refused = parts.any(|param| {
                    param
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                accepted && !refused
            });
        if accepts {
            Self::GraphQLResponse
        } else {
            Self::Json
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::GraphQLResponse => Self::GRAPHQL_RESPONSE,
            Self::Json => "application/json",
        }
    }

    /// With `application/graphql-response+json`, a request error (the document did not
    /// parse or validate, so nothing ran and no error has a path) is a 400; a field error is
    /// a 200 like any executed operation. With `application/json` everything is a 200.
    fn status(self, response: &Response) -> StatusCode {
        if self == Self::GraphQLResponse
            && response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|error| error.path.is_empty())
        {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        }
    }
}

/// A request refused before any operation ran.
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// Largest document kept as a persisted query: the cache holds parsed documents, which
/// are many times larger than their source.
const MAX_PERSISTED_QUERY_BYTES: usize = 8 * 1024;

/// Why `request` may not run: it asks to keep a document larger than the persisted-query
/// cache takes. Checked over HTTP and WebSocket alike, since both fill the one cache.
pub(super) fn persisted_too_large(request: &Request) -> Option<String> {
    (request.extensions.contains_key("persistedQuery")
        && request.query.len() > MAX_PERSISTED_QUERY_BYTES)
        .then(|| {
            format!(
                "Persisted documents are limited to {MAX_PERSISTED_QUERY_BYTES} bytes; send larger ones without `persistedQuery`."
            )
        })
}

/// One checked operation: run it, or answer without running anything.
enum Prepared {
    Run {
        request: Box<Request>,
        /// Authentication mutations in its document (0 or 1).
        auth_mutations: usize,
    },
    Answer(Box<Response>),
}

impl Prepared {
    fn answer(error: async_graphql::ServerError) -> Self {
        Prepared::Answer(Box::new(Response::from_errors(vec![error])))
    }
}

/// Checks one operation before anything runs: a document is present (or a known
/// persisted-query hash), it stays within the [limits](crate::graphql::limits), it parses,
/// and GET carries queries only.
async fn prepare(
    state: &HttpState,
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
            Some(hash) => match state.persisted.get(hash).await {
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
    let (operation, summary) = match request.parsed_query() {
        Ok(document) => (
            selected_operation(document, name.as_deref()),
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
    if queries_only && operation.is_some_and(|ty| ty != OperationType::Query) {
        return Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Only queries may be sent with GET; send mutations with POST.",
        ));
    }
    Ok(Prepared::Run {
        request: Box::new(request),
        auth_mutations: summary.auth_mutations,
    })
}

/// Reads the `Authorization` header once per HTTP request.
async fn authentication(state: &HttpState, headers: &HeaderMap) -> Authentication {
    let authorization = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|value| value.to_str().ok())
        .collect::<Vec<_>>();
    match authorization.as_slice() {
        [] => Authentication::Anonymous,
        [Some(value)] => authenticate(&state.app, Some(value)).await,
        _ => Authentication::Invalid,
    }
}

/// Where the request comes from, as sessions record it and throttles count it.
pub(super) fn client_meta(state: &HttpState, headers: &HeaderMap, peer: SocketAddr) -> ClientMeta {
    ClientMeta {
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| {
                agent
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(256)
                    .collect()
            }),
        ip: Some(
            state
                .trusted_proxies
                .client_ip(peer.ip(), headers)
                .to_string(),
        ),
    }
}

async fn run(
    state: &HttpState,
    prepared: Prepared,
    authentication: Authentication,
    client: ClientMeta,
) -> Response {
    match prepared {
        Prepared::Answer(response) => *response,
        Prepared::Run { request, .. } => {
            let request = prepare_request(*request, &state.app, authentication, client);
            to_wire(state.schema.execute(request).await)
        }
    }
}

async fn execute(
    state: &HttpState,
    peer: SocketAddr,
    headers: &HeaderMap,
    media: MediaType,
    request: Request,
    queries_only: bool,
) -> HttpResponse {
    let prepared = match prepare(state, request, queries_only).await {
        Ok(prepared) => prepared,
        Err(refusal) => return refuse(media, refusal),
    };
    let work = async {
        let authentication = authentication(state, headers).await;
        let invalid_token = authentication.is_invalid();
        let client = client_meta(state, headers, peer);
        let response = run(state, prepared, authentication, client).await;
        (response, invalid_token)
    };
    match tokio::time::timeout(state.request_timeout, work).await {
        Ok((response, invalid_token)) => {
            let http = match refused_for(&response) {
                Some(wait) => {
                    too_many_requests(json(media, StatusCode::TOO_MANY_REQUESTS, &response), wait)
                }
                None => json(media, media.status(&response), &response),
            };
            with_token_hint(http, invalid_token)
        }
        Err(_) => {
            log_deadline(state.request_timeout);
            let response = past_deadline(state.request_timeout);
            json(media, StatusCode::SERVICE_UNAVAILABLE, &response)
        }
    }
}

/// The answer for an operation cancelled at the request's deadline, or not started
/// because of it.
fn past_deadline(timeout: Duration) -> Response {
    Response::from_errors(vec![deadline_exceeded(timeout)])
}

/// Runs a batch in order, authenticated once. Every operation is checked before any runs,
/// and the batch as a whole holds at most one authentication mutation. At the deadline the
/// running operation is cancelled and those after it are not started; the answer is a 503
/// holding the finished operations' responses and a deadline error for each of the others.
async fn execute_batch(
    state: &HttpState,
    peer: SocketAddr,
    headers: &HeaderMap,
    media: MediaType,
    requests: Vec<Request>,
) -> HttpResponse {
    let deadline = tokio::time::Instant::now() + state.request_timeout;
    let mut prepared = Vec::with_capacity(requests.len());
    for request in requests {
        match prepare(state, request, false).await {
            Ok(item) => prepared.push(item),
            Err(refusal) => return refuse(media, refusal),
        }
    }
    let auth_mutations: usize = prepared
        .iter()
        .map(|item| match item {
            Prepared::Run { auth_mutations, .. } => *auth_mutations,
            Prepared::Answer(_) => 0,
        })
        .sum();
    if auth_mutations > 1 {
        let message = auth_message("batched request");
        return refuse(media, Refusal::new(StatusCode::BAD_REQUEST, message));
    }
    let Ok(authentication) =
        tokio::time::timeout_at(deadline, authentication(state, headers)).await
    else {
        log_deadline(state.request_timeout);
        let responses: Vec<_> = prepared
            .iter()
            .map(|_| past_deadline(state.request_timeout))
            .collect();
        return json(media, StatusCode::SERVICE_UNAVAILABLE, &responses);
    };
    let invalid_token = authentication.is_invalid();
    let mut responses = Vec::with_capacity(prepared.len());
    let mut late = false;
    for item in prepared {
        if !late {
            let client = client_meta(state, headers, peer);
            let operation = run(state, item, authentication.clone(), client);
            match tokio::time::timeout_at(deadline, operation).await {
                Ok(response) => {
                    responses.push(response);
                    continue;
                }
                Err(_) => {
                    log_deadline(state.request_timeout);
                    late = true;
                }
            }
        }
        responses.push(past_deadline(state.request_timeout));
    }
    let refused: Option<Vec<u64>> = responses.iter().map(refused_for).collect();
    let http = if late {
        json(media, StatusCode::SERVICE_UNAVAILABLE, &responses)
    } else if let Some(wait) = refused.and_then(|waits| waits.into_iter().max()) {
        too_many_requests(json(media, StatusCode::TOO_MANY_REQUESTS, &responses), wait)
    } else {
        json(media, StatusCode::OK, &responses)
    };
    with_token_hint(http, invalid_token)
}

fn log_deadline(timeout: Duration) {
    tracing::warn!(
        timeout_seconds = timeout.as_secs_f64(),
        "a request passed its deadline and was cancelled"
    );
}

/// The seconds to wait when throttling refused the whole response: it has no data and
/// every error is RATE_LIMITED. A partial result is not a refusal.
fn refused_for(response: &Response) -> Option<u64> {
    if response.data != async_graphql::Value::Null || response.errors.is_empty() {
        return None;
    }
    let waits = response.errors.iter().map(|error| {
        let extensions = error.extensions.as_ref()?;
        let limited = matches!(
            extensions.get("code"),
            Some(async_graphql::Value::String(code)) if code == "RATE_LIMITED"
        );
        match extensions.get("retryAfter") {
            Some(async_graphql::Value::Number(wait)) if limited => wait.as_u64(),
            _ => None,
        }
    });
    waits.collect::<Option<Vec<u64>>>()?.into_iter().max()
}

/// 429 with `Retry-After` in whole seconds (RFC 9110), besides the GraphQL body.
fn too_many_requests(mut http: HttpResponse, wait: u64) -> HttpResponse {
    http.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
    http
}

/// Tells clients that presented an invalid token to refresh it (RFC 6750).
fn with_token_hint(mut http: HttpResponse, invalid_token: bool) -> HttpResponse {
    if invalid_token {
        http.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer error="invalid_token""#),
        );
    }
    http
}

/// The type of the operation the request selects; `None` when the name matches none
/// (execution then reports it).
fn selected_operation(
    document: &async_graphql::parser::types::ExecutableDocument,
    name: Option<&str>,
) -> Option<OperationType> {
    use async_graphql::parser::types::DocumentOperations;
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) => {
            // Ambiguous without a name; refuse by the strictest type present.
            ops.values()
                .map(|op| op.node.ty)
                .find(|ty| *ty != OperationType::Query)
                .or(Some(OperationType::Query))
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// A request refused before any operation ran: the client's to fix, so BAD_USER_INPUT.
fn refuse(media: MediaType, refusal: Refusal) -> HttpResponse {
    let response = Response::from_errors(vec![request_error(
        refusal.message,
        ErrorCode::BadUserInput,
    )]);
    let mut http = json(media, refusal.status, &response);
    if refusal.status == StatusCode::METHOD_NOT_ALLOWED {
        http.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    }
    http
}

fn json(media: MediaType, status: StatusCode, body: &impl serde::Serialize) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(body) => (status, [(header::CONTENT_TYPE, media.as_str())], body).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "cannot serialise a response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
