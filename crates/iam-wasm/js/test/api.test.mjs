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

test('options are checked, with a TypeError naming the problem', { skip }, async () => {
  assert.throws(() => new wasm.Validator({ issuer: ISS }), /missing field `audience`/);
  assert.throws(() => new wasm.Validator({ issuer: ISS, audience: 'a', algorithms: ['none'] }), TypeError);
  assert.throws(() => new wasm.Validator({ issuer: ISS, audience: 'a', leeway: 5 }), /unknown field `leeway`/);
  assert.throws(() => new wasm.Validator('not json'), /invalid options/);
  new wasm.Validator(JSON.stringify({ issuer: ISS, audience: ['a', 'b'] }));
});

test('setJwks lists refused keys with reasons; garbage keeps the old set', { skip }, async () => {
  const v = new wasm.Validator({ issuer: ISS, audience: 'api' });
  const refused = v.setJwks({ keys: [jwk, { kty: 'oct', kid: 'h', k: 'c2VjcmV0' }, { kty: 'RSA', kid: 'r', n: 'AQAB', e: 'AQAB' }] });
  assert.deepEqual(refused.map((r) => [r.index, r.kid]), [[1, 'h'], [2, 'r']]);
  assert.ok(refused.every((r) => typeof r.reason === 'string' && r.reason.length > 0));
  assert.throws(() => v.setJwks('{"keys": 5}'));
  assert.equal((await v.verify(token({}), NOW)).ok, true);
});

test('verify: principal and its helpers, time from the caller', { skip }, async () => {
  const v = new wasm.Validator({ issuer: ISS, audience: 'api', leewaySeconds: 0 });
  assert.equal((await v.verify(token({}), NOW)).status, 503, 'no key set yet');
  v.setJwks(JSON.stringify({ keys: [jwk] }));
  const t = token({ scope: 'orders:* profile', permissions: ['admin:read'], tenant: 'acme', roles: ['ops'], sid: 's-9' });
  const r = await v.verify(t, NOW);
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
  const late = await v.verify(t, NOW + 61);
  assert.deepEqual([late.ok, late.status, late.error], [false, 401, 'invalid_token']);
  assert.match(late.wwwAuthenticate, /^Bearer error="invalid_token"/);
  assert.equal(late.body.error, 'invalid_token');
  assert.ok(!JSON.stringify(late).includes(t.split('.')[2]), 'the refusal never echoes the token');
});

test('verifyAuthorization: the middleware extraction rules', { skip }, async () => {
  const v = new wasm.Validator({ issuer: ISS, audience: 'api' });
  v.setJwks({ keys: [jwk] });
  const t = token({});
  const answer = async (h) => {
    const r = await v.verifyAuthorization(h, NOW);
    return r.ok ? 200 : `${r.status} ${r.error}`;
  };
  assert.equal(await answer(`Bearer ${t}`), 200);
  assert.equal(await answer(`bearer ${t}`), 200);
  assert.equal(await answer(undefined), '401 unauthorized');
  assert.equal(await answer('Basic dTpw'), '401 unauthorized');
  assert.equal(await answer('Bearer opaque-token'), '401 invalid_token');
  assert.equal(await answer(`Bearer ${t} extra`), '401 invalid_token');
  assert.equal(await answer('Bearer é'), '400 invalid_request');
  const unknown = await v.verifyAuthorization(`Bearer ${token({}, { kid: 'other' })}`, NOW);
  assert.equal(unknown.unknownKid, 'other');
});

test('identity headers to strip, as in the Rust middleware', { skip }, async () => {
  for (const h of ['X-User-ID', 'x-user-anything', 'X-IAM-Foo', 'x-token-scopes', 'X-Org-ID']) {
    assert.equal(wasm.isIdentityHeader(h), true, h);
  }
  for (const h of ['authorization', 'x-request-id', 'x-user']) assert.equal(wasm.isIdentityHeader(h), false, h);
});

