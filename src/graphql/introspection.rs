//! With introspection off, async-graphql answers `__schema` and `__type` with a silent
//! `null`, which a code generator pointed at the server reports as a confusing failure of
//! its own. [`IntrospectionRefused`] answers instead with an error that says why.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{Pos, Request, ServerResult};

use crate::error::{ErrorCode, request_error};

/// What a client that introspects is told when introspection is off.
pub const INTROSPECTION_DISABLED: &str =
    "Introspection is disabled on this server: `__schema` and `__type` cannot be queried.";

/// Refuses, before anything runs, an operation that selects `__schema` or `__type`;
/// `__typename` stays allowed. Installed on the schema only when introspection is off.
pub struct IntrospectionRefused;

impl ExtensionFactory for IntrospectionRefused {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(IntrospectionRefused)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for IntrospectionRefused {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let mut request = next.run(ctx, request).await?;
        let name = request.operation_name.clone();
        // A document that does not parse is left to execution, which reports it.
        if let Ok(document) = request.parsed_query()
            && let Some(pos) = introspection_field(document, name.as_deref())
        {
            let mut error = request_error(INTROSPECTION_DISABLED, ErrorCode::Forbidden);
            error.locations = vec![pos];
            return Err(error);
        }
        Ok(request)
    }
}

/// Where the operations that `name` selects in `document` (all of them without a name)
/// first select `__schema` or `__type`, under any alias, at any depth, through fragments.
fn introspection_field(document: &ExecutableDocument, name: Option<&str>) -> Option<Pos> {
    let operations: Vec<_> = match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => vec![operation],
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get(name).into_iter().collect()
        }
        (DocumentOperations::Multiple(operations), None) => operations.values().collect(),
    };
    let mut search = Search {
        document,
        visited: HashSet::new(),
    };
    operations
        .into_iter()
        .find_map(|operation| search.selection_set(&operation.node.selection_set.node))
}

struct Search<'a> {
    document: &'a ExecutableDocument,
    /// Fragments already searched, so each is read once and a cycle ends.
    visited: HashSet<&'a str>,
}

impl<'a> Search<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> Option<Pos> {
        set.items.iter().find_map(|item| match &item.node {
            Selection::Field(field) => {
                if matches!(field.node.name.node.as_str(), "__schema" | "__type") {
                    Some(field.pos)
                } else {
                    self.selection_set(&field.node.selection_set.node)
                }
            }
            Selection::InlineFragment(inline) => {
                self.selection_set(&inline.node.selection_set.node)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                let (key, fragment) = self.document.fragments.get_key_value(name)?;
                if self.visited.insert(key.as_str()) {
                    self.selection_set(&fragment.node.selection_set.node)
                } else {
                    None
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn refused(source: &str, name: Option<&str>) -> bool {
        introspection_field(&parse_query(source).expect("valid GraphQL"), name).is_some()
    }

    #[test]
    fn introspection_is_found_through_aliases_fragments_and_nesting() {
        for source in [
            "{ __schema { queryType { name } } }",
            "{ __type(name: \"Task\") { name } }",
            "{ s: __schema { queryType { name } } }",
            "{ ...F } fragment F on Query { ...G } fragment G on Query { t: __type(name: \"Task\") { name } }",
            "{ ... on Query { ... { __schema { types { name } } } } }",
            "query A { me { id } } query B { __schema { types { name } } }",
            "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A __type(name: \"X\") { name } }",
        ] {
            assert!(refused(source, None), "{source}");
        }
        for source in [
            "{ __typename }",
            "{ me { __typename id } }",
            "{ ...F } fragment F on Query { __typename }",
            "{ ...Missing }",
            "{ ...A } fragment A on Query { ...A }",
        ] {
            assert!(!refused(source, None), "{source}");
        }
    }

    #[test]
    fn only_the_selected_operation_counts() {
        let document = "query Plain { __typename } query Schema { __schema { types { name } } }";
        assert!(!refused(document, Some("Plain")));
        assert!(refused(document, Some("Schema")));
        assert!(refused(document, None));
        assert!(!refused(document, Some("Unknown")));
    }

    #[test]
    fn the_error_points_at_the_field() {
        let document =
            parse_query("{\n  a: __typename\n  b: __schema { types { name } }\n}").unwrap();
        let pos = introspection_field(&document, None).unwrap();
        assert_eq!((pos.line, pos.column), (3, 3));
    }
}
