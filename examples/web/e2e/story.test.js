// End to end in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// register, log in, add, complete and delete tasks, page and search them, and watch a
// change made in another tab arrive live; then use taskql's GraphiQL with every other
// origin cut off; then verify an address and reset a password through the links in the
// mails taskql writes; then turn two-factor on from the QR code's secret and sign in with a
// TOTP and with recovery codes; then make an administrator with the CLI and run the
// Administration view: list, search and page the accounts, deactivate, activate, promote
// and demote another one, and read it all in the audit log. Needs TASKQL_URL, for the mail
// TASKQL_MAIL_DIR and TASKQL_WEB_PORT, the port the server's PUBLIC_URL names, and for the
// administrator TASKQL_CLI, the taskql command with the server's configuration (see
// .ci/with-taskql).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { chromium } from 'playwright-core';
import { build, preview } from 'vite';

import { waitForLink } from './mail.js';
import { base32Decode, codeOfStep, stepAt } from './totp.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const API_URL = process.env.TASKQL_URL;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const MAIL_DIR = process.env.TASKQL_MAIL_DIR;
const CLI = process.env.TASKQL_CLI;

let server;
let browser;
let profile;
let baseUrl;

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

before(async () => {
  assert.ok(API_URL, 'TASKQL_URL must point at a running taskql /graphql endpoint');
  process.env.VITE_TASKQL_URL = API_URL;
  await build({ root, logLevel: 'warn' });
  const port = Number(process.env.TASKQL_WEB_PORT) || (await freePort());
  server = await preview({
    root,
    logLevel: 'warn',
    preview: { host: '127.0.0.1', port, strictPort: true },
  });
  baseUrl = `http://127.0.0.1:${port}/`;
  profile = await mkdtemp(join(tmpdir(), 'taskql-e2e-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 900, height: 760 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.httpServer.close(resolve) : resolve()));
  if (profile) await rm(profile, { recursive: true, force: true });
});

const titles = (page) => page.locator('#tasks li .title').allTextContents();

async function expectTitles(page, want) {
  await page.waitForFunction(
    (want) =>
      JSON.stringify([...document.querySelectorAll('#tasks li .title')].map((e) => e.textContent)) ===
      JSON.stringify(want),
    want,
    { timeout: 10_000 },
  );
  assert.deepEqual(await titles(page), want);
}

test('register, log in, add, complete, delete, page, search, and live updates from another tab', async () => {
  const username = `web_${randomBytes(5).toString('hex')}`;
  const password = 'correct horse battery staple';
  const page = await browser.newPage();
  await page.goto(baseUrl);

  // A wrong password first: a plain message, still signed out.
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[value=login]');
  await page.locator('#message', { hasText: 'Invalid username or password.' }).waitFor();

  await page.fill('input[name=email]', `${username}@example.com`);
  await page.fill('input[name=password]', password);
  await page.click('button[value=register]');
  await page.locator('#viewer', { hasText: username }).waitFor();
  await page.locator('#live.on').waitFor();
  await page.locator('#count', { hasText: '0 tasks' }).waitFor();

  for (let i = 1; i <= 7; i++) {
    await page.fill('#add-form input[name=title]', `Task ${i}`);
    await page.click('#add-form button');
    await page.locator('#count', { hasText: `${i} task` }).waitFor();
  }
  await expectTitles(page, ['Task 7', 'Task 6', 'Task 5', 'Task 4', 'Task 3']);
  assert.equal(await page.isDisabled('#prev'), true);

  await page.click('#next');
  await expectTitles(page, ['Task 2', 'Task 1']);
  assert.equal(await page.isDisabled('#next'), true);
  await page.click('#prev');
  await expectTitles(page, ['Task 7', 'Task 6', 'Task 5', 'Task 4', 'Task 3']);

  await page.fill('#search', 'TASK 3');
  await expectTitles(page, ['Task 3']);
  await page.fill('#search', '');
  await expectTitles(page, ['Task 7', 'Task 6', 'Task 5', 'Task 4', 'Task 3']);

  await page.locator('#tasks li', { hasText: 'Task 7' }).locator('input[type=checkbox]').check();
  await page.locator('#tasks li.done', { hasText: 'Task 7' }).waitFor();
  await page.locator('#tasks li', { hasText: 'Task 6' }).locator('button').click();
  await expectTitles(page, ['Task 7', 'Task 5', 'Task 4', 'Task 3', 'Task 2']);

  // A second tab shares the sign-in; what it does shows up in the first one live.
  const other = await browser.newPage();
  await other.goto(baseUrl);
  await other.locator('#viewer', { hasText: username }).waitFor();
  await other.fill('#add-form input[name=title]', 'Added in another tab');
  await other.click('#add-form button');
  await expectTitles(page, ['Added in another tab', 'Task 7', 'Task 5', 'Task 4', 'Task 3']);
  await other.locator('#tasks li', { hasText: 'Task 5' }).locator('input[type=checkbox]').check();
  await page.locator('#tasks li.done', { hasText: 'Task 5' }).waitFor();
  await other.locator('#tasks li', { hasText: 'Added in another tab' }).locator('button').click();
  await expectTitles(page, ['Task 7', 'Task 5', 'Task 4', 'Task 3', 'Task 2']);
  await page.locator('#count', { hasText: '6 tasks' }).waitFor();

  if (process.env.SCREENSHOT_PATH) {
    await page.screenshot({ path: process.env.SCREENSHOT_PATH });
  }

  await page.click('#logout');
  await page.locator('#auth-form').waitFor();
});

/** The server's whole answer to one operation, errors and all. */
async function answer(query, variables, headers = {}) {
  const response = await fetch(API_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

async function gql(query, variables, headers = {}) {
  const body = await answer(query, variables, headers);
  assert.equal(body.errors, undefined, JSON.stringify(body));
  return body.data;
}

test('GraphiQL works offline: it loads from taskql alone and runs `me` with a token from its headers pane', async () => {
  const username = `giql_${randomBytes(5).toString('hex')}`;
  const password = 'correct horse battery staple';
  const input = { username, email: `${username}@example.com`, password };
  await gql('mutation($input: RegisterInput!) { register(input: $input) { id } }', { input });
  const { login } = await gql('mutation($input: LoginInput!) { login(input: $input) { accessToken } }', {
    input: { username, password },
  });

  const page = await browser.newPage();
  // As on a machine without internet: nothing but taskql's origin answers.
  const taskql = new URL(API_URL).origin;
  const elsewhere = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === taskql) return route.continue();
    elsewhere.push(url);
    return route.abort('internetdisconnected');
  });
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  await page.exposeFunction('reportViolation', (violation) => problems.push(`CSP: ${violation}`));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) =>
      window.reportViolation(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`),
    );
  });

  const response = await page.goto(API_URL);
  assert.match(response.headers()['content-security-policy'], /^default-src 'none'; script-src 'self';/);

  // The settings dialog makes GraphiQL insert its one <style> element, which the
  // policy allows by its nonce alone.
  await page.getByRole('button', { name: 'Open settings dialog' }).click();
  await page.getByRole('dialog').waitFor();
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });

  // insertText, not typing: typed braces would be closed a second time by the editor.
  await page.locator('.graphiql-query-editor .CodeMirror').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText('{ me { username } }');
  await page.getByRole('button', { name: 'Headers' }).click();
  await page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror').click();
  await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${login.accessToken}` }));
  await page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).click();

  const result = page.locator('.result-window .CodeMirror');
  await result.filter({ hasText: username }).waitFor({ timeout: 10_000 });
  // The editor's own text: its rendered lines carry layout characters.
  const answer = await result.evaluate((editor) => editor.CodeMirror.getValue());
  assert.deepEqual(JSON.parse(answer), { data: { me: { username } } });
  assert.deepEqual(elsewhere, [], 'GraphiQL asked for something outside taskql');
  assert.deepEqual(problems, []);
  await page.close();
});