// RSA and ECDSA signatures are checked by the runtime's WebCrypto; the verdicts must not
// depend on that (the parity test replays the native tables), and a runtime without it fails
// closed.
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const platformKeys = [
  { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa' },
  { ...ec256.publicKey.export({ format: 'jwk' }), kid: 'p256' },
  { ...ec384.publicKey.export({ format: 'jwk' }), kid: 'p384' },
];
const signers = {
  RS256: ['rsa', (d) => sign('sha256', d, rsa.privateKey)],
  RS512: ['rsa', (d) => sign('sha512', d, rsa.privateKey)],
  PS256: ['rsa', (d) => sign('sha256', d, { key: rsa.privateKey, padding: 6, saltLength: 32 })],
  PS384: ['rsa', (d) => sign('sha384', d, { key: rsa.privateKey, padding: 6, saltLength: 48 })],
  ES256: ['p256', (d) => sign('sha256', d, { key: ec256.privateKey, dsaEncoding: 'ieee-p1363' })],
  ES384: ['p384', (d) => sign('sha384', d, { key: ec384.privateKey, dsaEncoding: 'ieee-p1363' })],
};
function platformToken(alg, claims = {}) {
  const [kid, signer] = signers[alg];
  const input = `${b64({ alg, kid })}.${b64({ iss: ISS, aud: 'api', sub: 'u-2', exp: NOW + 60, ...claims })}`;
  return `${input}.${signer(Buffer.from(input)).toString('base64url')}`;
}

test('RSA and ECDSA through WebCrypto: valid, tampered, wrong salt, truncated', { skip }, async () => {
  const v = new wasm.Validator({ issuer: ISS, audience: 'api', cacheSize: 0 });
  assert.deepEqual(v.setJwks({ keys: platformKeys }), []);
  for (const alg of Object.keys(signers)) {
    const t = platformToken(alg);
    const ok = await v.verify(t, NOW);
    assert.equal(ok.ok, true, `${alg}: ${JSON.stringify(ok)}`);
    assert.equal(ok.principal.subject, 'u-2');
    const [h, p, s] = t.split('.');
    const other = platformToken(alg, { sub: 'someone-else' }).split('.')[1];
    for (const [what, bad] of [
      ['payload swapped', `${h}.${other}.${s}`],
      ['signature truncated', `${h}.${p}.${Buffer.from(s, 'base64url').subarray(0, -1).toString('base64url')}`],
      ['signature flipped', `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`],
    ]) {
      const r = await v.verify(bad, NOW);
      assert.deepEqual([r.ok, r.status, r.description], [false, 401, 'invalid signature'], `${alg}: ${what}`);
    }
  }
  // PS256 with a 20-byte salt: RFC 7518 fixes the salt at the hash length.
  const input = `${b64({ alg: 'PS256', kid: 'rsa' })}.${b64({ iss: ISS, aud: 'api', sub: 'u', exp: NOW + 60 })}`;
  const sig = sign('sha256', Buffer.from(input), { key: rsa.privateKey, padding: 6, saltLength: 20 });
  assert.equal((await v.verify(`${input}.${sig.toString('base64url')}`, NOW)).ok, false);
  // Claims are still checked after a good signature.
  const expired = await v.verify(platformToken('ES256', { exp: NOW - 120 }), NOW);
  assert.deepEqual([expired.ok, expired.description], [false, 'token expired']);
});

test('WebCrypto: concurrent first uses, cache hits, key rotation', { skip }, async () => {
  const v = new wasm.Validator({ issuer: ISS, audience: 'api' });
  v.setJwks({ keys: platformKeys });
  const tokens = Array.from({ length: 40 }, (_, i) => platformToken(i % 2 ? 'RS256' : 'ES256', { jti: `t${i}` }));
  const answers = await Promise.all(tokens.map((t) => v.verify(t, NOW)));
  assert.ok(answers.every((a) => a.ok));
  // A repeated token is answered from the validated-token cache: the same verdict.
  assert.equal((await v.verify(tokens[0], NOW)).ok, true);
  // The signing key leaves the set: its cached tokens and imported key go with it.
  v.setJwks({ keys: platformKeys.filter((k) => k.kid !== 'rsa') });
  const gone = await v.verify(tokens[1], NOW);
  assert.deepEqual([gone.ok, gone.status, gone.unknownKid], [false, 401, 'rsa']);
  assert.equal((await v.verify(tokens[0], NOW)).ok, true);
});

test('a runtime without WebCrypto refuses RSA/ECDSA tokens with 503, still verifies EdDSA', { skip }, async () => {
  const v = new wasm.Validator({ issuer: ISS, audience: 'api' });
  v.setJwks({ keys: [...platformKeys, jwk] });
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
  Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true, writable: true });
  try {
    const r = await v.verify(platformToken('RS256'), NOW);
    assert.deepEqual([r.ok, r.status, r.error], [false, 503, 'temporarily_unavailable']);
    assert.equal((await v.verify(token({}), NOW)).ok, true);
  } finally {
    Object.defineProperty(globalThis, 'crypto', saved);
  }
  assert.equal((await v.verify(platformToken('RS256'), NOW)).ok, true);
});
