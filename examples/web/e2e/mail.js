// Reads the mail a development taskql writes into MAIL_DIR (lettre's file transport: one
// raw RFC 5322 message per `<uuid>.eml`), so a test can follow the links it carries.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Headers with folded lines joined, by lower-case name, and the body after them. */
function split(raw) {
  const end = raw.search(/\r?\n\r?\n/);
  const head = end < 0 ? raw : raw.slice(0, end);
  const body = end < 0 ? '' : raw.slice(end).replace(/^\r?\n\r?\n/, '');
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

/** A header parameter such as `boundary` or `charset`, unquoted. */
function param(header = '', name) {
  const match = header.match(new RegExp(`;\\s*${name}=("([^"]*)"|[^;\\s]+)`, 'i'));
  return match ? (match[2] ?? match[1]) : undefined;
}

function decode(body, encoding = '7bit', charset = 'utf-8') {
  let bytes;
  switch (encoding.toLowerCase()) {
    case 'base64':
      bytes = Buffer.from(body.replace(/\s+/g, ''), 'base64');
      break;
    case 'quoted-printable':
      bytes = Buffer.from(
        body
          .replace(/[ \t]+(?=\r?\n)/g, '')
          .replace(/=\r?\n/g, '')
          .replace(/=([0-9A-Fa-f]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16))),
        'latin1',
      );
      break;
    default:
      bytes = Buffer.from(body, 'latin1');
  }
  return new TextDecoder(charset).decode(bytes);
}

/**
 * The leaf parts of a message, each as { type, text }, multiparts flattened; null while the
 * file is still being written (a multipart without its closing delimiter).
 */
function parts(raw) {
  const { headers, body } = split(raw);
  const type = headers['content-type'] ?? 'text/plain';
  if (/^multipart\//i.test(type)) {
    const boundary = param(type, 'boundary');
    const delimiter = `--${boundary}`;
    const close = body.indexOf(`${delimiter}--`);
    if (!boundary || close < 0) return null;
    const found = [];
    for (const chunk of body.slice(0, close).split(delimiter).slice(1)) {
      const inner = parts(chunk.replace(/^[ \t]*\r?\n/, '').replace(/\r?\n$/, ''));
      if (!inner) return null;
      found.push(...inner);
    }
    return found;
  }
  const text = decode(body, headers['content-transfer-encoding'], param(type, 'charset'));
  return [{ type: type.split(';')[0].trim().toLowerCase(), text }];
}

/** Parses one message: its recipients' addresses and its text and HTML bodies. */
export function parseMessage(raw) {
  const leaves = parts(raw);
  if (!leaves) return null;
  const { headers } = split(raw);
  const to = (headers.to ?? '').match(/[^\s<>,";]+@[^\s<>,";]+/g) ?? [];
  return {
    to: to.map((address) => address.toLowerCase()),
    text: leaves.find((part) => part.type === 'text/plain')?.text ?? '',
    html: leaves.find((part) => part.type === 'text/html')?.text ?? '',
  };
}

/**
 * Waits for a message to `to` whose text part links to `path` (`/verify-email`, say),
 * skipping the files in `skip`; returns { file, link, ...message }. Fails after `timeout` ms.
 */
export async function waitForLink({ dir, to, path, skip = new Set(), timeout = 10_000 }) {
  const pattern = new RegExp(`https?://[^\\s"'<>]+${path}#token=[A-Za-z0-9_-]+`);
  const deadline = Date.now() + timeout;
  for (;;) {
    const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.eml')).sort();
    for (const file of files) {
      if (skip.has(file)) continue;
      const message = parseMessage(await readFile(join(dir, file), 'latin1'));
      if (!message?.to.includes(to.toLowerCase())) continue;
      const link = message.text.match(pattern)?.[0];
      if (link) return { file, link, ...message };
    }
    if (Date.now() > deadline) {
      throw new Error(`no mail to ${to} linking to ${path} in ${dir} within ${timeout} ms`);
    }
    await sleep(100);
  }
}
