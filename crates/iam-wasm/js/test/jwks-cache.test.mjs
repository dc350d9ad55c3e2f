// Tests for jwks-cache.mjs, run with `node --test crates/iam-wasm/js/test/`.
//
// Each test talks to a real HTTP server on 127.0.0.1 (port 0) whose answers it controls,
// and drives the cache's notion of time through a fake clock: nothing waits on real time
// except the timeout tests, which use a timeout of a few tens of milliseconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { JwksCache, JwksUnavailableError } from '../jwks-cache.mjs';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Two distinct (dummy) key sets: the cache does not look inside the keys. */
const SET_A = JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', kid: 'a', x: 'AAAA' }] });
const SET_B = JSON.stringify({
  keys: [
    { kty: 'OKP', crv: 'Ed25519', kid: 'a', x: 'AAAA' },
    { kty: 'OKP', crv: 'Ed25519', kid: 'b', x: 'BBBB' },
  ],
});

/** A clock that only moves when told to; it starts on a whole second. */
function fakeClock(start = Date.UTC(2026, 0, 1)) {
  let t = start;
  return {
    now: () => t,
    advance(ms) {
      t += ms;
    },
  };
}

/**
 * Waits `ms` of real time, or less if `signal` fires first.
 * @param {number} ms
 * @param {import('node:http').ServerResponse} [res] stop early when this response closes
 */
function pause(ms, res) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    res?.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * A stand-in for the issuer. `issuer.reply(req)` decides each answer:
 * `{ status, headers, body, chunks, delayMs, chunkDelayMs, sendDate, destroy }`.
 * `issuer.requests` records the method and headers of every request received.
 * @param {number} [port] 0 for any free port
 */
async function startIssuer(port = 0) {
  const issuer = {
    /** @type {{ method: string, headers: import('node:http').IncomingHttpHeaders }[]} */
    requests: [],
    /** @type {(req: import('node:http').IncomingMessage) => any} */
    reply: () => ({ body: SET_A }),
    port: 0,
    url: '',
    close: async () => {},
  };
  const server = http.createServer(async (req, res) => {
    issuer.requests.push({ method: req.method ?? '', headers: req.headers });
    const r = issuer.reply(req);
    if (r.destroy) {
      req.socket.destroy(); // a network error from the client's point of view
      return;
    }
    if (r.delayMs) await pause(r.delayMs, res);
    if (res.destroyed) return;
    if (r.sendDate === false) res.sendDate = false;
    res.writeHead(r.status ?? 200, { 'content-type': 'application/json', ...r.headers });
    if (r.chunks) {
      // No Content-Length: Node sends the body chunked.
      for (const chunk of r.chunks) {
        if (res.destroyed) return;
        res.write(chunk);
        if (r.chunkDelayMs) await pause(r.chunkDelayMs, res);
      }
      if (!res.destroyed) res.end();
    } else {
      res.end(r.body ?? '');
    }
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  issuer.port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
  issuer.url = `http://127.0.0.1:${issuer.port}/.well-known/jwks.json`;
  issuer.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve(undefined));
    });
  return issuer;
}

/** Runs `body` with an issuer that is closed afterwards, whatever happens. */
async function withIssuer(body) {
  const issuer = await startIssuer();
  try {
    await body(issuer);
  } finally {
    await issuer.close();
  }
}

/** Asserts that `promise` rejects with a JwksUnavailableError (status 503). */
async function assertUnavailable(promise) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof JwksUnavailableError, `unexpected error: ${error}`);
    assert.ok(error instanceof Error);
    assert.equal(error.status, 503);
    assert.equal(error.name, 'JwksUnavailableError');
    return true;
  });
}

test('JwksUnavailableError is an Error with status 503', () => {
  const error = new JwksUnavailableError('down');
  assert.ok(error instanceof Error);
  assert.equal(error.status, 503);
  assert.equal(error.name, 'JwksUnavailableError');
  assert.equal(error.message, 'down');
});

