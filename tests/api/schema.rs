//! `schema.graphql` is the exact SDL of the running schema, fully described.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

#[test]
fn the_committed_schema_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql");
    assert!(
        committed == taskql::graphql::sdl(),
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}

#[test]
fn every_type_field_argument_and_enum_value_has_a_description() {
    let document = parse_schema(taskql::graphql::sdl()).expect("valid SDL");
    let mut missing = Vec::new();
    for definition in &document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let ty = &ty.node;
        let name = ty.name.node.as_str();
        if ty.description.is_none() {
            missing.push(name.to_owned());
        }
        match &ty.kind {
            TypeKind::Object(object) => {
                for field in &object.fields {
                    let field = &field.node;
                    if field.description.is_none() {
                        missing.push(format!("{name}.{}", field.name.node));
                    }
                    for arg in &field.arguments {
                        if arg.node.description.is_none() {
                            missing.push(format!(
                                "{name}.{}({})",
                                field.name.node, arg.node.name.node
                            ));
                        }
                    }
                }
            }
            TypeKind::InputObject(input) => {
                for field in &input.fields {
                    if field.node.description.is_none() {
                        missing.push(format!("{name}.{}", field.node.name.node));
                    }
                }
            }
            TypeKind::Enum(values) => {
                for value in &values.values {
                    if value.node.description.is_none() {
                        missing.push(format!("{name}.{}", value.node.value.node));
                    }
                }
            }
            _ => {}
        }
    }
    assert!(missing.is_empty(), "undescribed: {missing:?}");
}

/// `Type.field(arg: T, …): R` for every field of every object and input type.
fn signatures() -> Vec<String> {
    let document = parse_schema(taskql::graphql::sdl()).expect("valid SDL");
    let mut out = Vec::new();
    for definition in &document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let name = &ty.node.name.node;
        match &ty.node.kind {
            TypeKind::Object(object) => {
                for field in &object.fields {
                    let field = &field.node;
                    let args: Vec<String> = field
                        .arguments
                        .iter()
                        .map(|arg| format!("{}: {}", arg.node.name.node, arg.node.ty.node))
                        .collect();
                    let args = if args.is_empty() {
                        String::new()
                    } else {
                        format!("({})", args.join(", "))
                    };
                    out.push(format!(
                        "{name}.{}{args}: {}",
                        field.name.node, field.ty.node
                    ));
                }
            }
            TypeKind::InputObject(input) => {
                for field in &input.fields {
                    let field = &field.node;
                    let default = field
                        .default_value
                        .as_ref()
                        .map(|value| format!(" = {}", value.node))
                        .unwrap_or_default();
                    out.push(format!(
                        "{name}.{}: {}{default}",
                        field.name.node, field.ty.node
                    ));
                }
            }
            TypeKind::Enum(values) => {
                let values: Vec<&str> = values
                    .values
                    .iter()
                    .map(|v| v.node.value.node.as_str())
                    .collect();
                out.push(format!("enum {name} {{ {} }}", values.join(" ")));
            }
            _ => {}
        }
    }
    out
}

