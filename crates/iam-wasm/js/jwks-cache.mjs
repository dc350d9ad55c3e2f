// JwksCache: fetches and caches a JSON Web Key Set (JWKS) for an edge validator.
//
// It follows the same rules as the Rust `RemoteJwks` (crates/iam-client/src/jwks.rs):
//
// - The set is fresh for the server's `Cache-Control: max-age` (`no-cache` / `no-store`
//   mean "as short as allowed", `s-maxage` is ignored), else for `Expires` minus `Date`
//   (or minus `now()` without a `Date`), else for `defaultTtlMs`; the lifetime is always
//   clamped to [minTtlMs, maxTtlMs].
// - One fetch at a time: concurrent callers wait for the fetch in flight and share its
//   outcome.
// - Refreshes are conditional (`If-None-Match` / `If-Modified-Since`); a `304` keeps the
//   set and renews its lifetime from the 304's own headers.
// - A failed refresh (network error, timeout, redirect, non-2xx other than 304, body over
//   `maxBytes`, body that is not a JSON object with a `keys` array) keeps the last good set
//   usable for `staleIfErrorMs` past its expiry; with nothing usable, `get()` throws
//   `JwksUnavailableError` (status 503).
// - After a failure, requests do not hammer the issuer: with no usable set the next attempt
//   waits `retryAfterFailureMs` (1 s) so that a cache that started while the issuer was down
//   recovers quickly on its own; while a stale set is being served the next attempt waits
//   `cooldownMs`, as in Rust, so that requests do not keep waiting on a dead issuer.
// - A token with an unknown `kid` may trigger a refresh, at most one per `cooldownMs` for
//   the whole cache (any completed fetch starts the cooldown: a set fetched moments ago is
//   as new as it gets). Only a fetch starts the cooldown: a refused lookup never extends it,
//   and no kid is remembered as unknown, so a key rotated in at the issuer is found by the
//   first lookup after the cooldown ends, however often clients retried meanwhile (one
//   fetch for all of them). Without background work (edge runtimes may cancel it), that
//   refetch waits for the first lookup after the cooldown rather than starting on its own.
// - Only `https:` URLs, or `http:` on localhost / 127.0.0.0/8 / [::1]. Redirects are not
//   followed.
// - Nothing is ever logged.
//
// Portable to Node >= 20 and Cloudflare Workers: it relies on `fetch` (and its Response
// body stream), `AbortController`, `setTimeout`, `TextDecoder` and `Date` only.

/** Thrown by `get()` when no JWK set can be had at all; the caller should answer 503. */
export class JwksUnavailableError extends Error {
  /**
   * @param {string} message
   * @param {{ cause?: unknown }} [options]
   */
  constructor(message, options) {
    super(message, options);
    this.name = 'JwksUnavailableError';
    /** The HTTP status the caller should answer with. */
    this.status = 503;
  }
}

/** Defaults, in milliseconds (and bytes for `maxBytes`); they match the Rust client. */
const DEFAULTS = Object.freeze({
  minTtlMs: 5 * 60e3,
  maxTtlMs: 24 * 3600e3,
  defaultTtlMs: 15 * 60e3,
  cooldownMs: 30e3,
  staleIfErrorMs: 24 * 3600e3,
  retryAfterFailureMs: 1e3,
  timeoutMs: 10e3,
  maxBytes: 1024 * 1024,
});

/** Host names for which plain `http:` is acceptable (the URL parser lower-cases them). */
const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);

/**
 * The whole IPv4 loopback network, 127.0.0.0/8, as the Rust client's transport policy
 * accepts it. The URL parser has already normalised the host to four decimal octets (it
 * rewrites `0x7f.1`, `2130706433` and the like), so a name such as `127.0.0.1.example.com`
 * never matches.
 */
const IPV4_LOOPBACK = /^127\.(?:25[0-5]|2[0-4]\d|1?\d?\d)\.(?:25[0-5]|2[0-4]\d|1?\d?\d)\.(?:25[0-5]|2[0-4]\d|1?\d?\d)$/;

