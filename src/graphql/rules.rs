//! One rule for each root field of the schema: whether it checks a credential and which
//! rate limits it falls under. Document analysis ([limits](super::limits)) and throttling
//! ([`Throttled`](super::throttling::Throttled)) both read this table, and a test holds
//! it to the schema, so a renamed or added root field cannot silently lose its limits.

use crate::throttle::Limit;

/// The root operation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// Reads.
    Query,
    /// Writes.
    Mutation,
    /// Event streams.
    Subscription,
}

impl Root {
    /// The type's name in the schema.
    pub const fn name(self) -> &'static str {
        match self {
            Root::Query => "Query",
            Root::Mutation => "Mutation",
            Root::Subscription => "Subscription",
        }
    }
}

/// Whose counter a rate limit hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The client's network.
    Client,
    /// The signed-in user, else the client's network.
    ViewerOrClient,
    /// The signed-in user; an anonymous request is not counted.
    SignedIn,
}

/// The rule of one root field.
#[derive(Debug)]
pub struct RootRule {
    /// The root type the field belongs to.
    pub root: Root,
    /// The field's name in the schema.
    pub field: &'static str,
    /// The field checks a credential: once per document, and once per batched request,
    /// so that aliases or batches buy no extra guesses.
    pub checks_credential: bool,
    /// The limits counted, in order, before the resolver runs.
    pub limits: &'static [(Limit, Subject)],
}

const NONE: &[(Limit, Subject)] = &[];
const MUTATION: &[(Limit, Subject)] = &[(Limit::Mutations, Subject::SignedIn)];
const QUERY: &[(Limit, Subject)] = &[(Limit::Queries, Subject::SignedIn)];
const MAIL_REQUEST: &[(Limit, Subject)] = &[
    (Limit::MailPerAddress, Subject::Client),
    (Limit::Mutations, Subject::SignedIn),
];
const MAIL_LINK: &[(Limit, Subject)] = &[
    (Limit::MailLinks, Subject::Client),
    (Limit::Mutations, Subject::SignedIn),
];

const fn query(field: &'static str, limits: &'static [(Limit, Subject)]) -> RootRule {
    RootRule {
        root: Root::Query,
        field,
        checks_credential: false,
        limits,
    }
}

const fn mutation(
    field: &'static str,
    checks_credential: bool,
    limits: &'static [(Limit, Subject)],
) -> RootRule {
    RootRule {
        root: Root::Mutation,
        field,
        checks_credential,
        limits,
    }
}

/// Every root field, credential checks first in the order refusals name them.
pub const ROOT_RULES: &[RootRule] = &[
    mutation("login", true, MUTATION),
    mutation(
        "register",
        true,
        &[
            (Limit::Register, Subject::Client),
            (Limit::Mutations, Subject::SignedIn),
        ],
    ),
    mutation(
        "refreshToken",
        true,
        &[
            (Limit::Refresh, Subject::Client),
            (Limit::Mutations, Subject::SignedIn),
        ],
    ),
    mutation("changePassword", true, MUTATION),
    mutation("requestPasswordReset", false, MAIL_REQUEST),
    mutation("requestEmailVerification", false, MAIL_REQUEST),
    mutation("deleteAccount", true, MUTATION),
    mutation("changeEmail", true, MAIL_REQUEST),
    mutation("resetPassword", true, MAIL_LINK),
    mutation("verifyEmail", true, MAIL_LINK),
    mutation("beginTwoFactorSetup", true, MUTATION),
    mutation("enableTwoFactor", true, MUTATION),
    mutation("disableTwoFactor", true, MUTATION),
    mutation("regenerateRecoveryCodes", true, MUTATION),
    mutation(
        "verifyLogin",
        true,
        &[
            (Limit::LoginsPerAddress, Subject::Client),
            (Limit::Mutations, Subject::SignedIn),
        ],
    ),
    mutation("logout", false, MUTATION),
    mutation("logoutAll", false, MUTATION),
    mutation("revokeSession", false, MUTATION),
    mutation("createTask", false, MUTATION),
    mutation("updateTask", false, MUTATION),
    mutation("deleteTask", false, MUTATION),
    mutation("setUserRole", false, MUTATION),
    mutation("setUserActive", false, MUTATION),
    mutation("revokeUserSessions", false, MUTATION),
    mutation("deleteUser", false, MUTATION),
    query("me", QUERY),
    query(
        "passwordStrength",
        &[(Limit::PasswordStrength, Subject::ViewerOrClient)],
    ),
    query("task", QUERY),
    query("tasks", QUERY),
    query("sessions", QUERY),
    query("securityEvents", QUERY),
    query("users", QUERY),
    query("user", QUERY),
    query("auditLog", QUERY),
    RootRule {
        root: Root::Subscription,
        field: "taskEvents",
        checks_credential: false,
        limits: NONE,
    },
];

