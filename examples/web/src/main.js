// A small taskql client: urql for queries and mutations, graphql-ws for live task events,
// a Security panel for two-factor authentication and the account's security history, and
// for administrators an Administration view of every account and the audit log.
// Vite serves this page for every path; the path picks what it shows: the task app, or one
// of the pages that the links in taskql's emails open (verify-email, reset-password) and
// the form that asks for a reset link (forgot-password).
import { Client, cacheExchange, fetchExchange, gql } from '@urql/core';
import { createClient as createWsClient } from 'graphql-ws';

const API_URL = import.meta.env.VITE_TASKQL_URL ?? 'http://127.0.0.1:8000/graphql';
const WS_URL = API_URL.replace(/^http/, 'ws') + '/ws';
const PAGE_SIZE = 5;
const EVENTS_PAGE_SIZE = 5;
const USERS_PAGE_SIZE = 5;
const AUDIT_SIZE = 10;
const TOKEN_KEY = 'taskql.token';
const USER_KEY = 'taskql.username';

const REGISTER = gql`
  mutation Register($input: RegisterInput!) { register(input: $input) { id } }
`;
const LOGIN = gql`
  mutation Login($input: LoginInput!) { login(input: $input) { accessToken user { username } } }
`;
const VERIFY_LOGIN = gql`
  mutation VerifyLogin($challenge: String!, $code: String!) {
    verifyLogin(challenge: $challenge, code: $code) { accessToken user { username } }
  }
`;
const TASKS = gql`
  query Tasks($first: Int, $after: String, $last: Int, $before: String, $filter: TaskFilter) {
    tasks(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
      totalCount
      nodes { id title status }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`;
const CREATE = gql`
  mutation Create($input: CreateTaskInput!) { createTask(input: $input) { id } }
`;
const UPDATE = gql`
  mutation Update($id: ID!, $input: UpdateTaskInput!) { updateTask(id: $id, input: $input) { id status } }
`;
const DELETE = gql`
  mutation Delete($id: ID!) { deleteTask(id: $id) }
`;
const EVENTS = `subscription { taskEvents { kind taskId } }`;
const ME = gql`
  query Me { me { id username email role emailVerified twoFactorEnabled } }
`;
const BEGIN_TWO_FACTOR = gql`
  mutation BeginTwoFactor($password: String!) {
    beginTwoFactorSetup(password: $password) { secret qrCodeSvg }
  }
`;
const ENABLE_TWO_FACTOR = gql`
  mutation EnableTwoFactor($code: String!) { enableTwoFactor(code: $code) }
`;
const REGENERATE_CODES = gql`
  mutation RegenerateCodes($password: String!, $code: String!) {
    regenerateRecoveryCodes(password: $password, code: $code)
  }
`;
const DISABLE_TWO_FACTOR = gql`
  mutation DisableTwoFactor($password: String!, $code: String!) {
    disableTwoFactor(password: $password, code: $code)
  }
`;
const SECURITY_EVENTS = gql`
  query SecurityEvents($first: Int, $after: String) {
    securityEvents(first: $first, after: $after) {
      edges { cursor node { kind at ip userAgent } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;
const USERS = gql`
  query Users($first: Int, $after: String, $filter: UserFilter) {
    users(first: $first, after: $after, filter: $filter) {
      totalCount
      nodes { id username email role isActive emailVerified lastLoginAt }
      pageInfo { hasNextPage endCursor }
    }
  }
`;
const AUDIT_LOG = gql`
  query AuditLog($first: Int) {
    auditLog(first: $first) {
      nodes { id kind role at user { username } actor { username } }
    }
  }
`;
const SET_USER_ACTIVE = gql`
  mutation SetUserActive($id: ID!, $active: Boolean!) {
    setUserActive(id: $id, active: $active) { id isActive }
  }
`;
const SET_USER_ROLE = gql`
  mutation SetUserRole($id: ID!, $role: Role!) { setUserRole(id: $id, role: $role) { id role } }
`;
const REQUEST_VERIFICATION = gql`
  mutation RequestVerification { requestEmailVerification }
`;
const VERIFY_EMAIL = gql`
  mutation VerifyEmail($token: String!) { verifyEmail(token: $token) }
`;
const REQUEST_RESET = gql`
  mutation RequestReset($email: String!) { requestPasswordReset(email: $email) }