test('verify the address and reset the password through the links in the mails', {
  skip: !MAIL_DIR && 'needs TASKQL_MAIL_DIR, the folder a development taskql writes mail into',
}, async () => {
  const username = `mail_${randomBytes(5).toString('hex')}`;
  const email = `${username}@example.com`;
  const password = 'correct horse battery staple';
  const newPassword = 'a brand new staple for the horse';
  const page = await browser.newPage();
  await page.goto(baseUrl);

  await page.fill('input[name=username]', username);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await page.click('button[value=register]');
  await page.locator('#viewer', { hasText: username }).waitFor();
  await page.locator('#verify-notice', { hasText: 'Verify your address' }).waitFor();
  assert.equal(await page.textContent('#verify-address'), email);

  // Registering sent the first link; the button sends another.
  const first = await waitForLink({ dir: MAIL_DIR, to: email, path: '/verify-email' });
  await page.click('#resend-verification');
  await page.locator('#message.ok', { hasText: `A new link is on its way to ${email}.` }).waitFor();
  const verify = await waitForLink({
    dir: MAIL_DIR,
    to: email,
    path: '/verify-email',
    skip: new Set([first.file]),
  });
  assert.equal(new URL(verify.link).origin, new URL(baseUrl).origin, 'PUBLIC_URL is the app');
  assert.ok(verify.html.includes(verify.link), 'the HTML part carries the same link');

  await page.goto(verify.link);
  await page.locator('#message.ok', { hasText: 'Your email address is verified.' }).waitFor();
  assert.equal(new URL(page.url()).hash, '', 'the token is off the address bar');
  await page.click('#verify-page a');
  await page.locator('#viewer', { hasText: username }).waitFor();
  await page.locator('#count', { hasText: '0 tasks' }).waitFor();
  await page.waitForFunction(() => document.getElementById('verify-notice').hidden);

  // A spent link says so.
  await page.goto(verify.link);
  await page.locator('#message:not(.ok)').filter({ hasText: /./ }).waitFor();
  assert.doesNotMatch(await page.textContent('#message'), /verified\./);

  await page.goto(baseUrl);
  await page.click('#logout');
  await page.click('#forgot-link');
  await page.waitForURL(/\/forgot-password$/);
  await page.fill('#forgot-form input[name=email]', email);
  await page.click('#forgot-form button');
  await page
    .locator('#message.ok', { hasText: 'If that address has an account, a reset link is on its way.' })
    .waitFor();

  const reset = await waitForLink({ dir: MAIL_DIR, to: email, path: '/reset-password' });
  assert.equal(new URL(reset.link).origin, new URL(baseUrl).origin);
  await page.goto(reset.link);
  await page.locator('#reset-form').waitFor();
  assert.equal(new URL(page.url()).hash, '');

  // A weak password is refused with its reasons; the form and the link still work.
  await page.fill('#reset-form input[name=newPassword]', 'password1');
  await page.click('#reset-form button');
  await page.locator('#message:not(.ok)', { hasText: 'too easy to guess' }).waitFor();
  await page.fill('#reset-form input[name=newPassword]', newPassword);
  await page.click('#reset-form button');
  await page.locator('#message.ok', { hasText: 'Your password is changed' }).waitFor();
  assert.equal(await page.isVisible('#reset-form'), false);

  await page.click('#reset-sign-in');
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[value=login]');
  await page.locator('#message', { hasText: 'Invalid username or password.' }).waitFor();
  await page.fill('input[name=password]', newPassword);
  await page.click('button[value=login]');
  await page.locator('#viewer', { hasText: username }).waitFor();
  assert.equal(await page.isVisible('#verify-notice'), false);
  await page.close();
});

