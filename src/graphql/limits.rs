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
//!    fragment cycles and chains, fields once fragments are expanded, and authentication
//!    mutations. Each fragment is analysed once and remembered, so cycles end and repeated
//!    spreads cost nothing extra.
//!
//! Whoever installs a parsed document in a request (the HTTP handler, the persisted-query
//! cache) has run [`check_source`] on its text first.

use std::collections::HashMap;

use async_graphql::ServerError;
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};

use super::schema::MAX_COMPLEXITY;
use crate::error::request_error;

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
/// The mutations that check a credential: each may appear once per document, and one of
/// them once per batched request, so that aliases or batches buy no extra guesses.
pub const AUTH_MUTATIONS: [&str; 5] = [
    "login",
    "register",
    "refreshToken",
    "changePassword",
    "deleteAccount",
];

/// A document that breaks a limit: the client's to fix.
fn refused(message: String) -> ServerError {
    request_error(message, "BAD_USER_INPUT")
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

/// What [`check_document`] learnt about an accepted document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentSummary {
    /// Authentication mutations in the document's mutation operations (0 or 1).
    pub auth_mutations: usize,
}

/// Checks a parsed document: aliases, root fields, fragments, expanded size and
/// authentication mutations.
pub fn check_document(document: &ExecutableDocument) -> Result<DocumentSummary, ServerError> {
    let mut analysis = Analysis {
        document,
        fragments: HashMap::new(),
        aliases: 0,
    };
    // Every fragment, used or not: a cycle among unused ones is refused all the same.
    for name in document.fragments.keys() {
        analysis.fragment(name, 0)?;
    }
    let mut auth_mutations = 0;
    for (_, operation) in document.operations.iter() {
        let facts = analysis.selection_set(&operation.node.selection_set.node, 0)?;
        if facts.roots > MAX_ROOT_FIELDS {
            return Err(refused(format!(
                "An operation may select at most {MAX_ROOT_FIELDS} root fields."
            )));
        }
        if facts.fields > MAX_EXPANDED_FIELDS {
            return Err(refused(format!(
                "An operation may select at most {MAX_EXPANDED_FIELDS} fields once its fragments are expanded."
            )));
        }
        if operation.node.ty == OperationType::Mutation {
            auth_mutations += facts.auth;
        }
    }
    if analysis.aliases > MAX_ALIASES {
        return Err(refused(format!(
            "A document may use at most {MAX_ALIASES} aliases."
        )));
    }
    if auth_mutations > 1 {
        return Err(refused(auth_message("document")));
    }
    Ok(DocumentSummary { auth_mutations })
}

/// The refusal of more than one authentication mutation in one `scope`.
pub fn auth_message(scope: &str) -> String {
    format!(
        "{} may appear at most once per {scope}.",
        AUTH_MUTATIONS.map(|name| format!("`{name}`")).join(", ")
    )
}

/// What a selection set brings once its fragments are expanded; counts saturate.
#[derive(Debug, Clone, Copy, Default)]
struct Facts {
    /// Fragment spreads nested inside one another, at the deepest.
    depth: usize,
    /// Fields at every level.
    fields: usize,
    /// Fields at the set's own level.
    roots: usize,
    /// Authentication mutations among those `roots`.
    auth: usize,
}

impl Facts {
    fn add_level(&mut self, other: Facts) {
        self.fields = self.fields.saturating_add(other.fields);
        self.roots = self.roots.saturating_add(other.roots);
        self.auth = self.auth.saturating_add(other.auth);
    }
}

struct Analysis<'a> {
    document: &'a ExecutableDocument,
    /// Analysed fragments; `None` while one is being analysed, so meeting it again is a cycle.
    fragments: HashMap<&'a str, Option<Facts>>,
    aliases: usize,
}

impl<'a> Analysis<'a> {
    /// `chain` counts the spreads that led here, so recursion stops at the limit.
    fn fragment(&mut self, name: &'a str, chain: usize) -> Result<Facts, ServerError> {
        if chain > MAX_FRAGMENT_DEPTH {
            return Err(too_deep());
        }
        match self.fragments.get(name) {
            Some(Some(facts)) => return Ok(*facts),
            Some(None) => {
                return Err(refused(format!(
                    "Fragment `{name}` spreads itself: fragments may not form a cycle."
                )));
            }
            None => {}
        }
        // An unknown fragment brings nothing here; validation reports it.
        let Some((key, definition)) = self.document.fragments.get_key_value(name) else {
            return Ok(Facts::default());
        };
        self.fragments.insert(key.as_str(), None);
        let facts = self.selection_set(&definition.node.selection_set.node, chain)?;
        self.fragments.insert(key.as_str(), Some(facts));
        Ok(facts)
    }