test('URLs: https anywhere, http only on loopback (all of 127.0.0.0/8, as the Rust client), anything else refused in the constructor', () => {
  for (const ok of [
    'http://127.0.0.2:9000/jwks',
    'http://127.255.1.9/jwks',
    'http://0x7f.1/jwks', // the URL parser normalises it to 127.0.0.1
    'https://issuer.example.com/.well-known/jwks.json',
    'http://localhost:8080/jwks',
    'http://LOCALHOST/jwks',
    'http://127.0.0.1:9000/jwks',
    'http://[::1]:9000/jwks',
    new URL('https://issuer.example.com/jwks'),
  ]) {
    assert.doesNotThrow(() => new JwksCache(ok), String(ok));
  }
  for (const bad of [
    'http://issuer.example.com/jwks',
    'http://10.0.0.1/jwks',
    'http://127.0.0.1.example.com/jwks',
    'http://128.0.0.1/jwks',
    'http://127.0.0.1.nip.io/jwks',
    'http://localhost.example.com/jwks',
    'ftp://issuer.example.com/jwks',
    'file:///etc/passwd',
    'not a url',
    '/relative/jwks.json',
  ]) {
    assert.throws(() => new JwksCache(bad), TypeError, bad);
  }
});

test('options are checked in the constructor', () => {
  const url = 'https://issuer.example.com/jwks';
  assert.throws(() => new JwksCache(url, { fetch: 'nope' }), TypeError);
  assert.throws(() => new JwksCache(url, { now: 42 }), TypeError);
  assert.throws(() => new JwksCache(url, { minTtlMs: -1 }), RangeError);
  assert.throws(() => new JwksCache(url, { maxTtlMs: Infinity }), RangeError);
  assert.throws(() => new JwksCache(url, { cooldownMs: '30' }), RangeError);
  assert.throws(() => new JwksCache(url, { minTtlMs: 2 * HOUR, defaultTtlMs: HOUR }), RangeError);
  assert.throws(() => new JwksCache(url, { maxTtlMs: MINUTE }), RangeError);
  assert.throws(() => new JwksCache(url, { timeoutMs: 0 }), RangeError);
  assert.throws(() => new JwksCache(url, { maxBytes: 0 }), RangeError);
});

test('50 concurrent cold-start callers share exactly 1 fetch', async () => {
  await withIssuer(async (issuer) => {
    // A short delay keeps the fetch in flight while every caller arrives.
    issuer.reply = () => ({ body: SET_A, delayMs: 20 });
    const cache = new JwksCache(issuer.url, { now: fakeClock().now });
    const results = await Promise.all(Array.from({ length: 50 }, () => cache.get()));
    assert.equal(issuer.requests.length, 1);
    assert.ok(results.every((text) => text === SET_A));
    assert.deepEqual(cache.stats, {
      fetches: 1,
      hits: 0,
      notModified: 0,
      failures: 0,
      staleServed: 0,
      unknownKidRefused: 0,
    });
    assert.equal(issuer.requests[0].method, 'GET');
    assert.match(issuer.requests[0].headers.accept ?? '', /application\/jwk-set\+json/);
    // A cold fetch has nothing to revalidate.
    assert.equal(issuer.requests[0].headers['if-none-match'], undefined);
  });
});

test('hits within the lifetime do not fetch', async () => {
  await withIssuer(async (issuer) => {
    const clock = fakeClock();
    const cache = new JwksCache(issuer.url, { now: clock.now });
    assert.equal(await cache.get(), SET_A);
    for (let i = 0; i < 20; i++) {
      clock.advance(10 * SECOND); // 200 s in all, within the 15 min default
      assert.equal(await cache.get(), SET_A);
    }
    assert.equal(issuer.requests.length, 1);
    assert.equal(cache.stats.fetches, 1);
    assert.equal(cache.stats.hits, 20);
  });
});

test('an injected fetch is used, and called as a plain function', async () => {
  await withIssuer(async (issuer) => {
    let calls = 0;
    const cache = new JwksCache(issuer.url, {
      now: fakeClock().now,
      fetch(input, init) {
        calls++;
        assert.equal(this, undefined); // what Workers' fetch needs
        return globalThis.fetch(input, init);
      },
    });
    assert.equal(await cache.get(), SET_A);
    assert.equal(calls, 1);
  });
});

/**
 * Asserts that a set served with `headers` stays fresh for exactly `expectedMs`:
 * no fetch 1 ms before, a fetch at `expectedMs`.
 */