/// The rule of the root field `field` of the type named `root`.
pub fn rule(root: &str, field: &str) -> Option<&'static RootRule> {
    ROOT_RULES
        .iter()
        .find(|rule| rule.root.name() == root && rule.field == field)
}

/// The limits of the root field `field` of the type named `root`. A mutation the table
/// lacks (the test below keeps one from being released) still counts against the
/// signed-in user's mutation budget: limits deny by default.
pub fn limits(root: &str, field: &str) -> &'static [(Limit, Subject)] {
    match rule(root, field) {
        Some(rule) => rule.limits,
        None if root == Root::Mutation.name() => MUTATION,
        None => NONE,
    }
}

/// Whether the mutation `field` checks a credential.
pub fn checks_credential(field: &str) -> bool {
    rule(Root::Mutation.name(), field).is_some_and(|rule| rule.checks_credential)
}

/// The mutations that check a credential, in the table's order.
pub fn credential_fields() -> impl Iterator<Item = &'static str> {
    ROOT_RULES
        .iter()
        .filter(|rule| rule.checks_credential)
        .map(|rule| rule.field)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use async_graphql::parser::parse_schema;
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

    use super::{MUTATION, NONE, ROOT_RULES, Root, limits};

    #[test]
    fn every_root_field_has_exactly_one_rule_and_every_rule_a_field() {
        let document = parse_schema(crate::graphql::sdl()).expect("the SDL parses");
        let mut schema = BTreeSet::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let ty = ty.node;
            let root = [Root::Query, Root::Mutation, Root::Subscription]
                .into_iter()
                .find(|root| root.name() == ty.name.node.as_str());
            if let (Some(root), TypeKind::Object(object)) = (root, ty.kind) {
                for field in object.fields {
                    schema.insert((root.name(), field.node.name.node.to_string()));
                }
            }
        }
        let mut rules = BTreeSet::new();
        for rule in ROOT_RULES {
            let entry = (rule.root.name(), rule.field.to_owned());
            assert!(
                rules.insert(entry),
                "two rules for {}.{}",
                rule.root.name(),
                rule.field
            );
        }
        let unruled: Vec<_> = schema.difference(&rules).collect();
        assert!(
            unruled.is_empty(),
            "root fields without a rule: {unruled:?}"
        );
        let unknown: Vec<_> = rules.difference(&schema).collect();
        assert!(
            unknown.is_empty(),
            "rules for fields the schema lacks: {unknown:?}"
        );
    }

    #[test]
    fn only_mutations_check_credentials() {
        assert!(
            ROOT_RULES
                .iter()
                .filter(|rule| rule.checks_credential)
                .all(|rule| rule.root == Root::Mutation)
        );
    }

    #[test]
    fn a_mutation_without_a_rule_still_counts_against_the_mutation_budget() {
        assert_eq!(limits("Mutation", "notInTheTable"), MUTATION);
        assert_eq!(limits("Query", "notInTheTable"), NONE);
        assert_eq!(limits("Mutation", "createTask"), MUTATION);
    }
}
