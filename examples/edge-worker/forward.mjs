// What the edge worker sends upstream, as pure functions (no wasm, no network), so they are
// tested on their own: the upstream URL and the forwarded request headers.

/**
 * The upstream URL for a request: the upstream's origin, the upstream's path prefix, then the
 * request's path and query, joined as strings. Never `new URL(path, upstream)`: a request
 * path is a client-supplied reference, and `//other-host/...` (or `/\other-host`, which URL
 * parsers read the same way) would resolve to another host, taking the caller's bearer
 * token there, and any path would drop the upstream's prefix.
 *
 * Returns `null` when the result would leave the upstream's origin or prefix (it cannot with
 * a parsed request URL, whose dot segments are already resolved; checked anyway).
 *
 * @param {URL | string} upstream e.g. `https://orders.internal/api` (query and fragment ignored)
 * @param {URL | string} requestUrl the incoming request's URL
 * @returns {URL | null}
 */
export function upstreamUrl(upstream, requestUrl) {
  const base = new URL(upstream);
  const incoming = new URL(requestUrl);
  const prefix = base.pathname.replace(/\/+$/, '');
  const target = new URL(base.origin);
  // `incoming.pathname` always starts with `/`: the join keeps the prefix as a whole segment.
  target.pathname = prefix + incoming.pathname;
  target.search = incoming.search;
  if (target.origin !== base.origin || !target.pathname.startsWith(`${prefix}/`)) return null;
  return target;
}

/** Hop-by-hop headers (RFC 9110 section 7.6.1): for this hop only, never forwarded. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'host',
]);

/**
 * A header name as upstreams that fold names read it (CGI, WSGI, PHP: `X_User_Id` and
 * `x.user.id` are `X-User-Id`): lower case, every other character than a letter or a digit
 * read as `-`.
 * @param {string} name
 */
export function foldHeaderName(name) {
  return name.toLowerCase().replace(/[^0-9a-z]/g, '-');
}

/**
 * The headers to send upstream: the request's, without hop-by-hop headers, without every
 * header the request's `Connection` header lists (a proxy must drop them; and a client must
 * not get the identity headers added below dropped on the way), and without any identity
 * header in any spelling; then `identity` (the verified principal's headers) set.
 *
 * @param {Headers} incoming
 * @param {(name: string) => boolean} isIdentityHeader iam-wasm's `isIdentityHeader`
 * @param {Record<string, string>} identity
 * @returns {Headers}
 */
export function forwardHeaders(incoming, isIdentityHeader, identity) {
  const listed = new Set(
    (incoming.get('connection') ?? '')
      .split(',')
      .map((n) => foldHeaderName(n.trim()))
      .filter(Boolean),
  );
  const out = new Headers();
  for (const [name, value] of incoming) {
    const folded = foldHeaderName(name);
    if (HOP_BY_HOP.has(folded) || listed.has(folded)) continue;
    if (isIdentityHeader(name) || isIdentityHeader(folded)) continue;
    out.append(name, value);
  }
  for (const [name, value] of Object.entries(identity)) out.set(name, value);
  return out;
}