async function assertLifetime(issuer, headers, expectedMs, extra = {}) {
  const clock = fakeClock();
  issuer.reply = () => ({ body: SET_A, headers, ...extra });
  const before = issuer.requests.length;
  const cache = new JwksCache(issuer.url, { now: clock.now });
  await cache.get();
  clock.advance(expectedMs - 1);
  await cache.get();
  assert.equal(issuer.requests.length - before, 1, `still fresh at ${expectedMs - 1} ms: ${JSON.stringify(headers)}`);
  clock.advance(1);
  await cache.get();
  assert.equal(issuer.requests.length - before, 2, `stale at ${expectedMs} ms: ${JSON.stringify(headers)}`);
}

test('lifetime from Cache-Control max-age', async () => {
  await withIssuer(async (issuer) => {
    await assertLifetime(issuer, { 'cache-control': 'public, max-age=3600' }, HOUR);
    await assertLifetime(issuer, { 'cache-control': 'MAX-AGE=600, must-revalidate' }, 10 * MINUTE);
    await assertLifetime(issuer, { 'cache-control': 'max-age="1200"' }, 20 * MINUTE);
    // max-age wins over Expires.
    await assertLifetime(
      issuer,
      { 'cache-control': 'max-age=1800', expires: 'Thu, 01 Jan 2026 05:00:00 GMT' },
      30 * MINUTE,
    );
  });
});

test('lifetime clamped to minTtlMs (also for no-cache / no-store) and maxTtlMs', async () => {
  await withIssuer(async (issuer) => {
    await assertLifetime(issuer, { 'cache-control': 'max-age=1' }, 5 * MINUTE);
    await assertLifetime(issuer, { 'cache-control': 'max-age=0' }, 5 * MINUTE);
    await assertLifetime(issuer, { 'cache-control': 'no-cache' }, 5 * MINUTE);
    await assertLifetime(issuer, { 'cache-control': 'no-store, max-age=3600' }, 5 * MINUTE);
    await assertLifetime(issuer, { 'cache-control': 'max-age=999999999' }, 24 * HOUR);
    await assertLifetime(issuer, { 'cache-control': 'max-age=99999999999999999999999' }, 24 * HOUR);
  });
});

test('lifetime from Expires minus Date, or minus now() without Date', async () => {
  await withIssuer(async (issuer) => {
    await assertLifetime(
      issuer,
      { date: 'Mon, 23 Nov 2026 10:00:00 GMT', expires: 'Mon, 23 Nov 2026 12:00:00 GMT' },
      2 * HOUR,
    );
    // The fake clock starts at 2026-01-01T00:00:00Z; no Date header is sent.
    await assertLifetime(issuer, { expires: 'Thu, 01 Jan 2026 03:00:00 GMT' }, 3 * HOUR, {
      sendDate: false,
    });
    // In the past, or invalid ("0" is common): already expired, so the minimum.
    await assertLifetime(
      issuer,
      { date: 'Mon, 23 Nov 2026 10:00:00 GMT', expires: 'Mon, 23 Nov 2026 09:00:00 GMT' },
      5 * MINUTE,
    );
    await assertLifetime(issuer, { expires: '0' }, 5 * MINUTE);
    // Far in the future: the maximum.
    await assertLifetime(
      issuer,
      { date: 'Mon, 23 Nov 2026 10:00:00 GMT', expires: 'Mon, 30 Nov 2026 10:00:00 GMT' },
      24 * HOUR,
    );
  });
});

test('default lifetime when the server says nothing (s-maxage and junk ignored)', async () => {
  await withIssuer(async (issuer) => {
    await assertLifetime(issuer, {}, 15 * MINUTE);
    await assertLifetime(issuer, { 'cache-control': 's-maxage=7200' }, 15 * MINUTE);
    await assertLifetime(issuer, { 'cache-control': 'public, max-age=abc' }, 15 * MINUTE);
  });
});

