//! Every GraphQL document more than one test sends, named once.

/// The cheapest query.
pub const TYPENAME: &str = "{ __typename }";
/// The viewer's id: the probe of whether a token authenticates.
pub const ME: &str = "{ me { id } }";

/// Sign-up with `$input`, answering the id.
pub const REGISTER: &str = "mutation($input: RegisterInput!) { register(input: $input) { id } }";
/// Sign-up with `$input`, answering every field of the new user.
pub const REGISTER_FULL: &str = "mutation($input: RegisterInput!) { register(input: $input) { id username email role isActive emailVerified createdAt } }";
/// Login with `$input`, answering the access token.
pub const LOGIN: &str = "mutation($input: LoginInput!) { login(input: $input) { accessToken } }";
/// Login with `$input`, answering everything a client reads.
pub const LOGIN_FULL: &str = "mutation($input: LoginInput!) { login(input: $input) { accessToken tokenType expiresIn refreshToken refreshExpiresIn user { id username } } }";
/// Refresh with `$t`, answering everything a client reads.
pub const REFRESH: &str = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken tokenType expiresIn refreshToken refreshExpiresIn user { id } } }";
/// Ends the session of refresh token `$t`.
pub const LOGOUT: &str = "mutation($t: String!) { logout(refreshToken: $t) }";
/// Ends every session of the viewer.
pub const LOGOUT_ALL: &str = "mutation { logoutAll }";
/// Ends the viewer's session `$id`.
pub const REVOKE_SESSION: &str = "mutation($id: ID!) { revokeSession(id: $id) }";
/// Changes the viewer's password from `$c` to `$n`.
pub const CHANGE_PASSWORD: &str =
    "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
/// Deletes the viewer's account, confirmed by password `$p`.
pub const DELETE_ACCOUNT: &str = "mutation($p: String!) { deleteAccount(password: $p) }";

/// Creates a task from `$input`, answering its id.
pub const CREATE_TASK: &str =
    "mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }";
/// Creates a task from `$input`, answering every field but the owner.
pub const CREATE_TASK_FULL: &str = "mutation($input: CreateTaskInput!) { createTask(input: $input) { id title description status priority dueAt completedAt createdAt updatedAt } }";
/// Deletes task `$id`.
pub const DELETE_TASK: &str = "mutation($id: ID!) { deleteTask(id: $id) }";
/// Task `$id` with every field but the owner.
pub const TASK: &str = "query($id: ID!) { task(id: $id) { id title description status priority dueAt completedAt createdAt updatedAt } }";
/// Task `$id`, only whether it is visible.
pub const TASK_ID: &str = "query($id: ID!) { task(id: $id) { id } }";
/// How many tasks the viewer has.
pub const TASK_COUNT: &str = "{ tasks { totalCount } }";

/// The viewer's task changes, with the task and its owner's name.
pub const TASK_EVENTS: &str =
    "subscription { taskEvents { kind taskId task { id title status owner { username } } } }";

/// Verification link, again.
pub const REQUEST_VERIFICATION: &str =
    "mutation($e: String) { requestEmailVerification(email: $e) }";
/// Uses a verification or change-of-address link.
pub const VERIFY_EMAIL: &str = "mutation($t: String!) { verifyEmail(token: $t) }";
/// Asks for a reset link.
pub const REQUEST_RESET: &str = "mutation($e: String!) { requestPasswordReset(email: $e) }";
/// Uses a reset link.
pub const RESET_PASSWORD: &str =
    "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
/// Asks to move the account to another address.
pub const CHANGE_EMAIL: &str =
    "mutation($e: String!, $p: String!) { changeEmail(newEmail: $e, password: $p) }";
/// What the account's address is and whether it is verified.
pub const ME_EMAIL: &str = "{ me { email emailVerified } }";

/// Starts a two-factor setup, confirmed by password `$p`.
pub const BEGIN_TWO_FACTOR: &str =
    "mutation($p: String!) { beginTwoFactorSetup(password: $p) { secret otpauthUri qrCodeSvg } }";