    fn selection_set(&mut self, set: &'a SelectionSet, chain: usize) -> Result<Facts, ServerError> {
        let mut facts = Facts::default();
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    if field.alias.is_some() {
                        self.aliases += 1;
                    }
                    let name = field.name.node.as_str();
                    let inner = self.selection_set(&field.selection_set.node, chain)?;
                    facts.depth = facts.depth.max(inner.depth);
                    facts.fields = facts.fields.saturating_add(inner.fields).saturating_add(1);
                    facts.roots = facts.roots.saturating_add(1);
                    facts.auth += usize::from(AUTH_MUTATIONS.contains(&name));
                }
                Selection::InlineFragment(inline) => {
                    let inner = self.selection_set(&inline.node.selection_set.node, chain)?;
                    facts.depth = facts.depth.max(inner.depth);
                    facts.add_level(inner);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    let inner = self.fragment(name, chain + 1)?;
                    facts.depth = facts.depth.max(inner.depth + 1);
                    if chain + facts.depth > MAX_FRAGMENT_DEPTH {
                        return Err(too_deep());
                    }
                    facts.add_level(inner);
                }
            }
        }
        Ok(facts)
    }
}

fn too_deep() -> ServerError {
    refused(format!(
        "Fragment spreads may be nested at most {MAX_FRAGMENT_DEPTH} deep."
    ))
}

/// What the limits need to know of a token.
#[derive(Debug, PartialEq, Eq)]
enum Token {
    /// `{`, `(` or `[`.
    Open,
    /// `}`, `)` or `]`.
    Close,
    Other,
}

/// A GraphQL lexer that only tells tokens apart, as the specification defines them:
/// whitespace, commas, the byte-order mark and `#` comments are ignored; strings and block
/// strings are one token whatever they contain. It never fails: text the parser would
/// reject is still counted, and the parser reports it.
struct Lexer<'a> {
    source: &'a [u8],
    at: usize,
}

impl<'a> Lexer<'a> {
    fn new(source: &'a [u8]) -> Self {
        Self { source, at: 0 }
    }

    fn peek(&self, offset: usize) -> Option<u8> {
        self.source.get(self.at + offset).copied()
    }

    fn next_token(&mut self) -> Option<Token> {
        self.skip_ignored();
        let byte = self.peek(0)?;
        self.at += 1;
        Some(match byte {
            b'{' | b'(' | b'[' => Token::Open,
            b'}' | b')' | b']' => Token::Close,
            b'.' => {
                if self.peek(0) == Some(b'.') && self.peek(1) == Some(b'.') {
                    self.at += 2;
                }
                Token::Other
            }
            b'"' => {
                if self.peek(0) == Some(b'"') && self.peek(1) == Some(b'"') {
                    self.at += 2;
                    self.skip_block_string();
                } else if self.peek(0) == Some(b'"') {
                    self.at += 1;
                } else {
                    self.skip_string();
                }
                Token::Other
            }
            byte if byte.is_ascii_alphabetic() || byte == b'_' => {
                while self.peek(0).is_some_and(is_name_part) {
                    self.at += 1;
                }
                Token::Other
            }
            // A number: digits, letters (exponent), `.`, and a sign after an exponent.
            byte if byte.is_ascii_digit() || byte == b'-' => {
                let mut previous = byte;
                while let Some(b) = self.peek(0) {
                    let sign = (b == b'+' || b == b'-') && matches!(previous, b'e' | b'E');
                    if !(is_name_part(b) || b == b'.' || sign) {
                        break;
                    }
                    previous = b;
                    self.at += 1;
                }
                Token::Other
            }
            // Punctuators and anything the parser will refuse: one byte, one token.
            _ => Token::Other,
        })
    }