test('300 unknown-kid lookups (concurrent and sequential) cause at most 2 fetches in all', async () => {
  await withIssuer(async (issuer) => {
    const clock = fakeClock();
    const cache = new JwksCache(issuer.url, { now: clock.now });
    assert.equal(await cache.get(), SET_A); // fetch #1
    issuer.reply = () => ({ body: SET_B, delayMs: 20 }); // the issuer rotated its keys

    // Right after a fetch the set is as new as it gets: refused, no fetch.
    const early = await Promise.all(
      Array.from({ length: 50 }, (_, i) => cache.getAfterUnknownKid(`early-${i}`)),
    );
    assert.ok(early.every((r) => r === null));
    assert.equal(issuer.requests.length, 1);

    // Past the cooldown: 100 concurrent lookups share a single refresh and all see SET_B.
    clock.advance(30 * SECOND);
    const concurrent = await Promise.all(
      Array.from({ length: 100 }, (_, i) => cache.getAfterUnknownKid(`concurrent-${i}`)),
    );
    assert.ok(concurrent.every((r) => r === SET_B));
    assert.equal(issuer.requests.length, 2);

    // 150 more, one after the other, within the next cooldown: refused.
    for (let i = 0; i < 150; i++) {
      clock.advance(100); // 15 s in all
      assert.equal(await cache.getAfterUnknownKid(`sequential-${i}`), null);
    }
    assert.equal(issuer.requests.length, 2);
    assert.equal(cache.stats.fetches, 2);
    assert.equal(cache.stats.unknownKidRefused, 200);
    // The cache still answers from the refreshed set.
    assert.equal(await cache.get(), SET_B);
    assert.equal(issuer.requests.length, 2);
  });
});

test('after the cooldown a new kid triggers a refresh and returns the new set', async () => {
  await withIssuer(async (issuer) => {
    const clock = fakeClock();
    const cache = new JwksCache(issuer.url, { now: clock.now });
    await cache.get();

    clock.advance(30 * SECOND - 1);
    assert.equal(await cache.getAfterUnknownKid('b'), null); // still in the cooldown
    assert.equal(issuer.requests.length, 1);

    clock.advance(1);
    issuer.reply = () => ({ body: SET_B });
    assert.equal(await cache.getAfterUnknownKid('b'), SET_B);
    assert.equal(issuer.requests.length, 2);
    assert.equal(await cache.get(), SET_B);

    // Another cooldown later, an unchanged set means "nothing new": null.
    clock.advance(30 * SECOND);
    assert.equal(await cache.getAfterUnknownKid('c'), null);
    assert.equal(issuer.requests.length, 3);

    // Junk kids never cause a fetch.
    clock.advance(30 * SECOND);
    assert.equal(await cache.getAfterUnknownKid('x'.repeat(257)), null);
    assert.equal(await cache.getAfterUnknownKid(undefined), null);
    assert.equal(issuer.requests.length, 3);
  });
});

/**
 * What an edge validator does with a token naming `kid`: the cached set, then one
 * unknown-kid lookup. 200 when the key is found, 401 when it is not.
 * @param {JwksCache} cache
 * @param {string} kid
 */
async function verdict(cache, kid) {
  const has = (text) => JSON.parse(text).keys.some((k) => k.kid === kid);
  if (has(await cache.get())) return 200;
  const newer = await cache.getAfterUnknownKid(kid);
  return newer !== null && has(newer) ? 200 : 401;
}

// Issue 12, item 2: refused lookups must not extend the cooldown (or any per-kid memory),
// or a key rotated in at the issuer stays unusable for as long as clients keep retrying.
test('a key rotated in during the cooldown is usable once it ends, however often clients retry', async () => {
  await withIssuer(async (issuer) => {
    const clock = fakeClock();
    const cache = new JwksCache(issuer.url, { now: clock.now });
    assert.equal(await verdict(cache, 'a'), 200); // fetch #1
    issuer.reply = () => ({ body: SET_B }); // the issuer rotates key "b" in
    const answers = [];
    for (let at = 2; at <= 50; at += 2) {
      clock.advance(2 * SECOND);
      answers.push([at, await verdict(cache, 'b')]);
    }
    for (const [at, status] of answers) {
      assert.equal(status, at < 30 ? 401 : 200, `t = ${at} s: ${JSON.stringify(answers)}`);
    }
    assert.equal(issuer.requests.length, 2, 'one fetch when the cooldown ended');
    assert.equal(await verdict(cache, 'a'), 200);
  });
});