/** Longest `kid` worth a refresh; anything longer is junk (same bound as the Rust client). */
const MAX_KID_LENGTH = 256;

/**
 * Whether the URL may be used to fetch keys: https anywhere, http only on loopback.
 * @param {URL} url
 */
function isAllowedUrl(url) {
  if (url.protocol === 'https:') return true;
  return (
    url.protocol === 'http:' && (LOOPBACK_HOSTS.has(url.hostname) || IPV4_LOOPBACK.test(url.hostname))
  );
}

/**
 * The lifetime the server asked for, in ms, or `null` when it said nothing usable.
 * `0` stands for "do not cache" (`no-store`, `no-cache`, an unparsable `Expires`); the
 * caller clamps the result to the configured bounds.
 * @param {Headers} headers
 * @param {number} nowMs the local clock, used when the response carries no `Date`
 */
function serverTtlMs(headers, nowMs) {
  // Several Cache-Control headers are joined with ", " by the Headers class.
  const cacheControl = headers.get('cache-control');
  if (cacheControl !== null) {
    for (const part of cacheControl.split(',')) {
      const directive = part.trim().toLowerCase();
      if (directive === 'no-store' || directive === 'no-cache') return 0;
      // `s-maxage=` does not match: it is meant for shared caches and is ignored.
      if (directive.startsWith('max-age=')) {
        const value = directive.slice('max-age='.length).replace(/^"|"$/g, '');
        // A malformed max-age is skipped, as if it were not there.
        if (/^\d+$/.test(value)) return Number(value) * 1000;
      }
    }
  }
  const expires = headers.get('expires');
  if (expires === null) return null;
  const expiresAt = Date.parse(expires);
  // RFC 9111: an invalid Expires (such as "0") means "already expired".
  if (Number.isNaN(expiresAt)) return 0;
  const date = headers.get('date');
  const dateAt = date === null ? NaN : Date.parse(date);
  const reference = Number.isNaN(dateAt) ? nowMs : dateAt;
  return Math.max(0, expiresAt - reference);
}

/**
 * Whether a parsed body looks like a JWK set: a JSON object with a `keys` array.
 * The keys themselves are checked by the validator that consumes the set.
 * @param {unknown} value
 */
function isJwkSet(value) {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Array.isArray(/** @type {{ keys?: unknown }} */ (value).keys)
  );
}

/** A refresh that failed; the message never contains the URL or the body. */
class FetchFailure extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'FetchFailure';
  }
}

/**
 * Reads a response body as UTF-8 text, refusing it as soon as it grows past `maxBytes`.
 * @param {Response} response
 * @param {number} maxBytes
 */
async function readBodyLimited(response, maxBytes) {
  const declared = response.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > maxBytes) {
    await discardBody(response);
    throw new FetchFailure(`JWK set larger than ${maxBytes} bytes`);
  }
  if (response.body === null) return '';
  const reader = response.body.getReader();
  // fatal: a body that is not valid UTF-8 is not a JWK set.
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let received = 0;
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      // The declared length may be missing (chunked) or wrong: count what arrives.
      received += value.byteLength;
      if (received > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new FetchFailure(`JWK set larger than ${maxBytes} bytes`);
      }
      text += decodeUtf8(decoder, value);
    }
    text += decodeUtf8(decoder);
  } finally {
    reader.releaseLock();
  }
  return text;
}

/**
 * Decodes the next piece of a body (or flushes the decoder when `bytes` is omitted).
 * @param {TextDecoder} decoder
 * @param {Uint8Array} [bytes]
 */
function decodeUtf8(decoder, bytes) {
  try {
    return bytes === undefined ? decoder.decode() : decoder.decode(bytes, { stream: true });
  } catch (error) {
    throw new FetchFailure('the body is not UTF-8', { cause: error });
  }
}

/**
 * Drops an unread response body so that the connection can be released.
 * @param {Response} response
 */