    fn skip_ignored(&mut self) {
        while let Some(byte) = self.peek(0) {
            match byte {
                b' ' | b'\t' | b'\n' | b'\r' | b',' => self.at += 1,
                b'#' => {
                    while self.peek(0).is_some_and(|b| b != b'\n' && b != b'\r') {
                        self.at += 1;
                    }
                }
                0xEF if self.peek(1) == Some(0xBB) && self.peek(2) == Some(0xBF) => self.at += 3,
                _ => return,
            }
        }
    }

    /// After the opening quote: up to and including the closing one, or the line's end
    /// (strings cannot span lines).
    fn skip_string(&mut self) {
        while let Some(byte) = self.peek(0) {
            match byte {
                b'"' => {
                    self.at += 1;
                    return;
                }
                b'\n' | b'\r' => return,
                // An escape: the character after the backslash cannot end the string.
                b'\\' if self.peek(1).is_some_and(|b| b != b'\n' && b != b'\r') => self.at += 2,
                _ => self.at += 1,
            }
        }
    }

    /// After the opening `"""`: up to and including the closing one; `\"""` does not close.
    fn skip_block_string(&mut self) {
        while let Some(byte) = self.peek(0) {
            if byte == b'\\' && self.source[self.at + 1..].starts_with(b"\"\"\"") {
                self.at += 4;
            } else if self.source[self.at..].starts_with(b"\"\"\"") {
                self.at += 3;
                return;
            } else {
                self.at += 1;
            }
        }
    }
}

