// The edge worker end to end under Node: a local JWKS server, a local upstream that echoes
// what it received, tokens signed with node:crypto, requests through `worker.fetch`.
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

function rsaKey(kid) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } };
}

function token(key, claims = {}, header = {}) {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...header })}.${b64({
    iss: ISS, aud: AUD, sub: 'user-42', iat: now, exp: now + 600, scope: 'orders:read',
    tenant: 'acme', ...claims,
  })}`;
  return `${input}.${sign('sha256', Buffer.from(input), key.privateKey).toString('base64url')}`;
}

function listen(handler) {
  return new Promise((resolve) => {
    const server = http.createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}
const url = (server) => `http://127.0.0.1:${server.address().port}`;

const k1 = rsaKey('k1');
const k2 = rsaKey('k2');
const jwks = { keys: [k1.jwk], up: true, fetches: 0 };
let jwksServer;
let upstream;
let env;

before(async () => {
  if (skip) return;
  jwksServer = await listen((req, res) => {
    jwks.fetches++;
    if (!jwks.up) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
    res.end(JSON.stringify({ keys: jwks.keys }));
  });
  upstream = await listen((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
    });
  });
});

after(() => {
  jwksServer?.close();
  upstream?.close();
});

beforeEach(() => {
  if (skip) return;
  worker.resetForTests();
  jwks.keys = [k1.jwk];
  jwks.up = true;
  jwks.fetches = 0;
  env = {
    IAM_WASM_MODULE: new WebAssembly.Module(readFileSync(wasmFile)),
    IAM_ISSUER: ISS,
    IAM_AUDIENCE: AUD,
    IAM_JWKS_URL: `${url(jwksServer)}/jwks.json`,
    UPSTREAM_URL: url(upstream),
    JWKS_OPTIONS: { retryAfterFailureMs: 20, cooldownMs: 0 },
  };
});

const call = (pathAndQuery, init = {}) =>
  worker.default.fetch(new Request(`https://edge.example${pathAndQuery}`, init), env);
const bearer = (t, extra = {}) => ({ headers: { authorization: `Bearer ${t}`, ...extra } });

test('no credentials: 401 WWW-Authenticate: Bearer, JSON body', { skip }, async () => {
  const res = await call('/orders');
  assert.equal(res.status, 401);
  assert.equal(res.headers.get('www-authenticate'), 'Bearer');
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal((await res.json()).error, 'unauthorized');
});

test('valid token: forwarded with identity headers, spoofed ones replaced', { skip }, async () => {
  const t = token(k1);
  const res = await call('/orders?page=2', bearer(t, { 'X-User-ID': 'admin', 'x-user-roles': 'root', 'X-IAM-Extra': '1' }));
  assert.equal(res.status, 200);
  const seen = await res.json();
  assert.equal(seen.url, '/orders?page=2');
  assert.equal(seen.headers['x-user-id'], 'user-42');
  assert.equal(seen.headers['x-token-scopes'], 'orders:read');
  assert.equal(seen.headers['x-user-roles'], undefined);
  assert.equal(seen.headers['x-iam-extra'], undefined);
});

test('a POST body reaches the upstream', { skip }, async () => {
  const res = await call('/orders', { method: 'POST', body: '{"qty":3}', ...bearer(token(k1)) });
  const seen = await res.json();
  assert.equal(seen.method, 'POST');
  assert.equal(seen.body, '{"qty":3}');
});

test('bad tokens: 401 invalid_token, the token never echoed', { skip }, async () => {
  const good = token(k1);
  const [h, p, s] = good.split('.');
  const bad = {
    tampered: `${h}.${b64({ iss: ISS, aud: AUD, sub: 'admin', exp: 9999999999 })}.${s}`,
    expired: token(k1, { exp: Math.floor(Date.now() / 1000) - 3600 }),
    'wrong audience': token(k1, { aud: 'billing' }),
    'alg none': `${b64({ alg: 'none', kid: 'k1' })}.${p}.`,
    garbage: 'not.a.jwt',
  };
  for (const [name, t] of Object.entries(bad)) {
    const res = await call('/orders', bearer(t));
    assert.equal(res.status, 401, name);
    assert.match(res.headers.get('www-authenticate'), /^Bearer error="invalid_token"/, name);
    const text = await res.text();
    assert.equal(JSON.parse(text).error, 'invalid_token', name);
    assert.ok(!text.includes(t.split('.')[2] || t), `${name}: body echoes the token`);
  }
});

test('key rotation: an unknown kid refetches the set once, then the new key works', { skip }, async () => {
  assert.equal((await call('/x', bearer(token(k1)))).status, 200);
  jwks.keys = [k1.jwk, k2.jwk];
  const before = jwks.fetches;
  assert.equal((await call('/x', bearer(token(k2)))).status, 200);
  assert.equal(jwks.fetches, before + 1);
  // A kid nobody has: refused, at most one more fetch.
  const ghost = { ...k2, kid: 'ghost' };
  assert.equal((await call('/x', bearer(token(ghost)))).status, 401);
  assert.ok(jwks.fetches <= before + 2);
});

test('JWKS down at cold start: 503, then recovery without a restart', { skip }, async () => {
  jwks.up = false;
  const res = await call('/x', bearer(token(k1)));
  assert.equal(res.status, 503);
  assert.equal((await res.json()).error, 'temporarily_unavailable');
  jwks.up = true;
  await new Promise((r) => setTimeout(r, 30));
  assert.equal((await call('/x', bearer(token(k1)))).status, 200);
});