async function discardBody(response) {
  try {
    await response.body?.cancel();
  } catch {
    // Nothing useful to do: the body is being thrown away anyway.
  }
}

/**
 * A cached, self-refreshing JWK set, for one issuer URL.
 */
export class JwksCache {
  /** @type {URL} */
  #url;
  /** @type {(input: string, init: RequestInit) => Promise<Response>} */
  #fetch;
  /** @type {() => number} */
  #now;
  /** @type {typeof DEFAULTS} */
  #options;

  // The cached set and its validators.
  /** @type {string | null} */
  #text = null;
  /** @type {string | null} */
  #etag = null;
  /** @type {string | null} */
  #lastModified = null;
  #freshUntil = -Infinity;
  #staleUntil = -Infinity;

  // The last attempt: when it ended, whether it failed, and why.
  #lastAttemptAt = -Infinity;
  #lastAttemptFailed = false;
  /** @type {unknown} */
  #lastError = null;

  /** The fetch in flight, shared by everyone who needs it. @type {Promise<void> | null} */
  #inflight = null;

  #stats = {
    fetches: 0,
    hits: 0,
    notModified: 0,
    failures: 0,
    staleServed: 0,
    unknownKidRefused: 0,
  };

  /**
   * @param {string | URL} url where the JWK set is published: `https:`, or `http:` on
   *   localhost / 127.0.0.0/8 / [::1]
   * @param {object} [options]
   * @param {(input: string, init: RequestInit) => Promise<Response>} [options.fetch]
   *   the fetch to use (defaults to the global one, looked up at call time)
   * @param {() => number} [options.now] the clock, in ms since the epoch (it is also the
   *   reference for `Expires` when a response carries no `Date`)
   * @param {number} [options.minTtlMs] shortest lifetime of a fetched set (5 min)
   * @param {number} [options.maxTtlMs] longest lifetime of a fetched set (24 h)
   * @param {number} [options.defaultTtlMs] lifetime when the server says nothing (15 min)
   * @param {number} [options.cooldownMs] at most one unknown-kid refresh per cooldown,
   *   and the wait between failed attempts while a stale set is served (30 s)
   * @param {number} [options.staleIfErrorMs] how long past its expiry a set is still
   *   served when refreshing fails (24 h)
   * @param {number} [options.retryAfterFailureMs] the wait between failed attempts when
   *   no set can be served (1 s)
   * @param {number} [options.timeoutMs] limit for one fetch, body included (10 s)
   * @param {number} [options.maxBytes] largest accepted body (1 MiB)
   * @throws {TypeError} on a URL that is invalid, not https, or http off loopback, and on
   *   a `fetch` or `now` that is not a function
   * @throws {RangeError} on lifetimes or limits that are negative, not finite, or out of
   *   order (`minTtlMs <= defaultTtlMs <= maxTtlMs` is required)
   */
  constructor(url, options = {}) {
    let parsed;
    try {
      parsed = new URL(String(url));
    } catch {
      throw new TypeError('JwksCache: the JWKS URL is not a valid URL');
    }
    if (!isAllowedUrl(parsed)) {
      throw new TypeError(
        'JwksCache: the JWKS URL must use https (plain http only on localhost, 127.0.0.0/8 or [::1])',
      );
    }
    this.#url = parsed;

    const { fetch, now, ...limits } = options;
    if (fetch !== undefined && typeof fetch !== 'function') {
      throw new TypeError('JwksCache: options.fetch must be a function');
    }
    if (now !== undefined && typeof now !== 'function') {
      throw new TypeError('JwksCache: options.now must be a function');
    }
    // Default to the global fetch, looked up on each call and called as a plain function:
    // Workers reject a fetch invoked as a method of another object ("Illegal invocation").
    this.#fetch = fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#now = now ?? (() => Date.now());

    /** @type {Record<string, number>} */
    const merged = { ...DEFAULTS };
    for (const name of Object.keys(DEFAULTS)) {
      const value = limits[name];
      if (value === undefined) continue;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new RangeError(`JwksCache: options.${name} must be a finite number >= 0`);
      }
      merged[name] = value;
    }
    if (!(merged.minTtlMs <= merged.defaultTtlMs && merged.defaultTtlMs <= merged.maxTtlMs)) {
      throw new RangeError('JwksCache: minTtlMs <= defaultTtlMs <= maxTtlMs is required');
    }
    if (merged.timeoutMs === 0 || merged.maxBytes === 0) {
      throw new RangeError('JwksCache: timeoutMs and maxBytes must be greater than 0');
    }
    this.#options = Object.freeze(/** @type {typeof DEFAULTS} */ (merged));
  }

  /**
   * A snapshot of the counters.
   * - `fetches`: HTTP requests sent (successful or not);
   * - `hits`: `get()` calls answered from a fresh set without any fetch;
   * - `notModified`: `304` answers;
   * - `failures`: refreshes that failed;
   * - `staleServed`: `get()` calls answered with an expired set because refreshing failed;
   * - `unknownKidRefused`: `getAfterUnknownKid()` calls refused without a fetch.
   * @returns {{ fetches: number, hits: number, notModified: number, failures: number,
   *   staleServed: number, unknownKidRefused: number }}
   */
  get stats() {
    return { ...this.#stats };
  }

  /**
   * The JWK set, as the JSON text the issuer published.
   * Fetches it when it is missing or expired (sharing a fetch already in flight).
   * @returns {Promise<string>}
   * @throws {JwksUnavailableError} when no set can be had at all
   */
  async get() {
    const now = this.#now();
    if (this.#text !== null && now < this.#freshUntil) {
      this.#stats.hits++;
      return this.#text;
    }
    // The check and the start of the fetch happen in the same tick, before any await:
    // concurrent callers find `#inflight` set and join it.
    if (this.#inflight === null && !this.#mayAttempt(now)) {
      return this.#settledAnswer();
    }
    await this.#refresh();
    return this.#settledAnswer();
  }

  /**
   * To call when a token names a `kid` that the current set lacks: refreshes the set,
   * at most once per `cooldownMs` for the whole cache (concurrent callers share the fetch).
   * Never throws: a refused or failed refresh is reported as `null`.
   * @param {string} kid the unknown key id (only its length is looked at: junk is refused)
   * @returns {Promise<string | null>} the new JWK set text when a refresh happened and
   *   brought a set different from the one held before the call, else `null`
   */
  async getAfterUnknownKid(kid) {
    const before = this.#text;
    if (this.#inflight === null) {
      const junk = typeof kid !== 'string' || kid.length > MAX_KID_LENGTH;
      if (junk || this.#now() - this.#lastAttemptAt < this.#options.cooldownMs) {
        this.#stats.unknownKidRefused++;
        return null;
      }
    }
    await this.#refresh();
    return this.#text !== null && this.#text !== before ? this.#text : null;
  }

  /**
   * Whether `get()` may start a fetch now, given how the last attempt went.
   * @param {number} now
   */
  #mayAttempt(now) {
    if (!this.#lastAttemptFailed) return true;
    const servingStale = this.#text !== null && now < this.#staleUntil;
    const wait = servingStale ? this.#options.cooldownMs : this.#options.retryAfterFailureMs;
    return now - this.#lastAttemptAt >= wait;
  }

  /**
   * What `get()` answers once the last attempt is over: the set when that attempt
   * succeeded, the stale set within its grace period, else an error.
   */
  #settledAnswer() {
    if (this.#text !== null) {
      if (!this.#lastAttemptFailed) return this.#text;
      if (this.#now() < this.#staleUntil) {
        this.#stats.staleServed++;
        return this.#text;
      }
    }
    const reason =
      this.#lastError instanceof Error ? this.#lastError.message : 'no JWK set fetched yet';
    const what = this.#text === null ? 'no JWK set' : 'the cached JWK set expired';
    throw new JwksUnavailableError(`JWKS unavailable: ${what} and the refresh failed: ${reason}`, {
      cause: this.#lastError ?? undefined,
    });
  }

  /** Starts a fetch, or returns the one in flight. Never rejects. */
  #refresh() {
    if (this.#inflight === null) {
      this.#inflight = this.#fetchAndStore().finally(() => {
        this.#inflight = null;
      });
    }
    return this.#inflight;
  }

  /** One fetch, its outcome recorded in the cache state. Never rejects. */
  async #fetchAndStore() {
    this.#stats.fetches++;
    try {
      const { response, text } = await this.#fetchOnce();
      const now = this.#now();
      if (text === null) {
        // 304: same set, new lifetime; a 304 may also carry updated validators.
        this.#stats.notModified++;
        this.#etag = response.headers.get('etag') ?? this.#etag;
        this.#lastModified = response.headers.get('last-modified') ?? this.#lastModified;
      } else {
        this.#text = text;
        this.#etag = response.headers.get('etag');
        this.#lastModified = response.headers.get('last-modified');
      }
      const ttl = this.#lifetime(response.headers, now);
      this.#freshUntil = now + ttl;
      this.#staleUntil = this.#freshUntil + this.#options.staleIfErrorMs;
      this.#lastAttemptFailed = false;
      this.#lastError = null;
    } catch (error) {
      this.#stats.failures++;
      this.#lastAttemptFailed = true;
      this.#lastError = error;
    } finally {
      this.#lastAttemptAt = this.#now();
    }
  }

  /**
   * The lifetime of a response, clamped to the configured bounds.
   * @param {Headers} headers
   * @param {number} now
   */
  #lifetime(headers, now) {
    const { minTtlMs, maxTtlMs, defaultTtlMs } = this.#options;
    const ttl = serverTtlMs(headers, now) ?? defaultTtlMs;
    return Math.min(Math.max(ttl, minTtlMs), maxTtlMs);
  }

  /**
   * One HTTP request, bounded by `timeoutMs` from the request to the last body byte.
   * @returns {Promise<{ response: Response, text: string | null }>} `text` is `null` for
   *   a 304
   * @throws {FetchFailure}
   */
  async #fetchOnce() {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#options.timeoutMs);
    try {
      /** @type {Record<string, string>} */
      const headers = { accept: 'application/jwk-set+json, application/json' };
      // Validators only make sense when there is a set to keep on a 304.
      if (this.#text !== null) {
        if (this.#etag !== null) headers['if-none-match'] = this.#etag;
        if (this.#lastModified !== null) headers['if-modified-since'] = this.#lastModified;
      }
      const doFetch = this.#fetch; // called as a plain function, see the constructor
      let response;
      try {
        response = await doFetch(this.#url.href, {
          method: 'GET',
          headers,
          // A redirect is a failure (as in Rust): it could lead off https.
          redirect: 'manual',
          signal: controller.signal,
        });
      } catch (error) {
        throw new FetchFailure(
          controller.signal.aborted ? 'the request timed out' : 'the request failed',
          { cause: error },
        );
      }

      if (response.status === 304 && this.#text !== null) {
        await discardBody(response);
        return { response, text: null };
      }
      if (response.status < 200 || response.status > 299) {
        await discardBody(response);
        throw new FetchFailure(`the issuer answered HTTP ${response.status}`);
      }

      let text;
      try {
        text = await readBodyLimited(response, this.#options.maxBytes);
      } catch (error) {
        if (error instanceof FetchFailure) throw error;
        throw new FetchFailure(
          controller.signal.aborted ? 'the request timed out' : 'reading the body failed',
          { cause: error },
        );
      }

      let parsed;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new FetchFailure('the body is not JSON');
      }
      if (!isJwkSet(parsed)) {
        throw new FetchFailure('the body is not a JWK set (a JSON object with a "keys" array)');
      }
      return { response, text };
    } finally {
      clearTimeout(timer);
    }
  }
}