#[test]
fn the_schema_honours_the_contracts_names_and_nullability() {
    let signatures = signatures();
    for expected in [
        "Query.me: User!",
        "Query.task(id: ID!): Task",
        "Query.tasks(first: Int, after: String, last: Int, before: String, filter: TaskFilter, orderBy: [TaskOrder!]): TaskConnection!",
        "Subscription.taskEvents: TaskEvent!",
        "TaskEvent.kind: TaskEventKind!",
        "TaskEvent.taskId: ID!",
        "TaskEvent.task: Task",
        "TaskFilter.status: [TaskStatus!]",
        "TaskFilter.priority: [TaskPriority!]",
        "TaskFilter.search: String",
        "TaskFilter.dueBefore: DateTime",
        "TaskFilter.dueAfter: DateTime",
        "TaskFilter.overdue: Boolean",
        "TaskOrder.field: TaskOrderField!",
        "TaskOrder.direction: OrderDirection!",
        "enum TaskOrderField { CREATED_AT UPDATED_AT DUE_AT PRIORITY TITLE }",
        "enum OrderDirection { ASC DESC }",
        "enum TaskEventKind { CREATED UPDATED DELETED }",
        "Mutation.register(input: RegisterInput!): User!",
        "Mutation.login(input: LoginInput!): AuthPayload!",
        "Mutation.createTask(input: CreateTaskInput!): Task!",
        "Mutation.updateTask(id: ID!, input: UpdateTaskInput!): Task!",
        "Mutation.deleteTask(id: ID!): ID!",
        "User.id: ID!",
        "User.username: String!",
        "User.email: String!",
        "User.role: Role!",
        "User.isActive: Boolean!",
        "User.emailVerified: Boolean!",
        "User.createdAt: DateTime!",
        "Task.id: ID!",
        "Task.title: String!",
        "Task.description: String",
        "Task.status: TaskStatus!",
        "Task.priority: TaskPriority!",
        "Task.dueAt: DateTime",
        "Task.completedAt: DateTime",
        "Task.createdAt: DateTime!",
        "Task.updatedAt: DateTime!",
        "Task.owner: User!",
        "AuthPayload.accessToken: String!",
        "AuthPayload.tokenType: String!",
        "AuthPayload.expiresIn: Int!",
        "AuthPayload.user: User!",
        "AuthPayload.refreshToken: String!",
        "AuthPayload.refreshExpiresIn: Int!",
        "Query.sessions: [Session!]!",
        "Query.passwordStrength(password: String!, username: String, email: String): PasswordStrength!",
        "Mutation.refreshToken(refreshToken: String!): AuthPayload!",
        "Mutation.logout(refreshToken: String!): Boolean!",
        "Mutation.logoutAll: Boolean!",
        "Mutation.revokeSession(id: ID!): Boolean!",
        "Mutation.changePassword(currentPassword: String!, newPassword: String!, code: String): Boolean!",
        "Mutation.deleteAccount(password: String!, code: String): Boolean!",
        "Mutation.requestEmailVerification(email: String): Boolean!",
        "Mutation.verifyEmail(token: String!): Boolean!",
        "Mutation.requestPasswordReset(email: String!): Boolean!",
        "Mutation.resetPassword(token: String!, newPassword: String!, code: String): Boolean!",
        "Mutation.changeEmail(newEmail: String!, password: String!, code: String): Boolean!",
        "Mutation.beginTwoFactorSetup(password: String!): TwoFactorSetup!",
        "Mutation.enableTwoFactor(code: String!): [String!]!",
        "Mutation.disableTwoFactor(password: String!, code: String!): Boolean!",
        "Mutation.regenerateRecoveryCodes(password: String!, code: String!): [String!]!",
        "Mutation.verifyLogin(challenge: String!, code: String!): AuthPayload!",
        "Query.securityEvents(first: Int, after: String): SecurityEventConnection!",
        "User.twoFactorEnabled: Boolean!",
        "User.lastLoginAt: DateTime",
        "TwoFactorSetup.secret: String!",
        "TwoFactorSetup.otpauthUri: String!",
        "TwoFactorSetup.qrCodeSvg: String!",
        "SecurityEvent.id: ID!",
        "SecurityEvent.kind: SecurityEventKind!",
        "SecurityEvent.at: DateTime!",
        "SecurityEvent.ip: String",
        "SecurityEvent.userAgent: String",
        "SecurityEvent.sessionId: ID",
        "SecurityEvent.user: User",
        "SecurityEvent.actor: User",
        "SecurityEventEdge.cursor: String!",
        "SecurityEventEdge.node: SecurityEvent!",
        "SecurityEventConnection.edges: [SecurityEventEdge!]!",
        "SecurityEventConnection.nodes: [SecurityEvent!]!",
        "SecurityEventConnection.pageInfo: PageInfo!",
        "enum SecurityEventKind { REGISTERED LOGIN_SUCCEEDED LOGIN_FAILED LOGIN_THROTTLED SECOND_FACTOR_FAILED PASSWORD_CHANGED PASSWORD_RESET_REQUESTED PASSWORD_RESET EMAIL_VERIFIED EMAIL_CHANGE_REQUESTED EMAIL_CHANGED TWO_FACTOR_ENABLED TWO_FACTOR_DISABLED RECOVERY_CODE_USED RECOVERY_CODES_REGENERATED SESSION_REVOKED ALL_SESSIONS_REVOKED REFRESH_REUSE_DETECTED ACCOUNT_DEACTIVATED ACCOUNT_ACTIVATED ROLE_CHANGED ACCOUNT_DELETED }",
        "UserEdge.cursor: String!",
        "UserEdge.node: User!",
        "UserConnection.edges: [UserEdge!]!",
        "UserConnection.nodes: [User!]!",
        "UserConnection.pageInfo: PageInfo!",
        "UserConnection.totalCount: Int!",
        "UserFilter.search: String",
        "UserFilter.role: Role",
        "UserFilter.isActive: Boolean",
        "UserFilter.emailVerified: Boolean",
        "Query.users(first: Int, after: String, filter: UserFilter): UserConnection!",
        "Query.user(id: ID!): User",
        "Query.auditLog(first: Int, after: String, userId: ID, kinds: [SecurityEventKind!]): SecurityEventConnection!",
        "Mutation.setUserRole(id: ID!, role: Role!): User!",
        "Mutation.setUserActive(id: ID!, active: Boolean!): User!",
        "Mutation.revokeUserSessions(id: ID!): Int!",
        "Mutation.deleteUser(id: ID!): Boolean!",
        "Session.id: ID!",
        "Session.createdAt: DateTime!",
        "Session.lastUsedAt: DateTime!",
        "Session.expiresAt: DateTime!",
        "Session.userAgent: String",
        "Session.ip: String",
        "Session.current: Boolean!",
        "PasswordStrength.acceptable: Boolean!",
        "PasswordStrength.score: Int!",
        "PasswordStrength.reasons: [String!]!",
        "PasswordStrength.suggestions: [String!]!",
        "PageInfo.hasNextPage: Boolean!",
        "PageInfo.hasPreviousPage: Boolean!",
        "PageInfo.startCursor: String",
        "PageInfo.endCursor: String",
        "TaskEdge.cursor: String!",
        "TaskEdge.node: Task!",
        "TaskConnection.edges: [TaskEdge!]!",
        "TaskConnection.nodes: [Task!]!",
        "TaskConnection.pageInfo: PageInfo!",
        "TaskConnection.totalCount: Int!",
        "RegisterInput.username: String!",
        "RegisterInput.email: String!",
        "RegisterInput.password: String!",
        "LoginInput.username: String!",
        "LoginInput.password: String!",
        "CreateTaskInput.title: String!",
        "CreateTaskInput.description: String",
        "CreateTaskInput.status: TaskStatus = TODO",
        "CreateTaskInput.priority: TaskPriority = MEDIUM",
        "CreateTaskInput.dueAt: DateTime",
        "UpdateTaskInput.title: String",
        "UpdateTaskInput.description: String",
        "UpdateTaskInput.status: TaskStatus",
        "UpdateTaskInput.priority: TaskPriority",
        "UpdateTaskInput.dueAt: DateTime",
        "enum Role { USER ADMIN }",
        "enum TaskStatus { TODO IN_PROGRESS DONE }",
        "enum TaskPriority { LOW MEDIUM HIGH URGENT }",
    ] {
        assert!(
            signatures.contains(&expected.to_owned()),
            "missing `{expected}` in {signatures:#?}"
        );
    }
}

