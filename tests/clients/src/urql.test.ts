// urql with a graphql-ws subscription: a subscriber receives the events of a second client's
// mutations on its own tasks, and nobody else's; a bad token is refused with 4403.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Client, cacheExchange, fetchExchange, subscriptionExchange } from '@urql/core';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { pipe, subscribe } from 'wonka';
import WebSocket from 'ws';

import {
  CreateTaskDocument,
  DeleteTaskDocument,
  LoginDocument,
  RegisterDocument,
  TaskEventsDocument,
  type TaskEventsSubscription,
  UpdateTaskDocument,
} from './generated/graphql.js';
import { HTTP_URL, PASSWORD, WS_URL, sleep, uniqueName } from './support.js';

type Event = TaskEventsSubscription['taskEvents'];

function urqlClient(token: string | null, ws?: WsClient): Client {
  return new Client({
    url: HTTP_URL,
    fetchOptions: (): RequestInit => ({
      headers: token ? { Authorization: `Bearer ${token}` } : {},
    }),
    preferGetMethod: false,
    exchanges: [
      cacheExchange,
      fetchExchange,
      ...(ws
        ? [
            subscriptionExchange({
              forwardSubscription(request) {
                const input = { ...request, query: request.query || '' };
                return {
                  subscribe(sink) {
                    const unsubscribe = ws.subscribe(input, sink);
                    return { unsubscribe };
                  },
                };
              },
            }),
          ]
        : []),
    ],
  });
}

async function signUp(prefix: string): Promise<{ username: string; token: string }> {
  const anonymous = urqlClient(null);
  const username = uniqueName(prefix);
  const registered = await anonymous
    .mutation(RegisterDocument, { input: { username, email: `${username}@example.com`, password: PASSWORD } })
    .toPromise();
  assert.equal(registered.error, undefined);
  const login = await anonymous.mutation(LoginDocument, { input: { username, password: PASSWORD } }).toPromise();
  assert.ok(login.data, String(login.error));
  return { username, token: login.data.login.accessToken };
}

function wsClient(token: string): WsClient {
  return createWsClient({
    url: WS_URL,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
}

test('a subscriber sees its own tasks change from a second client, and nobody else’s', async () => {
  const alice = await signUp('alice');
  const bob = await signUp('bob');
  const ws = wsClient(alice.token);
  const subscriber = urqlClient(alice.token, ws);
  const events: Event[] = [];
  const { unsubscribe } = pipe(
    subscriber.subscription(TaskEventsDocument, {}),
    subscribe((result) => {
      assert.equal(result.error, undefined);
      if (result.data) events.push(result.data.taskEvents);
    }),
  );
  await sleep(500);

  // A second client of Alice's (another tab or device) and Bob's client.
  const alicesPhone = urqlClient(alice.token);
  const bobs = urqlClient(bob.token);
  const created = await alicesPhone.mutation(CreateTaskDocument, { input: { title: 'from the phone' } }).toPromise();
  const id = created.data?.createTask.id;
  assert.ok(id);
  await bobs.mutation(CreateTaskDocument, { input: { title: 'bob only' } }).toPromise();
  await alicesPhone.mutation(UpdateTaskDocument, { id, input: { status: 'DONE' } }).toPromise();
  const bobsAttempt = await bobs.mutation(DeleteTaskDocument, { id }).toPromise();
  assert.equal(bobsAttempt.error?.graphQLErrors[0]?.extensions?.code, 'NOT_FOUND');
  await alicesPhone.mutation(DeleteTaskDocument, { id }).toPromise();

  for (let waited = 0; events.length < 3 && waited < 5000; waited += 50) await sleep(50);
  await sleep(300);
  unsubscribe();
  await ws.dispose();
  assert.deepEqual(
    events.map((e) => [e.kind, e.taskId, e.task?.title ?? null, e.task?.status ?? null]),
    [
      ['CREATED', id, 'from the phone', 'TODO'],
      ['UPDATED', id, 'from the phone', 'DONE'],
      ['DELETED', id, null, null],
    ],
  );
});

test('graphql-ws is refused with 4403 without a valid token', async () => {
  const ws = wsClient('not-a-valid-token');
  const code = await new Promise<number>((resolve) => {
    ws.on('closed', (event) => resolve((event as { code: number }).code));
    ws.subscribe({ query: 'subscription { taskEvents { kind } }' }, {
      next: () => assert.fail('no event without a valid token'),
      error: () => undefined,
      complete: () => undefined,
    });
  });
  await ws.dispose();
  assert.equal(code, 4403);
});