`;
const RESET_PASSWORD = gql`
  mutation ResetPassword($token: String!, $newPassword: String!, $code: String) {
    resetPassword(token: $token, newPassword: $newPassword, code: $code)
  }
`;

/** What the security history calls each kind of event. */
const EVENT_LABELS = {
  REGISTERED: 'Account created',
  LOGIN_SUCCEEDED: 'Signed in',
  LOGIN_FAILED: 'Wrong password',
  LOGIN_THROTTLED: 'Guesses held back',
  SECOND_FACTOR_FAILED: 'Wrong two-factor code',
  PASSWORD_CHANGED: 'Password changed',
  PASSWORD_RESET_REQUESTED: 'Password reset link sent',
  PASSWORD_RESET: 'Password reset',
  EMAIL_VERIFIED: 'Address verified',
  EMAIL_CHANGE_REQUESTED: 'Move to another address asked for',
  EMAIL_CHANGED: 'Address changed',
  TWO_FACTOR_ENABLED: 'Two-factor turned on',
  TWO_FACTOR_DISABLED: 'Two-factor turned off',
  RECOVERY_CODE_USED: 'Recovery code used',
  RECOVERY_CODES_REGENERATED: 'New recovery codes made',
  SESSION_REVOKED: 'Session ended',
  ALL_SESSIONS_REVOKED: 'Every session ended',
  REFRESH_REUSE_DETECTED: 'Reused refresh token: its session ended',
  ACCOUNT_DEACTIVATED: 'Account deactivated by an operator',
  ACCOUNT_ACTIVATED: 'Account activated again by an operator',
  ROLE_CHANGED: 'Role changed',
  ACCOUNT_DELETED: 'Account deleted',
};
/** What a change of role is called by the role it gave (`role` is set on those alone). */
const ROLE_LABELS = { ADMIN: 'Made an administrator', USER: 'Made a user' };
const WRONG_CODE = 'That code is not right, or was used already: try another.';

const PAGES = {
  '/verify-email': 'verify-page',
  '/forgot-password': 'forgot-page',
  '/reset-password': 'reset-page',
};
const route = location.pathname.replace(/\/+$/, '') || '/';
const onApp = !(route in PAGES);

const $ = (id) => document.getElementById(id);
const state = {
  // The email pages need no session, and a stale one must not get in their way.
  token: onApp ? localStorage.getItem(TOKEN_KEY) : null,
  username: localStorage.getItem(USER_KEY),
  page: { first: PAGE_SIZE },
  pageInfo: null,
  search: '',
  ws: null,
  // The login waiting for its second step.
  challenge: null,
  // Where the security history goes on, and which load of it is the latest.
  eventsCursor: null,
  eventsLoads: 0,
  // The signed-in account's id, which the Administration view must not act on.
  viewerId: null,
  // The accounts page: the search, its `after`, the `after`s of the pages before it (the
  // list pages forward only), its last cursor, and which load of it is the latest.
  users: { search: '', after: null, earlier: [], endCursor: null, loads: 0 },
  // Which load of the audit log is the latest.
  auditLoads: 0,
};

const client = new Client({
  url: API_URL,
  exchanges: [cacheExchange, fetchExchange],
  requestPolicy: 'network-only',
  fetchOptions: () => ({
    headers: state.token ? { Authorization: `Bearer ${state.token}` } : {},
  }),
});

/** Shows a status line: a problem unless `ok`. */
function say(text, ok = false) {
  $('message').textContent = text;
  $('message').classList.toggle('ok', ok);
}

/** The first error's `extensions.code`, or null. */
function errorCode(result) {
  return result.error?.graphQLErrors[0]?.extensions?.code ?? null;
}

/** The first error's message, or null; UNAUTHENTICATED signs the viewer out. */
function problem(result) {
  if (!result.error) return null;
  const error = result.error.graphQLErrors[0];
  if (error?.extensions?.code === 'UNAUTHENTICATED' && state.token) {
    signOut();
    return 'Your session has ended: please log in again.';
  }
  return error?.message ?? result.error.message;
}

async function loadPage() {
  const filter = state.search ? { search: state.search } : null;
  const result = await client.query(TASKS, { ...state.page, filter }).toPromise();
  const error = problem(result);
  if (error) return say(error);
  const { nodes, totalCount, pageInfo } = result.data.tasks;
  if (nodes.length === 0 && pageInfo.hasPreviousPage) {
    // The page emptied (its tasks were deleted): start again from the first page.
    state.page = { first: PAGE_SIZE };
    return loadPage();
  }
  state.pageInfo = pageInfo;
  const list = $('tasks');
  list.replaceChildren(
    ...nodes.map((task) => {
      const item = document.createElement('li');
      item.dataset.id = task.id;
      item.className = task.status === 'DONE' ? 'done' : '';
      const done = document.createElement('input');
      done.type = 'checkbox';
      done.checked = task.status === 'DONE';
      done.title = 'Done';
      done.addEventListener('change', () => setDone(task.id, done.checked));
      const title = document.createElement('span');
      title.className = 'title';
      title.textContent = task.title;
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = 'Delete';
      remove.addEventListener('click', () => removeTask(task.id));
      item.append(done, title, remove);
      return item;
    }),
  );
  $('count').textContent = `${totalCount} task${totalCount === 1 ? '' : 's'}`;
  $('prev').disabled = !pageInfo.hasPreviousPage;
  $('next').disabled = !pageInfo.hasNextPage;
}

async function mutate(document, variables) {
  const result = await client.mutation(document, variables).toPromise();
  const error = problem(result);
  say(error ?? '');
  return !error;
}

async function setDone(id, done) {
  await mutate(UPDATE, { id, input: { status: done ? 'DONE' : 'TODO' } });
  await loadPage();
}

async function removeTask(id) {
  await mutate(DELETE, { id });
  await loadPage();
}

function listen() {
  state.ws?.dispose();
  state.ws = createWsClient({
    url: WS_URL,
    connectionParams: () => ({ Authorization: `Bearer ${state.token}` }),
    retryAttempts: 3,
    on: {
      connected: () => {
        $('live').textContent = 'live';
        $('live').classList.add('on');
      },
      closed: () => {
        $('live').textContent = 'offline';
        $('live').classList.remove('on');
      },
    },
  });
  state.ws.subscribe(
    { query: EVENTS },
    { next: () => loadPage(), error: () => undefined, complete: () => undefined },
  );
}

/**
 * Shows the app for `token`. Only a sign-in made here is written to the shared storage: a
 * tab following another's may not have its username yet, and must not write it back empty.
 */
function signIn(token, username, { store = true } = {}) {
  state.token = token;
  state.username = username;
  if (store) {
    // The name first: other tabs act on the token's change and read the name then.
    localStorage.setItem(USER_KEY, username);
    localStorage.setItem(TOKEN_KEY, token);
  }
  $('auth').hidden = true;
  showPasswordStep();
  resetSecurity();
  resetAdmin();
  $('app').hidden = false;
  $('viewer').textContent = username;
  state.page = { first: PAGE_SIZE };
  listen();
  return Promise.all([loadPage(), loadViewer()]);
}

/**
 * Shows the viewer's name as the server knows it, the "verify your address" notice while
 * the address is unconfirmed, and the Administration view to an administrator.
 */
async function loadViewer() {
  const result = await client.query(ME, {}).toPromise();
  if (problem(result)) return;
  const { id, username, email, role, emailVerified, twoFactorEnabled } = result.data.me;
  $('viewer').textContent = username;
  $('verify-address').textContent = email;
  $('verify-notice').hidden = emailVerified;
  showTwoFactor(twoFactorEnabled);
  showAdmin(id, role === 'ADMIN');
}

function signOut() {
  state.token = null;
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
  state.ws?.dispose();
  state.ws = null;
  $('app').hidden = true;
  $('verify-notice').hidden = true;
  resetSecurity();
  resetAdmin();
  $('auth').hidden = false;
}

/** Shows the password step of signing in, `message` under it. */
function showPasswordStep(message = '') {
  state.challenge = null;
  $('second-factor-form').reset();
  $('second-factor-form').hidden = true;
  $('auth-form').hidden = false;
  say(message);
}

/** The second step: the password checked out, and `challenge` waits for a code. */
function askForCode(challenge) {
  state.challenge = challenge;
  $('auth-form').hidden = true;
  $('second-factor-form').hidden = false;
  $('second-factor-form').elements.code.focus();
  say('Enter the code your authenticator app shows, or one of your recovery codes.', true);
}

$('auth-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const username = String(form.get('username'));
  const password = String(form.get('password'));
  if (event.submitter?.value === 'register') {
    const email = String(form.get('email'));
    const registered = await client
      .mutation(REGISTER, { input: { username, email, password } })
      .toPromise();
    const error = problem(registered);
    if (error) return say(error);
  }
  const result = await client.mutation(LOGIN, { input: { username, password } }).toPromise();
  const challenge = result.error?.graphQLErrors[0]?.extensions?.challenge;
  if (errorCode(result) === 'SECOND_FACTOR_REQUIRED' && challenge) {
    event.target.reset();
    return askForCode(challenge);
  }
  const error = problem(result);
  if (error) return say(error);
  say('');
  event.target.reset();
  await signIn(result.data.login.accessToken, result.data.login.user.username);
});

$('second-factor-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = event.target.elements.code;
  event.submitter.disabled = true;
  const result = await client
    .mutation(VERIFY_LOGIN, { challenge: state.challenge, code: input.value })
    .toPromise();
  event.submitter.disabled = false;
  if (result.error) {
    // A wrong code keeps the challenge for a few more tries; a dead or expired one
    // means starting again from the password.
    switch (errorCode(result)) {
      case 'SECOND_FACTOR_REQUIRED':
        input.value = '';
        return say(WRONG_CODE);
      case 'UNAUTHENTICATED':
        return showPasswordStep('That sign-in ran out of time or of tries: enter your password again.');
      default:
        return say(problem(result));
    }
  }
  await signIn(result.data.verifyLogin.accessToken, result.data.verifyLogin.user.username);
});
$('second-factor-back').addEventListener('click', () => showPasswordStep());

$('add-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = event.target.elements.title;
  if (await mutate(CREATE, { input: { title: input.value } })) {
    input.value = '';
    state.page = { first: PAGE_SIZE };
    await loadPage();
  }
});

let searchTimer;
$('search').addEventListener('input', (event) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    state.search = event.target.value;
    state.page = { first: PAGE_SIZE };
    loadPage();
  }, 200);
});

$('next').addEventListener('click', () => {
  state.page = { first: PAGE_SIZE, after: state.pageInfo?.endCursor };
  loadPage();
});
$('prev').addEventListener('click', () => {
  state.page = { last: PAGE_SIZE, before: state.pageInfo?.startCursor };
  loadPage();
});
$('logout').addEventListener('click', signOut);

/** The Security panel as a new sign-in finds it: closed, no setup, no codes, no history. */
function resetSecurity() {
  $('security').open = false;
  endSetup();
  hideRecoveryCodes();
  $('two-factor-begin-form').reset();
  $('two-factor-manage-form').reset();
  $('two-factor-status').textContent = '';
  $('two-factor-begin-form').hidden = true;
  $('two-factor-manage-form').hidden = true;
  state.eventsLoads += 1;
  state.eventsCursor = null;
  $('security-events').replaceChildren();
  $('more-events').hidden = true;
}

/** Shows the forms for two-factor being on or off. */
function showTwoFactor(enabled) {
  $('two-factor-status').textContent = enabled
    ? 'Two-factor is on: signing in takes a code from your authenticator app, or a recovery code.'
    : 'Two-factor is off: your password alone signs you in.';
  $('two-factor-begin-form').hidden = enabled || !$('two-factor-setup').hidden;
  $('two-factor-manage-form').hidden = !enabled;
}

function endSetup() {
  $('two-factor-enable-form').reset();
  $('two-factor-setup').hidden = true;
  $('two-factor-qr').removeAttribute('src');
  $('two-factor-secret').textContent = '';
}

function showRecoveryCodes(codes) {
  $('recovery-code-list').replaceChildren(
    ...codes.map((code) => {
      const item = document.createElement('li');
      item.textContent = code;
      return item;
    }),
  );
  $('recovery-codes').hidden = false;
}

function hideRecoveryCodes() {
  $('recovery-code-list').replaceChildren();
  $('recovery-codes').hidden = true;
}

/** The first page of the security history, or with `after` the page after it. */
async function loadSecurityEvents(after = null) {
  const load = ++state.eventsLoads;
  const result = await client
    .query(SECURITY_EVENTS, { first: EVENTS_PAGE_SIZE, after })
    .toPromise();
  // A newer load (or a sign-out) came in the meantime.
  if (load !== state.eventsLoads) return;
  const error = problem(result);
  if (error) return say(error);
  const { edges, pageInfo } = result.data.securityEvents;
  const items = edges.map(({ node }) => {
    const item = document.createElement('li');
    item.dataset.kind = node.kind;
    const what = document.createElement('strong');
    what.textContent = EVENT_LABELS[node.kind] ?? node.kind;
    const when = document.createElement('time');
    when.dateTime = node.at;
    when.textContent = new Date(node.at).toLocaleString();
    item.append(what, ' · ', when);
    const where = [node.ip, node.userAgent].filter(Boolean).join(' · ');
    if (where) {
      const from = document.createElement('span');
      from.className = 'where';
      from.textContent = where;
      item.append(from);
    }
    return item;
  });
  if (after) $('security-events').append(...items);
  else $('security-events').replaceChildren(...items);
  state.eventsCursor = pageInfo.endCursor;
  $('more-events').hidden = !pageInfo.hasNextPage;
}

/** The history again from its newest event, while the panel is open. */
function refreshSecurityEvents() {
  if ($('security').open) loadSecurityEvents();
}

$('security').addEventListener('toggle', refreshSecurityEvents);
$('more-events').addEventListener('click', () => loadSecurityEvents(state.eventsCursor));

$('two-factor-begin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const password = event.target.elements.password.value;
  const result = await client.mutation(BEGIN_TWO_FACTOR, { password }).toPromise();
  const error = problem(result);
  if (error) return say(error);
  say('');
  event.target.reset();
  event.target.hidden = true;
  const { secret, qrCodeSvg } = result.data.beginTwoFactorSetup;
  // As an image, the SVG can run no script and load nothing, whatever its markup says.
  $('two-factor-qr').src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(qrCodeSvg)}`;
  // In groups of four, for typing in by hand; authenticator apps ignore the spaces.
  $('two-factor-secret').textContent = secret.replace(/(.{4})(?=.)/g, '$1 ');
  $('two-factor-setup').hidden = false;
  $('two-factor-enable-form').elements.code.focus();
});