test('a flood of random kids costs at most one fetch per cooldown', async () => {
  await withIssuer(async (issuer) => {
    const clock = fakeClock();
    const cache = new JwksCache(issuer.url, { now: clock.now });
    assert.equal(await verdict(cache, 'a'), 200);
    const minutes = 10;
    for (let i = 0; i < minutes * 60 * 10; i++) {
      clock.advance(100); // ten a second
      assert.equal(await verdict(cache, `junk-${i}-${Math.random()}`), 401);
    }
    const cooldowns = (minutes * MINUTE) / (30 * SECOND);
    assert.ok(
      issuer.requests.length <= 1 + cooldowns,
      `${issuer.requests.length} fetches in ${cooldowns} cooldowns`,
    );
    assert.equal(await verdict(cache, 'a'), 200);
  });
});

test('an unknown-kid refresh that fails answers null, and the set is still served', async () => {
  await withIssuer(async (issuer) => {
    const clock = fakeClock();
    const cache = new JwksCache(issuer.url, { now: clock.now });
    await cache.get();
    clock.advance(30 * SECOND);
    issuer.reply = () => ({ status: 500, body: 'oops' });
    assert.equal(await cache.getAfterUnknownKid('b'), null);
    assert.equal(cache.stats.failures, 1);
    assert.equal(await cache.get(), SET_A); // still fresh
  });
});

test('conditional refresh: ETag / Last-Modified sent, 304 keeps the set and renews its lifetime', async () => {
  await withIssuer(async (issuer) => {
    const clock = fakeClock();
    const lastModified = 'Wed, 31 Dec 2025 12:00:00 GMT';
    issuer.reply = (req) =>
      req.headers['if-none-match'] === '"v1"'
        ? { status: 304, headers: { 'cache-control': 'max-age=600' } }
        : {
            body: SET_A,
            headers: { etag: '"v1"', 'last-modified': lastModified, 'cache-control': 'max-age=300' },
          };
    const cache = new JwksCache(issuer.url, { now: clock.now });
    assert.equal(await cache.get(), SET_A);

    clock.advance(5 * MINUTE); // expired
    assert.equal(await cache.get(), SET_A);
    assert.equal(issuer.requests.length, 2);
    assert.equal(issuer.requests[1].headers['if-none-match'], '"v1"');
    assert.equal(issuer.requests[1].headers['if-modified-since'], lastModified);
    assert.equal(cache.stats.notModified, 1);
    assert.equal(cache.stats.failures, 0);

    // Renewed for the 304's max-age (10 min), not the original 5 min.
    clock.advance(10 * MINUTE - 1);
    assert.equal(await cache.get(), SET_A);
    assert.equal(issuer.requests.length, 2);
    clock.advance(1);
    assert.equal(await cache.get(), SET_A);
    assert.equal(issuer.requests.length, 3);
    assert.equal(cache.stats.notModified, 2);

    // A changed set replaces the old one and its validators.
    clock.advance(10 * MINUTE);
    issuer.reply = () => ({ body: SET_B, headers: { etag: '"v2"' } });
    assert.equal(await cache.get(), SET_B);
    clock.advance(15 * MINUTE);
    await cache.get();
    assert.equal(issuer.requests.at(-1)?.headers['if-none-match'], '"v2"');
    assert.equal(issuer.requests.at(-1)?.headers['if-modified-since'], undefined);
  });
});

test('a 304 on a cold start (no set to keep) is a failure', async () => {
  await withIssuer(async (issuer) => {
    issuer.reply = () => ({ status: 304 });
    const cache = new JwksCache(issuer.url, { now: fakeClock().now });
    await assertUnavailable(cache.get());
    assert.equal(cache.stats.notModified, 0);
    assert.equal(cache.stats.failures, 1);
  });
});

test('stale-if-error: the old set is served within the window and refused after it', async () => {
  await withIssuer(async (issuer) => {
    const clock = fakeClock();
    issuer.reply = () => ({ body: SET_A, headers: { 'cache-control': 'max-age=300' } });
    const cache = new JwksCache(issuer.url, { now: clock.now });
    await cache.get();

    issuer.reply = () => ({ status: 503, body: 'maintenance' });
    clock.advance(5 * MINUTE); // expired: the refresh fails, the stale set is served
    assert.equal(await cache.get(), SET_A);
    assert.equal(cache.stats.failures, 1);
    assert.equal(cache.stats.staleServed, 1);
    assert.equal(issuer.requests.length, 2);

    // While serving stale, failed refreshes are retried once per cooldown, not per request.
    for (let i = 0; i < 10; i++) {
      clock.advance(SECOND);
      assert.equal(await cache.get(), SET_A);
    }
    assert.equal(issuer.requests.length, 2);
    clock.advance(20 * SECOND);
    assert.equal(await cache.get(), SET_A);
    assert.equal(issuer.requests.length, 3);

    // Up to 24 h past the expiry: still served. The window is counted from the expiry,
    // not from the failures.
    clock.advance(24 * HOUR - 30 * SECOND - 1); // 1 ms before the end of the window
    assert.equal(await cache.get(), SET_A);
    assert.equal(issuer.requests.length, 4);
    clock.advance(1);
    await assertUnavailable(cache.get());
    assert.equal(cache.stats.staleServed, 13);
    assert.equal(cache.stats.failures, 3);

    // The issuer comes back: the cache recovers.
    issuer.reply = () => ({ body: SET_B });
    clock.advance(SECOND);
    assert.equal(await cache.get(), SET_B);
  });
});

