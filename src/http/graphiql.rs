//! GraphiQL, served from the binary: taskql's own page, stylesheet and start-up script,
//! and pinned copies of GraphiQL and React (`assets/graphiql/vendor/`, written by
//! `scripts/vendor-graphiql.sh`). Nothing is fetched from elsewhere, so the page works
//! offline and runs no code but these files on the one page where people paste tokens.

use axum::extract::Path;
use axum::http::{HeaderName, StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use super::HttpResponse;

/// The page, with [`NONCE`] where each response's style nonce goes.
const PAGE: &str = include_str!("../../assets/graphiql/index.html");
const NONCE: &str = "{{nonce}}";

/// Versioned names never change content; taskql's own files may with any release.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// One file under `/graphiql/`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    cache: &'static str,
    body: &'static [u8],
}

/// A file written by `scripts/vendor-graphiql.sh`, its version in its name.
macro_rules! vendored {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            cache: IMMUTABLE,
            body: include_bytes!(concat!("../../assets/graphiql/vendor/", $name)),
        }
    };
}

/// A file of taskql's own.
macro_rules! own {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            cache: REVALIDATE,
            body: include_bytes!(concat!("../../assets/graphiql/", $name)),
        }
    };
}

/// Everything the page loads, and the licences that come with the vendored code.
const ASSETS: &[Asset] = &[
    vendored!("graphiql-4.1.2.min.js", JAVASCRIPT),
    vendored!("graphiql-4.1.2.min.css", CSS),
    vendored!("graphiql-4.1.2.LICENSE", TEXT),
    vendored!("react-18.3.1.production.min.js", JAVASCRIPT),
    vendored!("react-18.3.1.LICENSE", TEXT),
    vendored!("react-dom-18.3.1.production.min.js", JAVASCRIPT),
    vendored!("react-dom-18.3.1.LICENSE", TEXT),
    own!("start.js", JAVASCRIPT),
    own!("page.css", CSS),
];

/// The page may load and reach taskql's origin only, and may not be framed (where tokens
/// are pasted, a click-jacking frame is worth having). GraphiQL's stylesheet embeds its
/// fonts and icons as `data:` URLs. Its dialogs insert one `<style>` element (the scroll
/// lock of react-remove-scroll), which carries the nonce this response hands to
/// `start.js`; no other inline style is allowed. `connect-src 'self'` is for `/graphql`:
/// the page sets no subscription URL, so GraphiQL opens no socket.
fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; \
         connect-src 'self'; img-src 'self' data:; font-src 'self' data:; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
}

/// The GraphiQL page, answered to a plain GET of `/graphql` when GraphiQL is enabled.
/// Never stored: each response's nonce is good for that response only.
pub(super) fn page() -> HttpResponse {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let nonce = URL_SAFE_NO_PAD.encode(bytes);
    let policy = content_security_policy(&nonce);
    let headers: [(HeaderName, &str); 4] = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, &policy),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    (headers, PAGE.replace(NONCE, &nonce)).into_response()
}

/// GET `/graphiql/{file}`: one of [`ASSETS`], routed only when GraphiQL is enabled.
pub(super) async fn asset(Path(file): Path<String>) -> HttpResponse {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let headers: [(HeaderName, &str); 3] = [
        (header::CONTENT_TYPE, asset.content_type),
        (header::CACHE_CONTROL, asset.cache),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, asset.body).into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use sha2::{Digest, Sha256};

    use super::*;

    /// The vendored files' names and SHA-256, as the script recorded them.
    fn recorded_sums() -> BTreeMap<&'static str, &'static str> {
        include_str!("../../assets/graphiql/vendor/SHA256SUMS")
            .lines()
            .map(|line| {
                let (sum, name) = line.split_once("  ").expect("`<sum>  <name>`");
                (name, sum)
            })
            .collect()
    }

    #[test]
    fn the_embedded_vendored_files_are_the_ones_the_script_recorded() {
        // Only vendored files have versioned, hence immutable, names.
        let embedded: BTreeMap<&str, String> = ASSETS
            .iter()
            .filter(|asset| asset.cache == IMMUTABLE)
            .map(|asset| {
                let sum = Sha256::digest(asset.body)
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect();
                (asset.name, sum)
            })
            .collect();
        let recorded: BTreeMap<&str, String> = recorded_sums()
            .into_iter()
            .map(|(name, sum)| (name, sum.to_owned()))
            .collect();
        assert_eq!(embedded, recorded);
    }

    #[test]
    fn the_page_has_one_place_for_the_nonce() {
        assert_eq!(PAGE.matches(NONCE).count(), 1);
    }
}