$('two-factor-enable-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const code = event.target.elements.code.value;
  const result = await client.mutation(ENABLE_TWO_FACTOR, { code }).toPromise();
  const error = problem(result);
  if (error) return say(error);
  endSetup();
  showTwoFactor(true);
  showRecoveryCodes(result.data.enableTwoFactor);
  say('Two-factor is on.', true);
  refreshSecurityEvents();
});

$('recovery-codes-saved').addEventListener('click', hideRecoveryCodes);

$('two-factor-manage-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const { password, code } = event.target.elements;
  const regenerate = event.submitter?.value === 'regenerate';
  const result = await client
    .mutation(regenerate ? REGENERATE_CODES : DISABLE_TWO_FACTOR, {
      password: password.value,
      code: code.value,
    })
    .toPromise();
  // A wrong code or password is in the history too.
  refreshSecurityEvents();
  if (errorCode(result) === 'SECOND_FACTOR_REQUIRED') return say(WRONG_CODE);
  const error = problem(result);
  if (error) return say(error);
  event.target.reset();
  if (regenerate) {
    showRecoveryCodes(result.data.regenerateRecoveryCodes);
    say('New recovery codes replace the old ones.', true);
  } else {
    hideRecoveryCodes();
    showTwoFactor(false);
    say('Two-factor is off.', true);
  }
});