test('cold start with the issuer down, then it comes back: works without a new JwksCache', async () => {
  // Find a free port, then leave it closed: connections are refused.
  const probe = await startIssuer();
  const port = probe.port;
  const url = probe.url;
  await probe.close();

  const clock = fakeClock();
  const cache = new JwksCache(url, { now: clock.now });
  await assertUnavailable(cache.get());
  assert.equal(cache.stats.fetches, 1);
  assert.equal(cache.stats.failures, 1);

  const issuer = await startIssuer(port);
  try {
    // Within the retry interval: refused at once, without a fetch.
    await assertUnavailable(cache.get());
    assert.equal(issuer.requests.length, 0);
    clock.advance(SECOND);
    assert.equal(await cache.get(), SET_A);
    assert.equal(issuer.requests.length, 1);
    assert.equal(cache.stats.fetches, 2);
  } finally {
    await issuer.close();
  }
});

test('failed attempts with no set are rate-limited to one per second', async () => {
  await withIssuer(async (issuer) => {
    const clock = fakeClock();
    issuer.reply = () => ({ status: 500, body: 'down', delayMs: 20 });
    const cache = new JwksCache(issuer.url, { now: clock.now });

    // A flood of concurrent callers during the outage: one request to the issuer.
    const outcomes = await Promise.allSettled(Array.from({ length: 50 }, () => cache.get()));
    assert.ok(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof JwksUnavailableError));
    assert.equal(issuer.requests.length, 1);

    // Calls within the next second throw at once.
    for (let i = 0; i < 99; i++) {
      clock.advance(10);
      await assertUnavailable(cache.get());
    }
    assert.equal(issuer.requests.length, 1);

    clock.advance(10); // one second after the failure
    await assertUnavailable(cache.get());
    assert.equal(issuer.requests.length, 2);
    assert.equal(cache.stats.failures, 2);

    // A network error (connection dropped) counts as a failure too.
    issuer.reply = () => ({ destroy: true });
    clock.advance(SECOND);
    await assertUnavailable(cache.get());
    assert.equal(issuer.requests.length, 3);
    assert.equal(cache.stats.failures, 3);
  });
});