fn is_name_part(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn tokens(source: &str) -> usize {
        let mut lexer = Lexer::new(source.as_bytes());
        std::iter::from_fn(|| lexer.next_token()).count()
    }

    fn refusal(source: &str) -> String {
        match check_source(source) {
            Err(err) => err.message,
            Ok(()) => match check_document(&parse_query(source).expect("valid GraphQL")) {
                Err(err) => err.message,
                Ok(_) => String::new(),
            },
        }
    }

    #[test]
    fn tokens_are_counted_as_the_specification_defines_them() {
        assert_eq!(tokens("{ me { id } }"), 6);
        assert_eq!(tokens("query Q($a: Int = -1.5e+3) { a: f(x: $a) }"), 21);
        assert_eq!(tokens("{ ...F ... on T { a } }"), 10);
        assert_eq!(tokens("{ a...F }"), 5);
        // Commas, comments and the byte-order mark are ignored.
        assert_eq!(tokens("\u{feff}{ a, b,,, c } # { { {\n"), 5);
        // A string is one token, whatever it holds.
        assert_eq!(tokens(r#"{ f(s: "{ \" # } ") }"#), 8);
        assert_eq!(tokens(r#"{ f(s: "") }"#), 8);
        // A block string too; an escaped triple quote does not end it.
        assert_eq!(tokens("{ f(s: \"\"\" a \\\"\"\" { \" \n } \"\"\") }"), 8);
        // Unterminated strings end at the line, or at the end of the text.
        assert_eq!(tokens("{ f(s: \"open\n) }"), 8);
        assert_eq!(tokens("\"\"\" never closed { {"), 1);
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
    fn aliases_and_root_fields_are_bounded() {
        let aliased = |n: usize| {
            let fields: String = (0..n).map(|i| format!("a{i}: id ")).collect();
            format!("{{ me {{ {fields} }} }}")
        };
        assert_eq!(refusal(&aliased(MAX_ALIASES)), "");
        assert_eq!(
            refusal(&aliased(MAX_ALIASES + 1)),
            "A document may use at most 30 aliases."
        );
        let roots: String = (0..=MAX_ROOT_FIELDS).map(|_| "me { id } ").collect();
        assert_eq!(
            refusal(&format!("{{ {roots} }}")),
            "An operation may select at most 10 root fields."
        );
        // Root fields that arrive through fragments count too.
        let spread =
            format!("{{ ...R ... on Query {{ me {{ id }} }} }} fragment R on Query {{ {roots} }}");
        assert!(refusal(&spread).contains("10 root fields"));
    }

    #[test]
    fn fragment_cycles_and_deep_chains_are_refused_without_recursing_forever() {
        let cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        assert!(refusal(cycle).contains("fragments may not form a cycle"));
        let own = "{ me { id } } fragment A on Query { me { ...A } }";
        assert!(refusal(own).contains("`A` spreads itself"));

        let chain = |n: usize| {
            let fragments: String = (0..n)
                .map(|i| format!("fragment F{i} on Query {{ ...F{} }} ", i + 1))
                .collect();
            format!("{{ ...F0 }} {fragments} fragment F{n} on Query {{ me {{ id }} }}")
        };
        assert_eq!(refusal(&chain(MAX_FRAGMENT_DEPTH - 1)), "");
        assert_eq!(
            refusal(&chain(MAX_FRAGMENT_DEPTH)),
            "Fragment spreads may be nested at most 10 deep."
        );
        assert!(refusal(&chain(150)).contains("at most 10 deep"));
    }

    #[test]
    fn fragments_that_fan_out_are_counted_once_expanded() {
        // 2^8 copies of `id` through eight fragments, each spreading the next twice.
        let fan_out = |levels: usize| {
            let fragments: String = (0..levels)
                .map(|i| format!("fragment F{i} on User {{ ...F{n} ...F{n} }} ", n = i + 1))
                .collect();
            format!("{{ me {{ ...F0 }} }} {fragments} fragment F{levels} on User {{ id }}")
        };
        assert_eq!(refusal(&fan_out(8)), "");
        assert!(refusal(&fan_out(10)).contains("at most 10 deep"));
        // Wide rather than deep: nine fragments each spreading the next nine times.
        let wide: String = (0..9)
            .map(|i| {
                format!(
                    "fragment W{i} on User {{ {} }} ",
                    format!("...W{} ", i + 1).repeat(9)
                )
            })
            .collect();
        let wide = format!("{{ me {{ ...W0 }} }} {wide} fragment W9 on User {{ id }}");
        assert_eq!(
            refusal(&wide),
            "An operation may select at most 5000 fields once its fragments are expanded."
        );
    }

    #[test]
    fn authentication_mutations_appear_once_per_document() {
        let once = "mutation { login(input: {username: \"a\", password: \"b\"}) { accessToken } }";
        let summary = check_document(&parse_query(once).unwrap()).unwrap();
        assert_eq!(summary.auth_mutations, 1);
        let query = "{ me { id } }";
        assert_eq!(
            check_document(&parse_query(query).unwrap())
                .unwrap()
                .auth_mutations,
            0
        );
        for twice in [
            "mutation { a: login(input: $i) { accessToken } b: login(input: $i) { accessToken } }",
            "mutation { login(input: $i) { accessToken } register(input: $r) { id } }",
            "mutation { refreshToken(refreshToken: \"x\") { accessToken } ...F } fragment F on Mutation { changePassword(currentPassword: \"a\", newPassword: \"b\") }",
            "mutation A { login(input: $i) { accessToken } } mutation B { login(input: $i) { accessToken } }",
            "mutation { a: deleteAccount(password: \"a\") b: deleteAccount(password: \"b\") }",
            "mutation { changePassword(currentPassword: \"a\", newPassword: \"b\") deleteAccount(password: \"a\") }",
        ] {
            assert_eq!(
                refusal(twice),
                "`login`, `register`, `refreshToken`, `changePassword`, `deleteAccount` may appear at most once per document.",
                "{twice}"
            );
        }
    }

    #[test]
    fn the_clients_documents_and_the_introspection_query_fit() {
        assert_eq!(tokens(INTROSPECTION), 150);
        assert_eq!(refusal(INTROSPECTION), "");
        let operations = include_str!("../../tests/clients/src/operations.graphql");
        for operation in operations.split("\n\n") {
            assert_eq!(refusal(operation), "", "{operation}");
        }
    }

    /// What GraphiQL sends (graphql-js 16 `getIntrospectionQuery()`, with descriptions).
    const INTROSPECTION: &str = r#"
    query IntrospectionQuery {
      __schema {
        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types { ...FullType }
        directives { name description locations args { ...InputValue } }
      }
    }
    fragment FullType on __Type {
      kind name description
      fields(includeDeprecated: true) {
        name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
      }
      inputFields { ...InputValue }
      interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
      possibleTypes { ...TypeRef }
    }
    fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
    fragment TypeRef on __Type {
      kind name
      ofType { kind name ofType { kind name ofType { kind name ofType { kind name
        ofType { kind name ofType { kind name ofType { kind name } } } } } } }
    }
    "#;
}
