//! Bounds on a GraphQL document, checked before anything runs.
//!
//! async-graphql bounds depth, complexity and directives per field, but only after parsing,
//! and its depth and complexity checks walk every fragment spread again, so a document of a
//! few hundred bytes whose fragments each spread the next one twice costs them 2^n steps.
//! The checks here close that gap in two passes, each linear in the document:
//!
//! 1. [`check_source`] runs on the text, before the parser sees it: bytes, lexical tokens
//!    and bracket nesting (the parser recurses on brackets).
//! 2. [`check_document`] runs on the parsed document: aliases, root fields per operation,
//!    fragment cycles and chains, fields once fragments are expanded, and the mutations
//!    that check a credential ([rules](super::rules)). Each fragment is analysed once and remembered, so cycles end and repeated
//!    spreads cost nothing extra.
//!
//! Whoever installs a parsed document in a request (the HTTP handler, the persisted-query
//! cache) has run [`check_source`] on its text first.

mod analysis;
mod lexer;

use async_graphql::ServerError;

pub use analysis::{DocumentSummary, auth_message, check_document};
use lexer::{Lexer, Token};

use super::schema::MAX_COMPLEXITY;
use crate::error::{ErrorCode, request_error};

/// Largest document accepted, in bytes. Documents carry operations, not data: values
/// belong in `variables`, which only the body cap bounds.
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024;
/// Most lexical tokens in one document (GraphiQL's introspection query has 150).
pub const MAX_TOKENS: usize = 2_000;
/// Most brackets (`{`, `(`, `[`) open at once; deeper selections fail the depth limit anyway.
pub const MAX_NESTING: usize = 32;
/// Most aliases in one document.
pub const MAX_ALIASES: usize = 30;
/// Most root fields in one operation, counting those its fragments bring.
pub const MAX_ROOT_FIELDS: usize = 10;
/// Most fragment spreads nested inside one another (the introspection query needs 3).
pub const MAX_FRAGMENT_DEPTH: usize = 10;
/// Most fields one operation selects once its fragments are expanded. No operation above
/// this could pass the complexity limit, which counts every field at least once.
pub const MAX_EXPANDED_FIELDS: usize = MAX_COMPLEXITY;

/// A document that breaks a limit: the client's to fix.
fn refused(message: String) -> ServerError {
    request_error(message, ErrorCode::BadUserInput)
}

/// Checks the text of a document: its size, its number of tokens and how deeply its
/// brackets nest. Stops reading as soon as a limit is passed.
pub fn check_source(source: &str) -> Result<(), ServerError> {
    if source.len() > MAX_DOCUMENT_BYTES {
        return Err(refused(format!(
            "The document is larger than {MAX_DOCUMENT_BYTES} bytes: put values in `variables`."
        )));
    }
    let mut lexer = Lexer::new(source.as_bytes());
    let (mut tokens, mut depth) = (0, 0usize);
    while let Some(token) = lexer.next_token() {
        tokens += 1;
        if tokens > MAX_TOKENS {
            return Err(refused(format!(
                "The document has more than {MAX_TOKENS} tokens."
            )));
        }
        match token {
            Token::Open => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(refused(format!(
                        "The document nests brackets more than {MAX_NESTING} deep."
                    )));
                }
            }
            Token::Close => depth = depth.saturating_sub(1),
            Token::Other => {}
        }
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    /// What the lexer and the analysis together say of `source`; empty when accepted.
    pub(super) fn refusal(source: &str) -> String {
        match check_source(source) {
            Err(err) => err.message,
            Ok(()) => match check_document(&parse_query(source).expect("valid GraphQL")) {
                Err(err) => err.message,
                Ok(_) => String::new(),
            },
        }
    }

    #[test]
    fn brackets_inside_strings_and_comments_do_not_nest() {
        let hidden = format!("{{ f(s: \"{}\") }} # {}", "{".repeat(100), "[".repeat(100));
        assert!(check_source(&hidden).is_ok());
        let open = "{ a ".repeat(MAX_NESTING + 1);
        assert!(refusal(&open).contains("nests brackets more than 32 deep"));
        let list = format!("{{ f(x: {}) }}", "[".repeat(MAX_NESTING));
        assert!(check_source(&list).unwrap_err().message.contains("32 deep"));
    }

    #[test]
    fn size_and_token_limits_are_exact() {
        let fields = |n: usize| format!("{{ {} }}", "a ".repeat(n));
        assert!(check_source(&fields(MAX_TOKENS - 2)).is_ok());
        let err = check_source(&fields(MAX_TOKENS - 1)).unwrap_err();
        assert_eq!(err.message, "The document has more than 2000 tokens.");
        let big = format!("{{ a }}{}", " ".repeat(MAX_DOCUMENT_BYTES));
        assert!(
            check_source(&big)
                .unwrap_err()
                .message
                .contains("32768 bytes")
        );
    }

    #[test]
    fn the_clients_documents_and_the_introspection_query_fit() {
        assert_eq!(refusal(INTROSPECTION), "");
        let operations = include_str!("../../../tests/clients/src/operations.graphql");
        let (fragments, operations): (Vec<&str>, Vec<&str>) = operations
            .split("\n\n")
            .partition(|chunk| chunk.trim_start().starts_with("fragment"));
        let fragments = fragments.join("\n");
        for operation in operations {
            let document = format!("{operation}\n{fragments}");
            assert_eq!(refusal(&document), "", "{document}");
        }
    }

    /// What GraphiQL sends (graphql-js 16 `getIntrospectionQuery()`, with descriptions).
    pub(super) const INTROSPECTION: &str =
        include_str!("../../../tests/documents/graphiql-introspection.graphql");
}