async function logIn(page, username, password) {
  await page.fill('#auth-form input[name=username]', username);
  await page.fill('#auth-form input[name=password]', password);
  await page.click('#auth-form button[value=login]');
}

/** The second step of a login: the form for a code, which takes `code`. */
async function enterCode(page, code) {
  await page.locator('#second-factor-form').waitFor();
  assert.equal(await page.isVisible('#auth-form'), false);
  await page.fill('#second-factor-form input[name=code]', code);
  await page.click('#second-factor-form button[type=submit]');
}

/** The kinds of the security history's entries as the page lists them. */
const eventKinds = (page) =>
  page.locator('#security-events li').evaluateAll((items) => items.map((item) => item.dataset.kind));

test('two-factor: set up from the QR code, sign in with a TOTP and with recovery codes, reset, regenerate, turn off', {
  skip: !MAIL_DIR && 'needs TASKQL_MAIL_DIR, the folder a development taskql writes mail into',
}, async () => {
  const username = `tfa_${randomBytes(5).toString('hex')}`;
  const email = `${username}@example.com`;
  const password = 'correct horse battery staple';
  const newPassword = 'a brand new staple for the horse';
  const page = await browser.newPage();
  await page.goto(baseUrl);
  // The browser's profile may still hold an earlier test's sign-in.
  if (await page.isVisible('#logout')) await page.click('#logout');
  await page.fill('input[name=username]', username);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await page.click('button[value=register]');
  await page.locator('#viewer', { hasText: username }).waitFor();

  await page.click('#security summary');
  await page.locator('#two-factor-status', { hasText: 'Two-factor is off' }).waitFor();
  await page.fill('#two-factor-begin-form input[name=password]', password);
  await page.click('#two-factor-begin-form button');
  await page.locator('#two-factor-setup').waitFor();
  assert.match(await page.getAttribute('#two-factor-qr', 'src'), /^data:image\/svg\+xml;/);
  await page.waitForFunction(() => {
    const qr = document.getElementById('two-factor-qr');
    return qr.complete && qr.naturalWidth >= 200;
  });
  // The authenticator app's side, from the secret shown under the QR code.
  const secret = base32Decode(await page.textContent('#two-factor-secret'));
  assert.equal(secret.length, 20);
  const enabledAt = stepAt();
  await page.fill('#two-factor-enable-form input[name=code]', codeOfStep(secret, enabledAt));
  await page.click('#two-factor-enable-form button');
  await page.locator('#recovery-codes', { hasText: 'Save these recovery codes now.' }).waitFor();
  const codes = await page.locator('#recovery-code-list li').allTextContents();
  assert.equal(new Set(codes).size, 10, codes.join(' '));
  await page.locator('#two-factor-status', { hasText: 'Two-factor is on' }).waitFor();
  assert.equal(await page.isVisible('#two-factor-setup'), false);
  await page.locator('#security-events li[data-kind=TWO_FACTOR_ENABLED]').waitFor();
  await page.click('#recovery-codes-saved');
  assert.equal(await page.isVisible('#recovery-codes'), false);
  assert.equal(await page.locator('#recovery-code-list li').count(), 0);

  // The password alone leads to the second step. A wrong code keeps it; the step that
  // turned two-factor on is spent, so the next step's code, which the server allows as
  // one step of drift.
  await page.click('#logout');
  await logIn(page, username, password);
  const nearby = [-1, 0, 1, 2].map((offset) => codeOfStep(secret, enabledAt + offset));
  await enterCode(page, ['000000', '111111', '222222'].find((code) => !nearby.includes(code)));
  await page.locator('#message', { hasText: 'That code is not right' }).waitFor();
  await enterCode(page, codeOfStep(secret, Math.max(enabledAt + 1, stepAt())));
  await page.locator('#viewer', { hasText: username }).waitFor();
  assert.equal(await page.textContent('#message'), '');

  // A recovery code instead of the app's code, and the history says so.
  await page.click('#logout');
  await logIn(page, username, password);
  await enterCode(page, codes[0]);
  await page.locator('#viewer', { hasText: username }).waitFor();
  await page.click('#security summary');
  await page.locator('#security-events li[data-kind=RECOVERY_CODE_USED]').waitFor();
  const used = page.locator('#security-events li[data-kind=RECOVERY_CODE_USED]');
  assert.match(await used.textContent(), /Recovery code used/);
  assert.match(await used.locator('.where').textContent(), /Chrome/);
  const firstPage = await eventKinds(page);
  assert.equal(firstPage.length, 5);
  assert.ok(firstPage.indexOf('RECOVERY_CODE_USED') < firstPage.indexOf('TWO_FACTOR_ENABLED'), firstPage.join(' '));
  // Older entries page in under the newer ones, down to the account's creation.
  while (await page.isVisible('#more-events')) {
    const shown = await page.locator('#security-events li').count();
    await page.click('#more-events');
    await page.waitForFunction((shown) => document.querySelectorAll('#security-events li').length > shown, shown);
  }
  const history = await eventKinds(page);
  assert.deepEqual(history.slice(0, 5), firstPage);
  assert.equal(history.at(-1), 'REGISTERED');

  // A reset link alone cannot take the account over: the page asks for a code too.
  await page.click('#logout');
  await page.click('#forgot-link');
  await page.fill('#forgot-form input[name=email]', email);
  await page.click('#forgot-form button');
  const reset = await waitForLink({ dir: MAIL_DIR, to: email, path: '/reset-password' });
  await page.goto(reset.link);
  assert.equal(await page.isVisible('#reset-code'), false);
  await page.fill('#reset-form input[name=newPassword]', newPassword);
  await page.click('#reset-form button');
  await page.locator('#message', { hasText: 'This account has two-factor on' }).waitFor();
  await page.fill('#reset-form input[name=code]', codes[1]);
  await page.click('#reset-form button');
  await page.locator('#message.ok', { hasText: 'Your password is changed' }).waitFor();

  await page.click('#reset-sign-in');
  await logIn(page, username, newPassword);
  await enterCode(page, codes[2]);
  await page.locator('#viewer', { hasText: username }).waitFor();

  // New recovery codes, each change confirmed by the password and a code; the old codes
  // stop working.
  await page.click('#security summary');
  await page.fill('#two-factor-manage-form input[name=password]', newPassword);
  await page.fill('#two-factor-manage-form input[name=code]', codes[3]);
  await page.click('#two-factor-manage-form button[value=regenerate]');
  await page.locator('#recovery-codes', { hasText: 'Save these recovery codes now.' }).waitFor();
  const fresh = await page.locator('#recovery-code-list li').allTextContents();
  assert.equal(new Set(fresh).size, 10);
  assert.ok(fresh.every((code) => !codes.includes(code)));
  await page.locator('#security-events li[data-kind=RECOVERY_CODES_REGENERATED]').waitFor();
  await page.fill('#two-factor-manage-form input[name=password]', newPassword);
  await page.fill('#two-factor-manage-form input[name=code]', codes[4]);
  await page.click('#two-factor-manage-form button[value=disable]');
  await page.locator('#message:not(.ok)', { hasText: 'That code is not right' }).waitFor();
  await page.locator('#two-factor-status', { hasText: 'Two-factor is on' }).waitFor();
  await page.fill('#two-factor-manage-form input[name=code]', fresh[0]);
  await page.click('#two-factor-manage-form button[value=disable]');
  await page.locator('#message.ok', { hasText: 'Two-factor is off.' }).waitFor();
  await page.locator('#two-factor-status', { hasText: 'Two-factor is off' }).waitFor();
  assert.equal(await page.isVisible('#recovery-codes'), false);
  await page.locator('#security-events li[data-kind=TWO_FACTOR_DISABLED]').first().waitFor();
  const latest = await eventKinds(page);
  assert.equal(latest[0], 'TWO_FACTOR_DISABLED', latest.join(' '));

  // The password alone signs in again.
  await page.click('#logout');
  await logIn(page, username, newPassword);
  await page.locator('#viewer', { hasText: username }).waitFor();
  await page.close();
});