let userSearchTimer;

/** The Administration view as a sign-in finds it: hidden and empty, on no account's page. */
function resetAdmin() {
  clearTimeout(userSearchTimer);
  $('admin').hidden = true;
  state.viewerId = null;
  state.users.loads += 1;
  state.auditLoads += 1;
  state.users.search = '';
  state.users.after = null;
  state.users.earlier = [];
  state.users.endCursor = null;
  $('user-search').value = '';
  $('users').tBodies[0].replaceChildren();
  $('users-count').textContent = '';
  $('users-prev').disabled = true;
  $('users-next').disabled = true;
  $('audit-events').replaceChildren();
}

/** Shows the Administration view to an administrator, `id` being their account. */
function showAdmin(id, isAdmin) {
  if (!isAdmin) return resetAdmin();
  if (!$('admin').hidden && state.viewerId === id) return;
  resetAdmin();
  state.viewerId = id;
  $('admin').hidden = false;
  loadUsers();
  loadAuditLog();
}

/** A cell of the accounts table. */
function cell(className, ...content) {
  const td = document.createElement('td');
  td.className = className;
  td.append(...content);
  return td;
}

/** A `<time>` for `at`, or `none` when there is no time. */
function timeOf(at, none = '') {
  if (!at) return none;
  const time = document.createElement('time');
  time.dateTime = at;
  time.textContent = new Date(at).toLocaleString();
  return time;
}

