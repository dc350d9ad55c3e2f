// The edge worker end to end on where it forwards and what it forwards: a request path never
// reaches another host, the upstream's path prefix is kept, and identity headers in any
// spelling never reach the upstream. Needs the wasm build, like worker.test.mjs.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { generateKeyPairSync, sign } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const wasmFile = path.resolve(here, '../../../crates/iam-wasm/pkg/web/iam_wasm_bg.wasm');
let skip = existsSync(wasmFile) ? false : `no wasm build at ${wasmFile} (run crates/iam-wasm/build-pkg)`;
if (skip && process.env.IAM_REQUIRE_SERVICES === '1') throw new Error(`required but missing: ${skip}`);
if (skip) console.error(`SKIPPED: ${skip}`);
const worker = skip ? null : await import('../worker.mjs');

const ISS = 'https://issuer.example';
const AUD = 'orders-api';
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' };

function token() {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'RS256', kid: 'k1', typ: 'JWT' })}.${b64({
    iss: ISS, aud: AUD, sub: 'user-42', iat: now, exp: now + 600, scope: 'orders:read',
  })}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

/** A server that records what it received and echoes it. */
function recorder() {
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ url: req.url, headers: req.headers }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, seen })));
}
const origin = (s) => `http://127.0.0.1:${s.server.address().port}`;

let jwksServer;
let upstream;
let other;
let env;

before(async () => {
  if (skip) return;
  jwksServer = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise((r) => jwksServer.listen(0, '127.0.0.1', r));
  upstream = await recorder();
  other = await recorder();
});

after(() => {
  jwksServer?.close();
  upstream?.server.close();
  other?.server.close();
});

beforeEach(() => {
  if (skip) return;
  worker.resetForTests();
  upstream.seen.length = 0;
  other.seen.length = 0;
  env = {
    IAM_WASM_MODULE: new WebAssembly.Module(readFileSync(wasmFile)),
    IAM_ISSUER: ISS,
    IAM_AUDIENCE: AUD,
    IAM_JWKS_URL: `http://127.0.0.1:${jwksServer.address().port}/jwks.json`,
    UPSTREAM_URL: `${origin(upstream)}/api/`,
  };
});

const call = (pathAndQuery, headers = {}) =>
  worker.default.fetch(
    new Request(`https://edge.example${pathAndQuery}`, {
      headers: { authorization: `Bearer ${token()}`, ...headers },
    }),
    env,
  );

test('a request path naming another host never sends the request or the token there', { skip }, async () => {
  const host = other.server.address().port;
  for (const p of [
    `//127.0.0.1:${host}/steal`,
    `/\\127.0.0.1:${host}/steal`,
    `/%2f%2f127.0.0.1:${host}/steal`,
    `/%5c127.0.0.1:${host}/steal`,
  ]) {
    const res = await call(p);
    assert.equal(res.status, 200, p);
    const seen = await res.json();
    assert.ok(seen.url.startsWith('/api/'), `${p} -> ${seen.url}`);
  }
  assert.equal(other.seen.length, 0, 'the other host got a request');
  assert.equal(upstream.seen.length, 4);
});

test('the upstream path prefix is kept', { skip }, async () => {
  const seen = await (await call('/orders/7?page=2')).json();
  assert.equal(seen.url, '/api/orders/7?page=2');
});

test('identity headers in underscore or dot spellings, or named in Connection, do not pass', { skip }, async () => {
  const res = await call('/me', {
    X_User_Id: 'admin',
    'x.user.roles': 'root',
    x_token_scopes: 'admin:*',
    connection: 'x-user-id, x-token-scopes',
  });
  const seen = await res.json();
  assert.equal(seen.headers['x-user-id'], 'user-42');
  assert.equal(seen.headers['x-token-scopes'], 'orders:read');
  for (const name of Object.keys(seen.headers)) {
    assert.ok(!/^x[_.]/.test(name), `${name} reached the upstream`);
  }
});