const REGISTER = 'mutation($input: RegisterInput!) { register(input: $input) { id } }';
const LOGIN = 'mutation($input: LoginInput!) { login(input: $input) { accessToken } }';
const bearer = (token) => ({ Authorization: `Bearer ${token}` });

/** The `extensions.code` of the first error `query` gets with `token`, or null. */
async function errorCodeOf(query, token) {
  const body = await answer(query, {}, bearer(token));
  return body.errors?.[0]?.extensions?.code ?? null;
}

/** Runs the taskql CLI against the test's server; its standard output. */
async function taskqlCli(...args) {
  const { stdout } = await promisify(execFile)(CLI, args);
  return stdout;
}

/** The usernames of the accounts table's rows. */
const tableUsernames = (page) =>
  page.locator('#users tbody tr').evaluateAll((rows) => rows.map((row) => row.dataset.username));

async function expectUsernames(page, want) {
  await page.waitForFunction(
    (want) =>
      JSON.stringify([...document.querySelectorAll('#users tbody tr')].map((r) => r.dataset.username)) ===
      JSON.stringify(want),
    want,
    { timeout: 10_000 },
  );
  assert.deepEqual(await tableUsernames(page), want);
}

/** The audit log's entries as the page lists them. */
const auditEntries = (page) =>
  page.locator('#audit-events li').evaluateAll((items) =>
    items.map((item) => ({
      kind: item.dataset.kind,
      what: item.querySelector('strong')?.textContent ?? null,
      user: item.querySelector('.user')?.textContent ?? null,
      actor: item.querySelector('.actor')?.textContent ?? null,
    })),
  );

