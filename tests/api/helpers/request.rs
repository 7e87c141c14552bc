//! The one HTTP request builder and the typed reply every test reads.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::TestApp;

/// The JSON media type, for raw bodies that claim to be JSON.
pub const JSON: &str = "application/json";

/// What a request carries as its body.
enum Body {
    Empty,
    Json(Value),
    Raw(Vec<u8>),
    /// Sent in pieces of this many bytes, without `Content-Length`.
    Chunked(Vec<u8>, usize),
}

/// One request to the test server, POST `/graphql` unless told otherwise.
#[must_use = "a request does nothing until it is sent"]
pub struct Request<'a> {
    client: &'a reqwest::Client,
    base: String,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, HeaderValue)>,
    body: Body,
    timeout: Option<Duration>,
}

impl TestApp {
    /// A POST to `/graphql` with no body yet.
    pub fn request(&self) -> Request<'_> {
        Request::new(&self.client, &self.address, "/graphql")
    }

    /// POSTs one operation; `token` becomes `Authorization: Bearer <token>`.
    pub async fn post(&self, token: Option<&str>, query: &str, variables: Value) -> Reply {
        let mut request = self.request().operation(query, variables);
        if let Some(token) = token {
            request = request.token(token);
        }
        request.send().await
    }

    /// A CORS preflight for a POST carrying a token, from `origin`.
    pub async fn preflight(&self, origin: &str) -> Reply {
        self.request()
            .method(Method::OPTIONS)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type,authorization",
            )
            .send()
            .await
    }

    /// POSTs one operation, asserts a 200 and returns the JSON body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let reply = self.post(token, query, variables).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert!(
            reply.body.is_object(),
            "not a GraphQL response: {}",
            reply.text
        );
        reply.body
    }
}

/// A POST to `url` on a server this process did not spawn (a `taskql serve` child).
pub fn request_to(url: &str) -> Request<'static> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    Request::new(CLIENT.get_or_init(reqwest::Client::new), url, "")
}

impl<'a> Request<'a> {
    fn new(client: &'a reqwest::Client, base: &str, path: &str) -> Self {
        Request {
            client,
            base: base.into(),
            method: Method::POST,
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::Empty,
            timeout: None,
        }
    }
}

impl Request<'_> {
    /// Another method than POST.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// A GET of `path`.
    pub fn get(self, path: &str) -> Self {
        self.method(Method::GET).path(path)
    }

    /// Another path than `/graphql`.
    pub fn path(mut self, path: &str) -> Self {
        self.path = path.into();
        self
    }

    /// A query-string parameter, encoded.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn token(self, token: &str) -> Self {
        self.authorization(&format!("Bearer {token}"))
    }

    /// A whole `Authorization` header value, for schemes and shapes a client may send.
    pub fn authorization(self, value: &str) -> Self {
        self.header("authorization", value)
    }

    /// The client address a proxy would report, as `X-Forwarded-For`.
    pub fn forwarded_for(self, addresses: &str) -> Self {
        self.header("x-forwarded-for", addresses)
    }

    /// The media types the client accepts.
    pub fn accept(self, media_types: &str) -> Self {
        self.header("accept", media_types)
    }

    /// Any other header.
    pub fn header(self, name: &str, value: &str) -> Self {
        self.header_bytes(name, value.as_bytes())
    }

    /// A header whose value is any bytes a client could send, UTF-8 or not.
    pub fn header_bytes(mut self, name: &str, value: &[u8]) -> Self {
        let value = HeaderValue::from_bytes(value).expect("a header value");
        self.headers.push((name.into(), value));
        self
    }

    /// A GraphQL operation as the JSON body.
    pub fn operation(self, query: &str, variables: Value) -> Self {
        self.json(json!({ "query": query, "variables": variables }))
    }

    /// Any JSON body (a batch, extensions, a hand-built payload).
    pub fn json(mut self, body: Value) -> Self {
        self.body = Body::Json(body);
        self
    }

    /// Bytes exactly as given, with `content_type` unless it is empty.
    pub fn raw(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        if !content_type.is_empty() {
            self = self.header("content-type", content_type);
        }
        self.body = Body::Raw(body.into());
        self
    }

    /// Bytes as [`Request::raw`], streamed in `chunk` byte pieces without `Content-Length`.
    pub fn chunked(mut self, content_type: &str, body: impl Into<Vec<u8>>, chunk: usize) -> Self {
        self = self.header("content-type", content_type);
        self.body = Body::Chunked(body.into(), chunk);
        self
    }

    /// Fails the test when the whole exchange takes longer than `limit`.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Sends the request and reads the whole reply.
    pub async fn send(self) -> Reply {
        let url = format!("{}{}", self.base, self.path);
        let mut request = self.client.request(self.method, url);
        if let Some(limit) = self.timeout {
            request = request.timeout(limit);
        }
        if !self.query.is_empty() {
            request = request.query(&self.query);
        }
        request = match self.body {
            Body::Empty => request,
            Body::Json(body) => request.json(&body),
            Body::Raw(bytes) => request.body(bytes),
            Body::Chunked(bytes, chunk) => {
                let pieces: Vec<Result<Vec<u8>, std::io::Error>> = bytes
                    .chunks(chunk)
                    .map(|piece| Ok(piece.to_vec()))
                    .collect();
                request.body(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
            }
        };
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        Reply::read(request.send().await.expect("request")).await
    }
}

/// A whole HTTP reply: status, the headers tests read, the text and its JSON.
pub struct Reply {
    pub status: u16,
    /// `Retry-After`, present on refusals that ask the client to wait.
    pub retry_after: Option<String>,
    /// `WWW-Authenticate`, the RFC 6750 hint on refused tokens.
    pub www_authenticate: Option<String>,
    pub headers: HeaderMap,
    /// The body as sent.
    pub text: String,
    /// The body as JSON; `Value::Null` when the server sent none or did not label it JSON
    /// (a JSON label on a body that does not parse fails the test).
    pub body: Value,
}

impl Reply {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let header = |name: &str| {
            headers
                .get(name)
                .map(|value| value.to_str().expect("an ASCII header").to_owned())
        };
        // A HEAD answer carries the labels of a body it does not send.
        let labelled_json =
            header("content-type").is_some_and(|media| media.contains("json")) && !text.is_empty();
        let body = if labelled_json {
            serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}: {text}"))
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        Reply {
            status,
            retry_after: header("retry-after"),
            www_authenticate: header("www-authenticate"),
            body,
            headers,
            text,
        }
    }

    /// The body, which must be JSON whatever the status (a throttled login is a 429).
    pub fn json(self) -> Value {
        assert!(self.body.is_object(), "not a JSON object: {}", self.text);
        self.body
    }

    /// The value of header `name`, if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|value| value.to_str().expect("an ASCII header"))
    }

    /// The `extensions.code` of the first error.
    pub fn code(&self) -> &str {
        code(&self.body)
    }

    /// The message of the first error.
    pub fn message(&self) -> &str {
        message(&self.body)
    }
}

/// The `extensions.code` of the first error in `body`.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

/// The message of the first error in `body`.
pub fn message(body: &Value) -> &str {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {body}"))
}

/// The text under `field` of every item of the array `list`, in order; panics naming the
/// list when it is not an array of objects with that text.
pub fn texts_of<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| {
            item[field]
                .as_str()
                .unwrap_or_else(|| panic!("no {field} in {item}"))
        })
        .collect()
}
