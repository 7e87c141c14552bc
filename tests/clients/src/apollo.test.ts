// Apollo Client 4 against taskql: register, login (with the second step when two-factor is
// on), create and page tasks, with an auth link and an error link that refreshes the token
// on UNAUTHENTICATED and retries the operation.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache } from '@apollo/client';
import { SetContextLink } from '@apollo/client/link/context';
import { ErrorLink } from '@apollo/client/link/error';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { from as fromPromise, switchMap } from 'rxjs';

import {
  BeginTwoFactorSetupDocument,
  CreateTaskDocument,
  EnableTwoFactorDocument,
  LoginDocument,
  LogoutDocument,
  MeDocument,
  RefreshTokenDocument,
  RegisterDocument,
  SecurityEventsDocument,
  TaskPageDocument,
  type TaskPageQuery,
  type TokensFragment,
  VerifyLoginDocument,
  ViewerDocument,
} from './generated/graphql.js';
import { HTTP_URL, PASSWORD, uniqueName } from './support.js';
import { base32Decode, codeOfStep, stepAt } from './totp.js';

/** Codes one login challenge takes before it is dead and the password step starts over. */
const CHALLENGE_TRIES = 5;

/**
 * Where the login flow gets a TOTP or recovery code when the server asks for one: the
 * `attempt`th code (from 0) for the same challenge, as a person typing it would give it.
 */
type CodeSource = (attempt: number) => string | Promise<string>;

/** The `extensions.challenge` of a SECOND_FACTOR_REQUIRED error, or null for anything else. */
function challengeOf(error: unknown): string | null {
  if (!CombinedGraphQLErrors.is(error)) return null;
  const required = error.errors.find((e) => e.extensions?.code === 'SECOND_FACTOR_REQUIRED');
  const challenge = required?.extensions?.challenge;
  return typeof challenge === 'string' ? challenge : null;
}

