// A small taskql client: urql for queries and mutations, graphql-ws for live task events.
// Vite serves this page for every path; the path picks what it shows: the task app, or one
// of the pages that the links in taskql's emails open (verify-email, reset-password) and
// the form that asks for a reset link (forgot-password).
import { Client, cacheExchange, fetchExchange, gql } from '@urql/core';
import { createClient as createWsClient } from 'graphql-ws';

const API_URL = import.meta.env.VITE_TASKQL_URL ?? 'http://127.0.0.1:8000/graphql';
const WS_URL = API_URL.replace(/^http/, 'ws') + '/ws';
const PAGE_SIZE = 5;
const TOKEN_KEY = 'taskql.token';
const USER_KEY = 'taskql.username';

const REGISTER = gql`
  mutation Register($input: RegisterInput!) { register(input: $input) { id } }
`;
const LOGIN = gql`
  mutation Login($input: LoginInput!) { login(input: $input) { accessToken user { username } } }
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
  query Me { me { id username email emailVerified } }
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
  mutation ResetPassword($token: String!, $newPassword: String!) {
    resetPassword(token: $token, newPassword: $newPassword)
  }
`;

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
  $('app').hidden = false;
  $('viewer').textContent = username;
  state.page = { first: PAGE_SIZE };
  listen();
  return Promise.all([loadPage(), loadViewer()]);
}

/**
 * Shows the viewer's name as the server knows it, and the "verify your address" notice
 * while the address is unconfirmed.
 */
async function loadViewer() {
  const result = await client.query(ME, {}).toPromise();
  if (problem(result)) return;
  const { username, email, emailVerified } = result.data.me;
  $('viewer').textContent = username;
  $('verify-address').textContent = email;
  $('verify-notice').hidden = emailVerified;
}

function signOut() {
  state.token = null;
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
  state.ws?.dispose();
  state.ws = null;
  $('app').hidden = true;
  $('verify-notice').hidden = true;
  $('auth').hidden = false;
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
  const error = problem(result);
  if (error) return say(error);
  say('');
  event.target.reset();
  await signIn(result.data.login.accessToken, result.data.login.user.username);
});

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
    // One request at a time: a second one would find the link spent by the first.
    event.submitter.disabled = true;
    const result = await client.mutation(RESET_PASSWORD, { token, newPassword }).toPromise();
    event.submitter.disabled = false;
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
