// Verify the same RS256, ES256 and EdDSA tokens with iam-wasm and with npm's `jose`, in one
// Node process, and print the ratios. iam-wasm is measured twice: with its validated-token
// cache off (every call checks the signature, like jose) and on (the same token again is a
// cache hit). Both APIs are asynchronous (both hand RSA and ECDSA to WebCrypto) and are
// measured the same way: awaited one after the other. Usage: node bench/compare-jose.mjs [path to the nodejs pkg dir] [milliseconds per case]
import { generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = path.resolve(process.argv[2] ?? path.join(here, '../../pkg/nodejs'));
const budgetMs = Number(process.argv[3] ?? 1500);
const { Validator } = createRequire(import.meta.url)(path.join(pkgDir, 'iam_wasm.js'));

const ISS = 'https://issuer.example';
const AUD = 'bench-api';
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');

function makeCase(alg) {
  const spec = {
    RS256: ['rsa', { modulusLength: 2048 }, 'sha256', {}],
    ES256: ['ec', { namedCurve: 'P-256' }, 'sha256', { dsaEncoding: 'ieee-p1363' }],
    EdDSA: ['ed25519', {}, null, {}],
  }[alg];
  const { privateKey, publicKey } = generateKeyPairSync(spec[0], spec[1]);
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: `k-${alg}`, alg, use: 'sig' };
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg, kid: jwk.kid, typ: 'JWT' })}.${b64({
    iss: ISS, aud: AUD, sub: 'bench-user', iat: now, exp: now + 3600,
    scope: 'orders:read orders:write', tenant: 'acme', jti: `t-${alg}`,
  })}`;
  const sig = nodeSign(spec[2], Buffer.from(input), { key: privateKey, ...spec[3] });
  return { alg, jwk, token: `${input}.${sig.toString('base64url')}` };
}

async function measureAsync(fn) {
  for (let i = 0; i < 200; i++) await fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(budgetMs) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 50; i++) await fn();
    n += 50;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / 1000 / n;
}

const rows = [];
for (const alg of ['RS256', 'ES256', 'EdDSA']) {
  const c = makeCase(alg);
  const jwks = JSON.stringify({ keys: [c.jwk] });
  const uncached = new Validator({ issuer: ISS, audience: AUD, cacheSize: 0 });
  uncached.setJwks(jwks);
  const cached = new Validator({ issuer: ISS, audience: AUD });
  cached.setJwks(jwks);
  for (const v of [uncached, cached]) {
    const r = await v.verify(c.token);
    if (!r.ok) throw new Error(`iam-wasm refused the ${alg} token: ${r.description}`);
  }
  const key = await jose.importJWK(c.jwk, alg);
  const opts = { issuer: ISS, audience: AUD, algorithms: [alg] };
  await jose.jwtVerify(c.token, key, opts);
  // Alternate the three, twice, and keep each one's best run.
  const best = { jose: Infinity, wasm: Infinity, cached: Infinity };
  for (let round = 0; round < 2; round++) {
    best.jose = Math.min(best.jose, await measureAsync(() => jose.jwtVerify(c.token, key, opts)));
    best.wasm = Math.min(best.wasm, await measureAsync(() => uncached.verify(c.token)));
    best.cached = Math.min(best.cached, await measureAsync(() => cached.verify(c.token)));
  }
  rows.push({ alg, ...best });
}

console.log('| alg | jose jwtVerify | iam-wasm, cache off | ratio (target <= 2.0) | iam-wasm, repeated token (cache hit) | ratio |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.alg} | ${r.jose.toFixed(1)} µs | ${r.wasm.toFixed(1)} µs | ${(r.wasm / r.jose).toFixed(2)}x | ${r.cached.toFixed(2)} µs | ${(r.cached / r.jose).toFixed(3)}x |`);
}
console.log(`\nnode ${process.version}, ${pkgDir}`);
