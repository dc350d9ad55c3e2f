// An edge access proxy in the Workers style: `export default { fetch(request, env) }`.
// Every request is checked by iam-wasm (the same rules and answers as the Rust middleware)
// before it is forwarded to the upstream; the upstream gets the identity headers and never
// sees spoofed ones.
//
// Bindings (`env`):
//   IAM_WASM_MODULE  the iam-wasm `.wasm` as a WebAssembly.Module (a Workers wasm module
//                    binding; in Node, `new WebAssembly.Module(bytes)`)
//   IAM_ISSUER, IAM_AUDIENCE  the tokens to accept (IAM_AUDIENCE may be comma-separated)
//   IAM_JWKS_URL     where the issuer publishes its keys
//   UPSTREAM_URL     the origin to protect, e.g. https://orders.internal.example, with an
//                    optional path prefix (https://internal.example/orders): requests go to
//                    that origin, under that prefix, whatever their path
// Optional: IAM_ALGORITHMS (comma-separated), IAM_REQUIRE_AT_JWT ("true").
import { initSync, Validator, isIdentityHeader } from '../../crates/iam-wasm/pkg/web/iam_wasm.js';
import { JwksCache, JwksUnavailableError } from '../../crates/iam-wasm/js/jwks-cache.mjs';
import { forwardHeaders, upstreamUrl } from './forward.mjs';

/** Per-isolate state: built on the first request, reused by the following ones. */
let state = null;

function setup(env) {
  initSync({ module: env.IAM_WASM_MODULE });
  const list = (v) => (v ? String(v).split(',').map((s) => s.trim()).filter(Boolean) : undefined);
  const validator = new Validator({
    issuer: env.IAM_ISSUER,
    audience: list(env.IAM_AUDIENCE),
    ...(env.IAM_ALGORITHMS ? { algorithms: list(env.IAM_ALGORITHMS) } : {}),
    requireAtJwt: env.IAM_REQUIRE_AT_JWT === 'true',
  });
  const jwks = new JwksCache(env.IAM_JWKS_URL, env.JWKS_OPTIONS ?? {});
  return { validator, jwks, loaded: null, upstream: new URL(env.UPSTREAM_URL) };
}

/** Load `text` into the validator unless it is the set already loaded. */
function load(s, text) {
  if (text !== s.loaded) {
    s.validator.setJwks(text);
    s.loaded = text;
  }
}

/** The middleware's refusal: status, WWW-Authenticate, no-store, JSON body. */
function refuse(r) {
  const headers = new Headers({ 'content-type': 'application/json', 'cache-control': 'no-store' });
  if (r.wwwAuthenticate) headers.set('www-authenticate', r.wwwAuthenticate);
  return new Response(JSON.stringify(r.body), { status: r.status, headers });
}

async function handle(request, env) {
  state ??= setup(env);
  const s = state;
  try {
    load(s, await s.jwks.get());
  } catch (e) {
    if (!(e instanceof JwksUnavailableError)) throw e;
    return refuse({
      status: 503,
      body: { error: 'temporarily_unavailable', error_description: 'signing keys are unavailable', status: 503 },
    });
  }
  const authorization = request.headers.get('authorization');
  let r = await s.validator.verifyAuthorization(authorization);
  if (!r.ok && r.unknownKid) {
    // A key the cached set does not have: the issuer may have rotated. At most one refetch
    // per cooldown for the whole isolate, however many such tokens arrive.
    const newer = await s.jwks.getAfterUnknownKid(r.unknownKid);
    if (newer) {
      load(s, newer);
      r = await s.validator.verifyAuthorization(authorization);
    }
  }
  if (!r.ok) return refuse(r);

  // Forward: same method, path (under the upstream's prefix), query and body; identity
  // headers replaced by ours.
  const target = upstreamUrl(s.upstream, request.url);
  if (!target) {
    return refuse({
      status: 400,
      body: { error: 'invalid_request', error_description: 'this path cannot be forwarded', status: 400 },
    });
  }
  const headers = forwardHeaders(request.headers, isIdentityHeader, r.principal.identityHeaders());
  const hasBody = !['GET', 'HEAD'].includes(request.method);
  return fetch(target, {
    method: request.method,
    headers,
    body: hasBody ? request.body : undefined,
    redirect: 'manual',
    ...(hasBody ? { duplex: 'half' } : {}),
  });
}

export default {
  /** @param {Request} request */
  async fetch(request, env) {
    return handle(request, env);
  },
};

/** For tests: forget the per-isolate state (a new isolate). */
export function resetForTests() {
  state = null;
}