function hasCode(error: unknown, code: string): boolean {
  return CombinedGraphQLErrors.is(error) && error.errors.some((e) => e.extensions?.code === code);
}

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
      const unauthenticated = hasCode(error, 'UNAUTHENTICATED');
      // A dead login challenge is UNAUTHENTICATED too: that login starts over, not a refresh.
      const exempt = ['Login', 'VerifyLogin', 'RefreshToken', 'Logout'].includes(
        operation.operationName ?? '',
      );
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

  /**
   * Logs in with the password; when the account has two-factor on, the server answers
   * SECOND_FACTOR_REQUIRED with a challenge, and `codes` completes the login through
   * `verifyLogin`. Without `codes` that error reaches the caller.
   */
  async login(codes?: CodeSource): Promise<void> {
    let tokens: TokensFragment;
    try {
      const { data } = await this.client.mutate({
        mutation: LoginDocument,
        variables: { input: { username: this.username, password: this.password } },
      });
      assert.ok(data, 'login returned data');
      tokens = data.login;
    } catch (error) {
      const challenge = challengeOf(error);
      if (challenge === null || !codes) throw error;
      tokens = await this.verify(challenge, codes);
    }
    assert.equal(tokens.tokenType, 'Bearer');
    assert.ok(tokens.refreshExpiresIn > tokens.expiresIn);
    this.token = tokens.accessToken;
    this.refreshToken = tokens.refreshToken;
  }

  /**
   * The second step: `verifyLogin` with codes from `codes` until one is accepted. A wrong
   * code is SECOND_FACTOR_REQUIRED and keeps the challenge, for up to five codes; a dead
   * or expired challenge is UNAUTHENTICATED and reaches the caller, who logs in again.
   */
  private async verify(challenge: string, codes: CodeSource): Promise<TokensFragment> {
    for (let attempt = 0; ; attempt++) {
      try {
        const { data } = await this.client.mutate({
          mutation: VerifyLoginDocument,
          variables: { challenge, code: await codes(attempt) },
        });
        assert.ok(data, 'verifyLogin returned data');
        return data.verifyLogin;
      } catch (error) {
        if (!hasCode(error, 'SECOND_FACTOR_REQUIRED') || attempt + 1 >= CHALLENGE_TRIES) throw error;
      }
    }
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

test('the TOTP helper gives RFC 6238 appendix B\'s SHA-1 codes', () => {
  // The appendix's secret is ASCII "12345678901234567890"; its 8-digit codes end in these.
  const secret = base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  assert.equal(secret.toString('ascii'), '12345678901234567890');
  for (const [seconds, code] of [
    [59, '287082'],
    [1_111_111_109, '081804'],
    [1_234_567_890, '005924'],
    [2_000_000_000, '279037'],
  ] as const) {
    assert.equal(codeOfStep(secret, stepAt(seconds * 1000)), code, `at ${seconds}`);
  }
});

test('with two-factor on, the Apollo login answers the challenge through verifyLogin', async () => {
  const owner = new Session(uniqueName('totp'), PASSWORD);
  await owner.register();
  await owner.login();
  const { data: setup } = await owner.client.mutate({
    mutation: BeginTwoFactorSetupDocument,
    variables: { password: PASSWORD },
  });
  assert.ok(setup);
  const { secret, otpauthUri, qrCodeSvg } = setup.beginTwoFactorSetup;
  assert.ok(otpauthUri.startsWith(`otpauth://totp/`), otpauthUri);
  assert.ok(otpauthUri.includes(`secret=${secret}`), otpauthUri);
  assert.match(qrCodeSvg, /<svg[\s>]/);

  // The authenticator app's side: the secret and the code of the current step.
  const key = base32Decode(secret);
  const enabledAt = stepAt();
  const { data: enabled } = await owner.client.mutate({
    mutation: EnableTwoFactorDocument,
    variables: { code: codeOfStep(key, enabledAt) },
  });
  assert.equal(enabled?.enableTwoFactor.length, 10, 'ten recovery codes');
  const viewer = await owner.client.query({ query: ViewerDocument, fetchPolicy: 'network-only' });
  assert.equal(viewer.data?.me.twoFactorEnabled, true);

  // Another device: the password alone is not enough, and says how to go on.
  const phone = new Session(owner.username, PASSWORD);
  await assert.rejects(phone.login(), (error: unknown) => challengeOf(error) !== null);
  assert.equal(phone.token, null);

  // The step that enabled it is spent, so the next one's code (one step of drift is
  // allowed). A mistyped code first: the same challenge takes the corrected one.
  const right = codeOfStep(key, Math.max(enabledAt + 1, stepAt()));
  const nearby = [-1, 0, 1, 2].map((offset) => codeOfStep(key, enabledAt + offset));
  const wrong = ['000000', '111111', '222222'].find((code) => !nearby.includes(code)) ?? '';
  const given: string[] = [];
  await phone.login((attempt) => {
    const code = attempt === 0 ? wrong : right;
    given.push(code);
    return code;
  });
  assert.deepEqual(given, [wrong, right]);
  assert.ok(phone.token);

  const me = await phone.client.query({ query: ViewerDocument, fetchPolicy: 'network-only' });
  assert.equal(me.data?.me.username, owner.username);
  assert.equal(me.data?.me.twoFactorEnabled, true);
  assert.ok(me.data?.me.lastLoginAt, 'the login is recorded');
  const history = await phone.client.query({
    query: SecurityEventsDocument,
    variables: { first: 10 },
    fetchPolicy: 'network-only',
  });
  const kinds = history.data?.securityEvents.edges.map((edge) => edge.node.kind) ?? [];
  assert.deepEqual(kinds.slice(0, 3), ['LOGIN_SUCCEEDED', 'SECOND_FACTOR_FAILED', 'TWO_FACTOR_ENABLED']);
  assert.ok(kinds.includes('REGISTERED'), kinds.join(' '));
});

test('a dead login challenge reaches the caller without a token refresh', async () => {
  const session = new Session(uniqueName('dead'), PASSWORD);
  await session.register();
  await session.login();
  await assert.rejects(
    session.client.mutate({
      mutation: VerifyLoginDocument,
      variables: { challenge: 'not-a-live-challenge', code: '123456' },
    }),
    (error: unknown) => hasCode(error, 'UNAUTHENTICATED') && challengeOf(error) === null,
  );
  assert.equal(session.refreshes, 0, 'the password step starts over; the session is not refreshed');
});