/** A button in an account's row; its accessible name says whose account it acts on. */
function rowButton(text, username, onClick) {
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = text;
  button.setAttribute('aria-label', `${text}: ${username}`);
  button.addEventListener('click', async () => {
    button.disabled = true;
    await onClick();
    button.disabled = false;
  });
  return button;
}

/** The buttons that activate or deactivate `user` and change its role. */
function rowActions({ id, username, isActive, role }) {
  const admin = role === 'ADMIN';
  return [
    rowButton(isActive ? 'Deactivate' : 'Activate', username, () =>
      adminAction(
        SET_USER_ACTIVE,
        { id, active: !isActive },
        `${username} is ${isActive ? 'deactivated' : 'active again'}.`,
      ),
    ),
    rowButton(admin ? 'Make user' : 'Make admin', username, () =>
      adminAction(
        SET_USER_ROLE,
        { id, role: admin ? 'USER' : 'ADMIN' },
        `${username} is now ${admin ? 'a user' : 'an administrator'}.`,
      ),
    ),
  ];
}

/** The current page of accounts. */
async function loadUsers() {
  const load = ++state.users.loads;
  const { search, after } = state.users;
  const filter = search ? { search } : null;
  const result = await client
    .query(USERS, { first: USERS_PAGE_SIZE, after, filter })
    .toPromise();
  // A newer load (or a sign-out) came in the meantime.
  if (load !== state.users.loads) return;
  const error = problem(result);
  if (error) {
    say(error);
    // What the table showed may no longer be true.
    $('users').tBodies[0].replaceChildren();
    $('users-count').textContent = '';
    $('users-prev').disabled = state.users.earlier.length === 0;
    $('users-next').disabled = true;
    // No longer an administrator, maybe: the viewer's role decides whether the view stays.
    if (errorCode(result) === 'FORBIDDEN') loadViewer();
    return;
  }
  const { nodes, totalCount, pageInfo } = result.data.users;
  if (nodes.length === 0 && state.users.earlier.length > 0) {
    // The page emptied (its accounts no longer match): start again from the first page.
    state.users.after = null;
    state.users.earlier = [];
    return loadUsers();
  }
  state.users.endCursor = pageInfo.endCursor;
  $('users').tBodies[0].replaceChildren(
    ...nodes.map((user) => {
      const row = document.createElement('tr');
      row.dataset.id = user.id;
      row.dataset.username = user.username;
      const own = user.id === state.viewerId;
      row.classList.toggle('you', own);
      row.classList.toggle('inactive', !user.isActive);
      row.append(
        cell('username', user.username),
        cell('email', user.email),
        cell('role', user.role === 'ADMIN' ? 'admin' : 'user'),
        cell('active', user.isActive ? 'yes' : 'no'),
        cell('verified', user.emailVerified ? 'yes' : 'no'),
        cell('last-login', timeOf(user.lastLoginAt, 'never')),
        // The API refuses these on the viewer's own account.
        cell('actions', ...(own ? ['you'] : rowActions(user))),
      );
      return row;
    }),
  );
  $('users-count').textContent = `${totalCount} account${totalCount === 1 ? '' : 's'}`;
  $('users-prev').disabled = state.users.earlier.length === 0;
  $('users-next').disabled = !pageInfo.hasNextPage;
}