/** Waits until the audit log's newest entry is `kind` done to `user` by `actor`. */
async function expectNewestEvent(page, { kind, user, actor }) {
  const newest = page.locator('#audit-events li').first();
  await page.waitForFunction(
    ({ kind, user, actor }) => {
      const item = document.querySelector('#audit-events li');
      return (
        item?.dataset.kind === kind &&
        item.querySelector('.user')?.textContent === user &&
        (item.querySelector('.actor')?.textContent ?? null) === actor
      );
    },
    { kind, user, actor },
    { timeout: 10_000 },
  );
  assert.match(await newest.textContent(), new RegExp(`by ${actor}$`));
}

test('administration: an account made administrator by the CLI lists and pages the accounts, deactivates, activates, promotes and demotes another, and reads it in the audit log', {
  skip: !CLI && 'needs TASKQL_CLI, the taskql command with the server configuration (see .ci/with-taskql)',
}, async (t) => {
  const tag = randomBytes(4).toString('hex');
  const password = 'correct horse battery staple';
  const admin = `adm_${tag}`;
  const other = `usr_${tag}`;
  // Enough accounts for two pages of five. `usrx…` is what `_` would match as a wildcard.
  const more = [1, 2, 3, 4, 5, 6].map((i) => `p${i}_${tag}`).concat(`usrx${tag}`);
  for (const username of [admin, other, ...more]) {
    await gql(REGISTER, { input: { username, email: `${username}@example.com`, password } });
  }
  const newestFirst = [...more].reverse().concat(other, admin);
  const { login: otherLogin } = await gql(LOGIN, { input: { username: other, password } });
  const otherToken = otherLogin.accessToken;
  assert.equal(await errorCodeOf('{ users(first: 1) { totalCount } }', otherToken), 'FORBIDDEN');

  assert.match(await taskqlCli('user', 'promote', admin), new RegExp(`^${admin} is now an administrator$`, 'm'));

  const page = await browser.newPage();
  await page.goto(baseUrl);
  if (await page.isVisible('#logout')) await page.click('#logout');
  await logIn(page, admin, password);
  await page.locator('#viewer', { hasText: admin }).waitFor();
  await page.locator('#admin').waitFor();
  await page.getByRole('heading', { name: 'Administration' }).waitFor();

  // Every account, newest first, five to a page; the count and the pages are the server's.
  await expectUsernames(page, newestFirst.slice(0, 5));
  const adminToken = await page.evaluate(() => localStorage.getItem('taskql.token'));
  const { users: all } = await gql('{ users(first: 10) { totalCount nodes { username } } }', {}, bearer(adminToken));
  assert.ok(all.totalCount > newestFirst.length, String(all.totalCount));
  const secondPage = all.nodes.slice(5).map((user) => user.username);
  assert.deepEqual(secondPage.slice(0, 4), newestFirst.slice(5));
  await page.locator('#users-count', { hasText: `${all.totalCount} accounts` }).waitFor();
  assert.equal(await page.isDisabled('#users-prev'), true);
  const first = page.locator('#users tbody tr').first();
  assert.deepEqual(
    await first.locator('td').allTextContents(),
    [more.at(-1), `${more.at(-1)}@example.com`, 'user', 'yes', 'no', 'never', 'DeactivateMake admin'],
  );
  await page.click('#users-next');
  await expectUsernames(page, secondPage);
  assert.equal(await page.isDisabled('#users-prev'), false);
  await page.click('#users-prev');
  await expectUsernames(page, newestFirst.slice(0, 5));
  assert.equal(await page.isDisabled('#users-prev'), true);

  await t.test('the search narrows the list, `%` and `_` matching only themselves', async () => {
    await page.fill('#user-search', other.toUpperCase());
    await expectUsernames(page, [other]);
    await page.locator('#users-count', { hasText: /^1 account$/ }).waitFor();
    await page.fill('#user-search', `usr%${tag}`);
    await expectUsernames(page, []);
    await page.locator('#users-count', { hasText: /^0 accounts$/ }).waitFor();
    await page.fill('#user-search', `${tag}@example`);
    await expectUsernames(page, newestFirst.slice(0, 5));
    await page.locator('#users-count', { hasText: /^9 accounts$/ }).waitFor();
    await page.click('#users-next');
    await expectUsernames(page, newestFirst.slice(5));
    assert.equal(await page.isDisabled('#users-next'), true);
    await page.click('#users-prev');
    await expectUsernames(page, newestFirst.slice(0, 5));
  });
  await page.fill('#user-search', '');
  await page.locator('#users-count', { hasText: `${all.totalCount} accounts` }).waitFor();
  await expectUsernames(page, newestFirst.slice(0, 5));
  await page.click('#users-next');
  await expectUsernames(page, secondPage);

  // The administrator's own row offers nothing: the API refuses it its own account.
  const own = page.locator('#users tbody tr.you');
  assert.equal(await own.getAttribute('data-username'), admin);
  assert.equal(await own.locator('.actions').textContent(), 'you');
  assert.equal(await own.locator('button').count(), 0);
  assert.equal(await own.locator('.last-login time').count(), 1);
  const { me } = await gql('{ me { id } }', {}, bearer(adminToken));
  assert.equal(
    await errorCodeOf(`mutation { setUserActive(id: "${me.id}", active: false) { id } }`, adminToken),
    'FORBIDDEN',
  );

  // Deactivating ends the account's sessions at once; activating brings none back.
  const row = page.locator(`#users tbody tr[data-username="${other}"]`);
  await page.getByRole('button', { name: `Deactivate: ${other}` }).click();
  await page.locator('#message.ok', { hasText: `${other} is deactivated.` }).waitFor();
  await row.locator('.active', { hasText: 'no' }).waitFor();
  await expectNewestEvent(page, { kind: 'ACCOUNT_DEACTIVATED', user: other, actor: admin });
  assert.equal(await errorCodeOf('{ me { id } }', otherToken), 'UNAUTHENTICATED');
  // The page stays where it was.
  await expectUsernames(page, secondPage);

  await page.getByRole('button', { name: `Activate: ${other}` }).click();
  await page.locator('#message.ok', { hasText: `${other} is active again.` }).waitFor();
  await row.locator('.active', { hasText: 'yes' }).waitFor();
  await expectNewestEvent(page, { kind: 'ACCOUNT_ACTIVATED', user: other, actor: admin });
  assert.equal(await errorCodeOf('{ me { id } }', otherToken), 'UNAUTHENTICATED');
  const { login: again } = await gql(LOGIN, { input: { username: other, password } });

  await page.getByRole('button', { name: `Make admin: ${other}` }).click();
  await page.locator('#message.ok', { hasText: `${other} is now an administrator.` }).waitFor();
  await row.locator('.role', { hasText: 'admin' }).waitFor();
  await expectNewestEvent(page, { kind: 'ROLE_CHANGED', user: other, actor: admin });
  assert.equal(await errorCodeOf('{ users(first: 1) { totalCount } }', again.accessToken), null);

  // Demoted on the machine meanwhile, the administrator is refused with the API's message,
  // and the view goes away; promoted again, a reload brings it back.
  assert.match(await taskqlCli('user', 'demote', admin), new RegExp(`^${admin} is now a user$`, 'm'));
  await page.getByRole('button', { name: `Make user: ${other}` }).click();
  await page.locator('#message:not(.ok)', { hasText: 'This needs an administrator account.' }).waitFor();
  await page.waitForFunction(() => document.getElementById('admin').hidden);
  assert.equal(await page.locator('#users tbody tr').count(), 0);
  assert.match(await taskqlCli('user', 'promote', admin), new RegExp(`^${admin} is now an administrator$`, 'm'));
  await page.reload();
  await page.locator('#admin').waitFor();
  await expectUsernames(page, newestFirst.slice(0, 5));
  await page.click('#users-next');
  await row.locator('.role', { hasText: 'admin' }).waitFor();

  await page.getByRole('button', { name: `Make user: ${other}` }).click();
  await page.locator('#message.ok', { hasText: `${other} is now a user.` }).waitFor();
  await row.locator('.role', { hasText: 'user' }).waitFor();
  await expectNewestEvent(page, { kind: 'ROLE_CHANGED', user: other, actor: admin });
  assert.equal(await errorCodeOf('{ users(first: 1) { totalCount } }', again.accessToken), 'FORBIDDEN');

  // What the administrator did, with them as its actor; the CLI's changes have none. A
  // change of role says which role it gave.
  const entries = await auditEntries(page);
  assert.deepEqual(
    entries.filter((entry) => entry.user === other && entry.actor),
    [
      ['ROLE_CHANGED', 'Made a user'],
      ['ROLE_CHANGED', 'Made an administrator'],
      ['ACCOUNT_ACTIVATED', 'Account activated again by an operator'],
      ['ACCOUNT_DEACTIVATED', 'Account deactivated by an operator'],
    ].map(([kind, what]) => ({ kind, what, user: other, actor: admin })),
    JSON.stringify(entries),
  );
  assert.deepEqual(
    entries.filter((entry) => entry.user === admin && entry.kind === 'ROLE_CHANGED'),
    ['Made an administrator', 'Made a user', 'Made an administrator'].map((what) => ({
      kind: 'ROLE_CHANGED',
      what,
      user: admin,
      actor: null,
    })),
    JSON.stringify(entries),
  );

  // Signing out hides the view, and the other account, an ordinary user again, signs in
  // here without it.
  await page.click('#logout');
  assert.equal(await page.isVisible('#admin'), false);
  await logIn(page, other, password);
  await page.locator('#viewer', { hasText: other }).waitFor();
  await page.locator('#verify-notice').waitFor();
  assert.equal(await page.isVisible('#admin'), false);
  assert.equal(await page.locator('#users tbody tr').count(), 0);
  assert.equal(await page.locator('#audit-events li').count(), 0);
  await page.click('#logout');
  await page.close();
});