/// Confirms the setup with code `$c`, answering the recovery codes.
pub const ENABLE_TWO_FACTOR: &str = "mutation($c: String!) { enableTwoFactor(code: $c) }";
/// Turns two-factor off with password `$p` and code `$c`.
pub const DISABLE_TWO_FACTOR: &str =
    "mutation($p: String!, $c: String!) { disableTwoFactor(password: $p, code: $c) }";
/// New recovery codes, with password `$p` and code `$c`.
pub const REGENERATE_CODES: &str =
    "mutation($p: String!, $c: String!) { regenerateRecoveryCodes(password: $p, code: $c) }";
/// The second step of a login: challenge `$ch` and code `$c`.
pub const VERIFY_LOGIN: &str = "mutation($ch: String!, $c: String!) { verifyLogin(challenge: $ch, code: $c) { accessToken refreshToken user { id username twoFactorEnabled } } }";
/// Changes the password from `$p` to `$n`, with code `$c`.
pub const CHANGE_PASSWORD_CODE: &str = "mutation($p: String!, $n: String!, $c: String) { changePassword(currentPassword: $p, newPassword: $n, code: $c) }";
/// Deletes the account, with password `$p` and code `$c`.
pub const DELETE_ACCOUNT_CODE: &str =
    "mutation($p: String!, $c: String) { deleteAccount(password: $p, code: $c) }";
/// Asks to move the account to `$e`, with password `$p` and code `$c`.
pub const CHANGE_EMAIL_CODE: &str = "mutation($e: String!, $p: String!, $c: String) { changeEmail(newEmail: $e, password: $p, code: $c) }";
/// Uses reset link `$t` for password `$n`, with code `$c`.
pub const RESET_PASSWORD_CODE: &str = "mutation($t: String!, $n: String!, $c: String) { resetPassword(token: $t, newPassword: $n, code: $c) }";
/// The viewer's security history, `$first` after `$after`.
pub const SECURITY_EVENTS: &str = "query($first: Int, $after: String) { securityEvents(first: $first, after: $after) { edges { cursor node { id kind at ip userAgent sessionId user { id } actor { id } } } nodes { kind } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
/// Whether the viewer has two-factor on, and when they last logged in.
pub const ME_TWO_FACTOR: &str = "{ me { twoFactorEnabled lastLoginAt } }";

/// A page of every account, with everything the admin view reads.
pub const USERS: &str = "query($first: Int, $after: String, $filter: UserFilter) { users(first: $first, after: $after, filter: $filter) { totalCount edges { cursor node { id } } nodes { id username email role isActive emailVerified lastLoginAt } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
/// Account `$id`, as an administrator sees it.
pub const USER: &str =
    "query($id: ID!) { user(id: $id) { id username role isActive lastLoginAt } }";
/// A page of every account's security events, with their accounts and actors.
pub const AUDIT_LOG: &str = "query($first: Int, $after: String, $userId: ID, $kinds: [SecurityEventKind!]) { auditLog(first: $first, after: $after, userId: $userId, kinds: $kinds) { nodes { kind role user { id } actor { id username lastLoginAt } } pageInfo { hasNextPage endCursor } } }";
/// Gives account `$id` the role `$role`.
pub const SET_USER_ROLE: &str =
    "mutation($id: ID!, $role: Role!) { setUserRole(id: $id, role: $role) { id role } }";
/// Activates (`$active`) or deactivates account `$id`.
pub const SET_USER_ACTIVE: &str = "mutation($id: ID!, $active: Boolean!) { setUserActive(id: $id, active: $active) { id isActive } }";
/// Ends every session of account `$id`.
pub const REVOKE_USER_SESSIONS: &str = "mutation($id: ID!) { revokeUserSessions(id: $id) }";
/// Deletes account `$id`.
pub const DELETE_USER: &str = "mutation($id: ID!) { deleteUser(id: $id) }";
