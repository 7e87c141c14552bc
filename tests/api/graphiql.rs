//! GraphiQL: a page that loads only files taskql serves itself, under a policy that
//! allows nothing else, and no files at all when GraphiQL is off.

use crate::helpers::{Reply, TestApp, spawn_app, spawn_app_with};

/// The licences served beside the vendored code.
const LICENCES: [&str; 3] = [
    "/graphiql/graphiql-4.1.2.LICENSE",
    "/graphiql/react-18.3.1.LICENSE",
    "/graphiql/react-dom-18.3.1.LICENSE",
];

async fn page(app: &TestApp) -> Reply {
    app.request()
        .get("/graphql")
        .accept("text/html")
        .send()
        .await
}

/// Every `src` and `href` value in `html`.
fn references(html: &str) -> Vec<&str> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attribute| html.match_indices(attribute))
        .map(|(at, attribute)| {
            let value = &html[at + attribute.len()..];
            &value[..value.find('"').expect("a closed attribute")]
        })
        .collect()
}

/// The value of the page's one `nonce` attribute.
fn nonce(html: &str) -> &str {
    let [(at, attribute)] = html.match_indices("nonce=\"").collect::<Vec<_>>()[..] else {
        panic!("not one nonce in {html}");
    };
    let value = &html[at + attribute.len()..];
    &value[..value.find('"').expect("a closed attribute")]
}

#[tokio::test]
async fn the_page_allows_nothing_but_taskql_itself() {
    let app = spawn_app().await;
    let reply = page(&app).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let nonce = nonce(&reply.text);
    assert_eq!(
        reply.header("content-security-policy"),
        Some(
            format!(
                "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; \
                 connect-src 'self'; img-src 'self' data:; font-src 'self' data:; \
                 frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
            )
            .as_str()
        )
    );
    assert!(!reply.text.contains("<script>"), "an inline script");
    assert!(!reply.text.contains("<style"), "an inline style");
    assert!(!reply.text.contains("style=\""), "an inline style");

    let again = page(&app).await;
    assert_ne!(nonce, self::nonce(&again.text), "a nonce used twice");

    let references = references(&reply.text);
    assert!(references.len() >= 5, "{references:?}");
    for reference in references {
        assert!(
            reference == "data:," || reference.starts_with("/graphiql/"),
            "the page loads {reference} from elsewhere"
        );
    }
}

#[tokio::test]
async fn every_file_the_page_loads_is_served_with_its_type() {
    let app = spawn_app().await;
    let html = page(&app).await.text;
    let files = references(&html)
        .into_iter()
        .filter(|reference| reference.starts_with("/graphiql/"));
    for path in files.chain(LICENCES) {
        let reply = app.request().get(path).send().await;
        assert_eq!(reply.status, 200, "{path}");
        let expected = match path.rsplit_once('.').map(|(_, extension)| extension) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => "text/plain; charset=utf-8",
        };
        assert_eq!(reply.header("content-type"), Some(expected), "{path}");
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        // Only names carrying a version may be cached for good.
        let versioned = path.bytes().any(|b| b.is_ascii_digit());
        let cache = if versioned {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        assert_eq!(reply.header("cache-control"), Some(cache), "{path}");
        assert!(!reply.text.is_empty(), "{path}");
    }
    assert_eq!(
        app.request()
            .get("/graphiql/graphiql.min.js")
            .send()
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn no_file_is_served_when_graphiql_is_off() {
    let on = spawn_app().await;
    let html = page(&on).await.text;
    let files = references(&html)
        .into_iter()
        .filter(|reference| reference.starts_with("/graphiql/"))
        .collect::<Vec<_>>();
    for off in [
        spawn_app_with(&[("APP_ENV", "production")]).await,
        spawn_app_with(&[("GRAPHQL_INTROSPECTION", "false")]).await,
    ] {
        let reply = page(&off).await;
        assert_eq!(reply.status, 400, "{}", reply.text);
        assert_eq!(reply.header("content-security-policy"), None);
        for path in files.iter().copied().chain(LICENCES) {
            assert_eq!(off.request().get(path).send().await.status, 404, "{path}");
        }
    }
}