/** The newest events of every account, with who acted where an administrator did. */
async function loadAuditLog() {
  const load = ++state.auditLoads;
  const result = await client.query(AUDIT_LOG, { first: AUDIT_SIZE }).toPromise();
  if (load !== state.auditLoads) return;
  const error = problem(result);
  if (error) return say(error);
  $('audit-events').replaceChildren(
    ...result.data.auditLog.nodes.map((event) => {
      const item = document.createElement('li');
      item.dataset.kind = event.kind;
      const what = document.createElement('strong');
      what.textContent = ROLE_LABELS[event.role] ?? EVENT_LABELS[event.kind] ?? event.kind;
      item.append(what, ' · ', timeOf(event.at));
      const who = document.createElement('span');
      who.className = 'where';
      const user = document.createElement('span');
      user.className = 'user';
      // The account is null once it is deleted; its history stays.
      user.textContent = event.user?.username ?? 'a deleted account';
      who.append('Account: ', user);
      if (event.actor) {
        const actor = document.createElement('span');
        actor.className = 'actor';
        actor.textContent = event.actor.username;
        who.append(' · by ', actor);
      }
      item.append(who);
      return item;
    }),
  );
}

/**
 * Runs an admin mutation, says `done` when it worked, and loads the page and the audit log
 * again whatever the outcome, so that they show what the server holds now.
 */
