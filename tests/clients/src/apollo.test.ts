// Apollo Client 4 against taskql: register, login, create and page tasks, with an auth link
// and an error link that refreshes the token on UNAUTHENTICATED and retries the operation.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache } from '@apollo/client';
import { SetContextLink } from '@apollo/client/link/context';
import { ErrorLink } from '@apollo/client/link/error';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { from as fromPromise, switchMap } from 'rxjs';

import {
  CreateTaskDocument,
  LoginDocument,
  LogoutDocument,
  MeDocument,
  RefreshTokenDocument,
  RegisterDocument,
  TaskPageDocument,
  type TaskPageQuery,
} from './generated/graphql.js';
import { HTTP_URL, PASSWORD, uniqueName } from './support.js';

/** A signed-in Apollo session: the tokens live here, the links read and renew them. */
class Session {
  token: string | null = null;
  refreshToken: string | null = null;
  refreshes = 0;
  readonly client: ApolloClient;

  constructor(
    readonly username: string,
    readonly password: string,
    extraLinks: ApolloLink[] = [],
    fetchImpl: typeof fetch = fetch,
  ) {
    const auth = new SetContextLink((prevContext) => ({
      headers: {
        ...prevContext.headers,
        ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}),
      },
    }));
    // On UNAUTHENTICATED, trade the refresh token for a new pair and retry the operation
    // once; a failed refresh reaches the caller, who must log in again.
    const refresh = new ErrorLink(({ error, operation, forward }) => {
      const unauthenticated =
        CombinedGraphQLErrors.is(error) &&
        error.errors.some((e) => e.extensions?.code === 'UNAUTHENTICATED');
      const exempt = ['Login', 'RefreshToken', 'Logout'].includes(operation.operationName ?? '');
      if (!unauthenticated || exempt || operation.getContext().retried || !this.refreshToken) {
        return;
      }
      operation.setContext({ retried: true });
      return fromPromise(this.refresh()).pipe(switchMap(() => forward(operation)));
    });
    this.client = new ApolloClient({
      link: ApolloLink.from([
        refresh,
        auth,
        ...extraLinks,
        new HttpLink({ uri: HTTP_URL, fetch: fetchImpl }),
      ]),
      cache: new InMemoryCache(),
    });
  }

  async register(): Promise<void> {
    const email = `${this.username}@example.com`;
    const { data } = await this.client.mutate({
      mutation: RegisterDocument,
      variables: { input: { username: this.username, email, password: this.password } },
    });
    assert.equal(data?.register.username, this.username);
  }

  async login(): Promise<void> {
    const { data } = await this.client.mutate({
      mutation: LoginDocument,
      variables: { input: { username: this.username, password: this.password } },
    });
    assert.ok(data, 'login returned data');
    assert.equal(data.login.tokenType, 'Bearer');
    assert.ok(data.login.refreshExpiresIn > data.login.expiresIn);
    this.token = data.login.accessToken;
    this.refreshToken = data.login.refreshToken;
  }

  async refresh(): Promise<void> {
    const { data } = await this.client.mutate({
      mutation: RefreshTokenDocument,
      variables: { refreshToken: this.refreshToken ?? '' },
    });
    assert.ok(data, 'refreshToken returned data');
    this.refreshes += 1;
    this.token = data.refreshToken.accessToken;
    this.refreshToken = data.refreshToken.refreshToken;
  }
}

test('Apollo Client registers, logs in, creates and pages tasks both ways', async () => {
  const session = new Session(uniqueName('apollo'), PASSWORD);
  await session.register();
  await session.login();
  const titles = Array.from({ length: 7 }, (_, i) => `apollo task ${i}`);
  for (const title of titles) {
    const { data } = await session.client.mutate({
      mutation: CreateTaskDocument,
      variables: { input: { title, priority: 'HIGH' } },
    });
    assert.equal(data?.createTask.title, title);
    assert.equal(data?.createTask.status, 'TODO');
  }

  const seen: string[] = [];
  let after: string | null = null;
  for (;;) {
    const result: { data?: TaskPageQuery } = await session.client.query({
      query: TaskPageDocument,
      variables: { first: 3, after },
      fetchPolicy: 'network-only',
    });
    const page = result.data?.tasks;
    assert.ok(page);
    assert.equal(page.totalCount, 7);
    assert.equal(page.pageInfo.hasPreviousPage, after !== null);
    for (const edge of page.edges) {
      assert.equal(edge.node.owner.username, session.username);
      seen.push(edge.node.title);
    }
    if (!page.pageInfo.hasNextPage) break;
    after = page.pageInfo.endCursor ?? null;
  }
  assert.deepEqual(seen, [...titles].reverse(), 'newest first, no repeats or gaps');

  const oldest = await session.client.query({
    query: TaskPageDocument,
    variables: { last: 2, orderBy: [{ field: 'CREATED_AT', direction: 'DESC' }] },
    fetchPolicy: 'network-only',
  });
  assert.deepEqual(
    oldest.data?.tasks.edges.map((e) => e.node.title),
    ['apollo task 1', 'apollo task 0'],
  );
  const searched = await session.client.query({
    query: TaskPageDocument,
    variables: { filter: { search: 'TASK 3' } },
    fetchPolicy: 'network-only',
  });
  assert.deepEqual(searched.data?.tasks.edges.map((e) => e.node.title), ['apollo task 3']);
});

test('the error link refreshes the token on UNAUTHENTICATED and retries once', async () => {
  const session = new Session(uniqueName('refresh'), PASSWORD);
  await session.register();
  await session.login();
  const firstRefreshToken = session.refreshToken;
  // An access token the server no longer accepts, as after expiry.
  session.token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.invalid';
  const { data } = await session.client.query({ query: MeDocument, fetchPolicy: 'network-only' });
  assert.equal(data?.me.username, session.username);
  assert.equal(session.refreshes, 1);
  assert.notEqual(session.refreshToken, firstRefreshToken, 'the refresh token rotates');

  // After logout the refresh fails too: the error reaches the caller, with no retry loop.
  await session.client.mutate({
    mutation: LogoutDocument,
    variables: { refreshToken: session.refreshToken ?? '' },
  });
  await assert.rejects(
    session.client.query({ query: MeDocument, fetchPolicy: 'network-only' }),
    (error: unknown) => CombinedGraphQLErrors.is(error),
  );
  assert.equal(session.refreshes, 1);
});

test('Apollo persisted queries: the hash first, the document only when asked', async () => {
  // What went over the wire for each TaskPage request: did it carry the document?
  const sent: boolean[] = [];
  const recordingFetch: typeof fetch = async (input, init) => {
    const body = JSON.parse(String(init?.body ?? '{}'));
    if (body.operationName === 'TaskPage') sent.push(typeof body.query === 'string');
    return fetch(input, init);
  };
  const persisted = new PersistedQueryLink({
    sha256: (text: string) => createHash('sha256').update(text).digest('hex'),
  });
  const session = new Session(uniqueName('apq'), PASSWORD, [persisted], recordingFetch);
  await session.register();
  await session.login();
  await session.client.mutate({ mutation: CreateTaskDocument, variables: { input: { title: 'persisted' } } });
  for (let i = 0; i < 2; i++) {
    const { data } = await session.client.query({
      query: TaskPageDocument,
      variables: { first: 5 },
      fetchPolicy: 'network-only',
    });
    assert.equal(data?.tasks.edges[0]?.node.title, 'persisted');
  }
  // Hash only (unknown), then hash and document, then hash only (known).
  assert.deepEqual(sent, [false, true, false]);
});
