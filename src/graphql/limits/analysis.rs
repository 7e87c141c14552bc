//! The analysis of a parsed document: one pass, each fragment analysed once and
//! remembered, so cycles end and repeated spreads cost nothing extra.

use std::collections::HashMap;

use async_graphql::ServerError;
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};

use super::{MAX_ALIASES, MAX_EXPANDED_FIELDS, MAX_FRAGMENT_DEPTH, MAX_ROOT_FIELDS, refused};
use crate::graphql::rules::{checks_credential, credential_fields};

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
        credential_fields()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ")
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
                    facts.auth += usize::from(checks_credential(name));
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

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::super::tests::refusal;
    use super::*;

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
                "`login`, `register`, `refreshToken`, `changePassword`, `deleteAccount`, `changeEmail`, `resetPassword`, `verifyEmail`, `beginTwoFactorSetup`, `enableTwoFactor`, `disableTwoFactor`, `regenerateRecoveryCodes`, `verifyLogin` may appear at most once per document.",
                "{twice}"
            );
        }
    }
}