async function adminAction(document, variables, done) {
  const ok = await mutate(document, variables);
  // A session that ended on the way has signed the viewer out.
  if (!state.token) return;
  if (ok) say(done, true);
  await Promise.all([loadUsers(), loadAuditLog()]);
}

$('user-search').addEventListener('input', (event) => {
  clearTimeout(userSearchTimer);
  userSearchTimer = setTimeout(() => {
    state.users.search = event.target.value;
    state.users.after = null;
    state.users.earlier = [];
    loadUsers();
  }, 200);
});

$('users-next').addEventListener('click', () => {
  state.users.earlier.push(state.users.after);
  state.users.after = state.users.endCursor;
  loadUsers();
});
$('users-prev').addEventListener('click', () => {
  state.users.after = state.users.earlier.pop() ?? null;
  loadUsers();
});

$('resend-verification').addEventListener('click', async (event) => {
  event.target.disabled = true;
  const result = await client.mutation(REQUEST_VERIFICATION, {}).toPromise();
  event.target.disabled = false;
  const error = problem(result);
  if (error) return say(error);
  say(`A new link is on its way to ${$('verify-address').textContent}.`, true);
});

// The address may be confirmed in another tab, where the mail's link opened.
window.addEventListener('focus', () => {
  if (state.token && !$('verify-notice').hidden) loadViewer();
});

/**
 * The token a mail's link carries in its fragment (`#token=…`), which never reaches a
 * server. It is taken off the address bar at once, so that it stays in no history entry.
 */
function takeToken() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  history.replaceState(null, '', location.pathname + location.search);
  return token;
}

async function verifyEmail() {
  const token = takeToken();
  if (!token) return say('This link is incomplete: open the one in the email again.');
  say('Checking the link…', true);
  const result = await client.mutation(VERIFY_EMAIL, { token }).toPromise();
  const error = problem(result);
  if (error) return say(error);
  say('Your email address is verified.', true);
}

$('forgot-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const email = event.target.elements.email.value;
  const result = await client.mutation(REQUEST_RESET, { email }).toPromise();
  const error = problem(result);
  if (error) return say(error);
  say('If that address has an account, a reset link is on its way.', true);
});

function resetPassword() {
  const token = takeToken();
  if (!token) {
    $('reset-form').hidden = true;
    return say('This link is incomplete: open the one in the email again, or ask for a new one.');
  }
  $('reset-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const newPassword = event.target.elements.newPassword.value;
    const code = event.target.elements.code.value || null;
    // One request at a time: a second one would find the link spent by the first.
    event.submitter.disabled = true;
    const result = await client
      .mutation(RESET_PASSWORD, { token, newPassword, code })
      .toPromise();
    event.submitter.disabled = false;
    // With two-factor on, the link alone is not enough; it stays usable meanwhile.
    if (errorCode(result) === 'SECOND_FACTOR_REQUIRED') {
      const asked = !$('reset-code').hidden;
      $('reset-code').hidden = false;
      event.target.elements.code.required = true;
      event.target.elements.code.value = '';
      event.target.elements.code.focus();
      return say(
        asked
          ? WRONG_CODE
          : 'This account has two-factor on: enter a code from your authenticator app, or a recovery code.',
      );
    }
    // The form stays on an error: a weak password leaves the link usable.
    const error = problem(result);
    if (error) return say(error);
    // Every session has ended, this browser's too.
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(USER_KEY);
    event.target.hidden = true;
    say('Your password is changed and every session has ended. Sign in with the new password.', true);
  });
}

if (onApp) {
  $('auth').hidden = false;
  // Another tab signing in or out changes the shared storage.
  window.addEventListener('storage', (event) => {
    if (event.key !== TOKEN_KEY) return;
    if (!event.newValue) return signOut();
    signIn(event.newValue, localStorage.getItem(USER_KEY) ?? '', { store: false });
  });
  if (state.token) signIn(state.token, state.username ?? '', { store: false });
} else {
  $(PAGES[route]).hidden = false;
  if (route === '/verify-email') verifyEmail();
  if (route === '/reset-password') resetPassword();
}