test('hostile or broken answers are refused', async () => {
  await withIssuer(async (issuer) => {
    const maxBytes = 1024;
    const big = JSON.stringify({ keys: [{ kty: 'oct', k: 'x'.repeat(2000) }] });
    const cases = [
      ['over maxBytes, with Content-Length', { body: big, headers: { 'content-length': String(Buffer.byteLength(big)) } }],
      ['over maxBytes, chunked (no Content-Length)', { chunks: [big.slice(0, 600), big.slice(600, 1200), big.slice(1200)] }],
      ['over maxBytes, chunked in tiny pieces', { chunks: Array.from({ length: 40 }, () => 'x'.repeat(30)) }],
      ['not JSON', { body: '<html>hello</html>' }],
      ['empty body', { body: '' }],
      ['not UTF-8', { chunks: [Buffer.from([0x7b, 0xff, 0xfe, 0x7d])] }],
      ['JSON without keys', { body: JSON.stringify({ foo: [] }) }],
      ['keys not an array', { body: JSON.stringify({ keys: { kid: 'a' } }) }],
      ['keys null', { body: JSON.stringify({ keys: null }) }],
      ['a JSON array', { body: JSON.stringify([{ keys: [] }]) }],
      ['JSON null', { body: 'null' }],
      ['a JSON string', { body: JSON.stringify('{"keys":[]}') }],
      ['HTTP 404', { status: 404, body: SET_A }],
      ['HTTP 500', { status: 500, body: SET_A }],
      ['HTTP 204', { status: 204 }],
      // Not followed, even to a valid set on the same server.
      ['a redirect', (req) =>
        req.url === '/elsewhere' ? { body: SET_A } : { status: 302, headers: { location: '/elsewhere' } }],
    ];
    for (const [name, reply] of cases) {
      issuer.reply = typeof reply === 'function' ? reply : () => reply;
      const cache = new JwksCache(issuer.url, { now: fakeClock().now, maxBytes });
      await assertUnavailable(cache.get());
      assert.equal(cache.stats.failures, 1, name);
    }
    // A declared length over the limit is refused from the headers alone, without
    // waiting for a body that may never come.
    issuer.reply = () => ({
      headers: { 'content-length': String(1e9) },
      chunks: ['{'],
      chunkDelayMs: 5000,
    });
    const started = Date.now();
    await assertUnavailable(new JwksCache(issuer.url, { now: fakeClock().now, maxBytes }).get());
    assert.ok(Date.now() - started < 1000, 'refused on Content-Length');

    // Exactly maxBytes is accepted.
    const exact = JSON.stringify({ keys: [] }).padEnd(maxBytes, ' ');
    issuer.reply = () => ({ chunks: [exact.slice(0, 500), exact.slice(500)] });
    const cache = new JwksCache(issuer.url, { now: fakeClock().now, maxBytes });
    assert.equal(await cache.get(), exact);
  });
});

test('a refused answer does not replace a good set', async () => {
  await withIssuer(async (issuer) => {
    const clock = fakeClock();
    const cache = new JwksCache(issuer.url, { now: clock.now });
    await cache.get();
    issuer.reply = () => ({ body: JSON.stringify({ nokeys: true }) });
    clock.advance(15 * MINUTE);
    assert.equal(await cache.get(), SET_A);
    assert.equal(cache.stats.staleServed, 1);
  });
});

test('timeout: a server that answers too slowly (headers or body) fails the fetch', async () => {
  await withIssuer(async (issuer) => {
    const timeoutMs = 50;

    issuer.reply = () => ({ body: SET_A, delayMs: 2000 });
    let cache = new JwksCache(issuer.url, { now: fakeClock().now, timeoutMs });
    let started = Date.now();
    await assertUnavailable(cache.get());
    assert.ok(Date.now() - started < 1000, 'gave up well before the server answered');
    assert.equal(cache.stats.failures, 1);

    // Headers at once, then the body stalls.
    issuer.reply = () => ({ chunks: ['{"keys":', '[]}'], chunkDelayMs: 2000 });
    cache = new JwksCache(issuer.url, { now: fakeClock().now, timeoutMs });
    started = Date.now();
    await assertUnavailable(cache.get());
    assert.ok(Date.now() - started < 1000, 'gave up while the body stalled');
    assert.equal(cache.stats.failures, 1);

    // A stale set is served when a refresh times out.
    const clock = fakeClock();
    issuer.reply = () => ({ body: SET_A });
    cache = new JwksCache(issuer.url, { now: clock.now, timeoutMs });
    await cache.get();
    issuer.reply = () => ({ body: SET_B, delayMs: 2000 });
    clock.advance(15 * MINUTE);
    assert.equal(await cache.get(), SET_A);
    assert.equal(cache.stats.staleServed, 1);
  });
});

test('nothing is logged, even on failures', async () => {
  const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace'];
  const saved = methods.map((m) => console[m]);
  let calls = 0;
  for (const m of methods) console[m] = () => void calls++;
  try {
    await withIssuer(async (issuer) => {
      const clock = fakeClock();
      const cache = new JwksCache(issuer.url, { now: clock.now });
      await cache.get();
      issuer.reply = () => ({ status: 500 });
      clock.advance(15 * MINUTE);
      await cache.get();
      clock.advance(30 * SECOND);
      await cache.getAfterUnknownKid('zz');
      clock.advance(48 * HOUR);
      await cache.get().catch(() => {});
    });
  } finally {
    methods.forEach((m, i) => (console[m] = saved[i]));
  }
  assert.equal(calls, 0);
});