test('an ordinary account never sees the Administration view, nor asks for it', async () => {
  const username = `plain_${randomBytes(5).toString('hex')}`;
  const page = await browser.newPage();
  // The documents the page sends: urql sends queries by GET, mutations by POST.
  const documents = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(API_URL)) return;
    const query = new URL(request.url()).searchParams.get('query');
    const body = request.postData();
    documents.push(query ?? (body ? JSON.parse(body).query : ''));
  });
  await page.goto(baseUrl);
  if (await page.isVisible('#logout')) await page.click('#logout');
  await page.fill('input[name=username]', username);
  await page.fill('input[name=email]', `${username}@example.com`);
  await page.fill('input[name=password]', 'correct horse battery staple');
  await page.click('button[value=register]');
  await page.locator('#viewer', { hasText: username }).waitFor();
  // The notice comes with the answer to `me`, which decides about the view.
  await page.locator('#verify-notice').waitFor();
  await page.locator('#count', { hasText: '0 tasks' }).waitFor();
  assert.equal(await page.isVisible('#admin'), false);
  assert.equal(await page.locator('#users tbody tr').count(), 0);
  assert.ok(documents.some((document) => /\bme\s*\{/.test(document)), documents.join('\n'));
  assert.deepEqual(documents.filter((document) => /\b(users|auditLog)\s*\(/.test(document)), []);
  await page.close();
});