/// The root fields that lead to tasks: every one of them reads or writes the viewer's own,
/// through the owner-scoped repository. No other root field may.
const VIEWER_TASK_FIELDS: [(&str, &str); 5] = [
    ("Query", "task"),
    ("Query", "tasks"),
    ("Mutation", "createTask"),
    ("Mutation", "updateTask"),
    ("Subscription", "taskEvents"),
];

/// Every object type's fields, each with the named type it returns.
fn returned_types() -> HashMap<String, Vec<(String, String)>> {
    let document = parse_schema(taskql::graphql::sdl()).expect("valid SDL");
    let mut types = HashMap::new();
    for definition in &document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let ty = &ty.node;
        let fields = match &ty.kind {
            TypeKind::Object(object) => object
                .fields
                .iter()
                .map(|field| {
                    let named = field.node.ty.node.to_string();
                    let named = named.trim_matches(|c| matches!(c, '[' | ']' | '!'));
                    (field.node.name.node.to_string(), named.to_owned())
                })
                .collect(),
            TypeKind::Interface(_) | TypeKind::Union(_) => {
                panic!("the walk follows object types only: {}", ty.name.node)
            }
            _ => Vec::new(),
        };
        types.insert(ty.name.node.to_string(), fields);
    }
    types
}

/// A path of fields from `root.field` to a task type, if there is one.
fn path_to_tasks(
    types: &HashMap<String, Vec<(String, String)>>,
    root: &str,
    field: &str,
) -> Option<String> {
    let start = &types[root]
        .iter()
        .find(|(name, _)| name == field)
        .unwrap_or_else(|| panic!("{root}.{field} is missing"))
        .1;
    let mut seen = HashSet::new();
    let mut stack = vec![(start.clone(), format!("{root}.{field}"))];
    while let Some((ty, path)) = stack.pop() {
        if ty.starts_with("Task") {
            return Some(format!("{path}: {ty}"));
        }
        if !seen.insert(ty.clone()) {
            continue;
        }
        for (field, returned) in types.get(&ty).into_iter().flatten() {
            stack.push((returned.clone(), format!("{path} -> {ty}.{field}")));
        }
    }
    None
}

#[test]
fn no_admin_field_and_no_type_it_returns_leads_to_anyones_tasks() {
    // Walked from every root field, so an admin field added later is walked too.
    let types = returned_types();
    let mut reaching = Vec::new();
    for root in ["Query", "Mutation", "Subscription"] {
        for (field, _) in &types[root] {
            if let Some(path) = path_to_tasks(&types, root, field) {
                reaching.push(((root, field.as_str()), path));
            }
        }
    }
    let mut fields: Vec<(&str, &str)> = reaching.iter().map(|(field, _)| *field).collect();
    fields.sort_unstable();
    let mut allowed = VIEWER_TASK_FIELDS;
    allowed.sort_unstable();
    assert_eq!(fields, allowed, "{reaching:#?}");
}
