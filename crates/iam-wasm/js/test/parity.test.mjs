// The wasm build must reach exactly the verdicts of the native build: the Wycheproof JWS and
// JWK vectors and iam-core's hostile-token table, as exported by the native test run
// (IAM_VERDICTS_DIR=dir cargo test -p iam-core --test hostile --test wycheproof), replayed
// through iam-wasm. Status, error code and description must all match.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { loadWasm, missing, noWasm } from './helpers.mjs';

const dir = process.env.IAM_VERDICTS_DIR;
const skip = missing(() =>
  noWasm() ??
  (dir && existsSync(dir) && readdirSync(dir).length > 0
    ? null
    : 'IAM_VERDICTS_DIR does not name a directory of native verdicts'));
const wasm = skip ? null : loadWasm();
const opts = { skip: skip || false };
const read = (name) => JSON.parse(readFileSync(path.join(dir, `${name}.json`), 'utf8'));
const b64url = (s) => new Uint8Array(Buffer.from(s, 'base64url'));

/** A verdict as the native export writes it, from a wasm answer. */
function verdictOf(answer) {
  if (answer.ok) return { ok: true };
  const { ok, status, error, description } = answer;
  return { ok, status, error, description };
}

test('hostile-token tables: same verdict for every token', opts, async () => {
  const files = readdirSync(dir).filter((f) => f.startsWith('hostile-'));
  assert.ok(files.length >= 4, `hostile tables exported: ${files}`);
  let n = 0;
  for (const f of files) {
    const doc = read(f.replace(/\.json$/, ''));
    const v = new wasm.Validator(doc.options);
    assert.deepEqual(v.setJwks(doc.jwks), [], `${f}: every test key is accepted`);
    for (const c of doc.cases) {
      assert.deepEqual(verdictOf(await v.verify(c.token, doc.now)), c.verdict, `${f}: ${c.name}`);
      n++;
    }
  }
  assert.ok(n > 100, `only ${n} hostile cases`);
});

for (const name of ['wycheproof-jws', 'wycheproof-jwk']) {
  test(`${name}: same verdict for every vector`, opts, async () => {
    const doc = read(name);
    let n = 0;
    for (const g of doc.groups) {
      const v = new wasm.Validator({ issuer: 'unused', audience: 'unused', cacheSize: 0 });
      let configError = false;
      try {
        v.setJwks(g.jwks);
        for (const s of g.secrets) v.addSharedSecret(s.kid ?? undefined, s.alg, b64url(s.k));
      } catch {
        configError = true;
      }
      for (const c of g.cases) {
        n++;
        if (c.verdict.configError) {
          assert.ok(configError, `tcId ${c.tcId}: keys refused natively, accepted by wasm`);
          continue;
        }
        assert.ok(!configError, `tcId ${c.tcId}: keys accepted natively, refused by wasm`);
        assert.deepEqual(verdictOf(await v.verifySignature(c.token)), c.verdict, `tcId ${c.tcId}`);
      }
    }
    assert.ok(n > 20, `only ${n} cases`);
  });
}
