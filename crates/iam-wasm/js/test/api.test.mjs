// The JavaScript API of iam-wasm: options, setJwks's refusals, verify's answers, the
// principal's helpers (iam-core's scope matcher), and time taken from the caller.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { loadWasm, missing, noWasm } from './helpers.mjs';

const skip = missing(noWasm) || false;
const wasm = skip ? null : loadWasm();
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const ISS = 'https://issuer.example';
const NOW = 1_800_000_000;

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'ed-1' };
function token(claims, header = {}) {
  const input = `${b64({ alg: 'EdDSA', kid: 'ed-1', ...header })}.${b64({
    iss: ISS, aud: 'api', sub: 'u-1', exp: NOW + 60, ...claims,
  })}`;
  return `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
}

test('options are checked, with a TypeError naming the problem', { skip }, () => {
  assert.throws(() => new wasm.Validator({ issuer: ISS }), /missing field `audience`/);
  assert.throws(() => new wasm.Validator({ issuer: ISS, audience: 'a', algorithms: ['none'] }), TypeError);
  assert.throws(() => new wasm.Validator({ issuer: ISS, audience: 'a', leeway: 5 }), /unknown field `leeway`/);
  assert.throws(() => new wasm.Validator('not json'), /invalid options/);
  new wasm.Validator(JSON.stringify({ issuer: ISS, audience: ['a', 'b'] }));
});

test('setJwks lists refused keys with reasons; garbage keeps the old set', { skip }, () => {
  const v = new wasm.Validator({ issuer: ISS, audience: 'api' });
  const refused = v.setJwks({ keys: [jwk, { kty: 'oct', kid: 'h', k: 'c2VjcmV0' }, { kty: 'RSA', kid: 'r', n: 'AQAB', e: 'AQAB' }] });
  assert.deepEqual(refused.map((r) => [r.index, r.kid]), [[1, 'h'], [2, 'r']]);
  assert.ok(refused.every((r) => typeof r.reason === 'string' && r.reason.length > 0));
  assert.throws(() => v.setJwks('{"keys": 5}'));
  assert.equal(v.verify(token({}), NOW).ok, true);
});

test('verify: principal and its helpers, time from the caller', { skip }, () => {
  const v = new wasm.Validator({ issuer: ISS, audience: 'api', leewaySeconds: 0 });
  assert.equal(v.verify(token({}), NOW).status, 503, 'no key set yet');
  v.setJwks(JSON.stringify({ keys: [jwk] }));
  const t = token({ scope: 'orders:* profile', permissions: ['admin:read'], tenant: 'acme', roles: ['ops'], sid: 's-9' });
  const r = v.verify(t, NOW);
  assert.equal(r.ok, true);
  const p = r.principal;
  assert.equal(p.subject, 'u-1');
  assert.equal(p.tenant, 'acme');
  assert.equal(p.sessionId, 's-9');
  assert.deepEqual(p.scopes, ['orders:*', 'profile']);
  assert.equal(p.hasScope('orders:read'), true);
  assert.equal(p.hasScope('billing:read'), false);
  assert.equal(p.hasPermission('admin:read'), true);
  assert.equal(p.hasPermission('orders:write'), true, 'a scope grants a permission');
  assert.equal(p.hasRole('ops'), true);
  assert.equal(p.identityHeaders()['x-user-id'], 'u-1');
  assert.equal(JSON.parse(JSON.stringify(p)).claims.tenant, 'acme');
  assert.equal(wasm.scopeGrants('read:*', 'read:orders'), true);
  assert.equal(wasm.scopeGrants('read*', 'read:orders'), false);
  // The clock is the caller's: expired 61 s later (no leeway), valid before.
  const late = v.verify(t, NOW + 61);
  assert.deepEqual([late.ok, late.status, late.error], [false, 401, 'invalid_token']);
  assert.match(late.wwwAuthenticate, /^Bearer error="invalid_token"/);
  assert.equal(late.body.error, 'invalid_token');
  assert.ok(!JSON.stringify(late).includes(t.split('.')[2]), 'the refusal never echoes the token');
});

test('verifyAuthorization: the middleware extraction rules', { skip }, () => {
  const v = new wasm.Validator({ issuer: ISS, audience: 'api' });
  v.setJwks({ keys: [jwk] });
  const t = token({});
  const answer = (h) => {
    const r = v.verifyAuthorization(h, NOW);
    return r.ok ? 200 : `${r.status} ${r.error}`;
  };
  assert.equal(answer(`Bearer ${t}`), 200);
  assert.equal(answer(`bearer ${t}`), 200);
  assert.equal(answer(undefined), '401 unauthorized');
  assert.equal(answer('Basic dTpw'), '401 unauthorized');
  assert.equal(answer('Bearer opaque-token'), '401 invalid_token');
  assert.equal(answer(`Bearer ${t} extra`), '401 invalid_token');
  assert.equal(answer('Bearer é'), '400 invalid_request');
  const unknown = v.verifyAuthorization(`Bearer ${token({}, { kid: 'other' })}`, NOW);
  assert.equal(unknown.unknownKid, 'other');
});

test('identity headers to strip, as in the Rust middleware', { skip }, () => {
  for (const h of ['X-User-ID', 'x-user-anything', 'X-IAM-Foo', 'x-token-scopes', 'X-Org-ID']) {
    assert.equal(wasm.isIdentityHeader(h), true, h);
  }
  for (const h of ['authorization', 'x-request-id', 'x-user']) assert.equal(wasm.isIdentityHeader(h), false, h);
});
