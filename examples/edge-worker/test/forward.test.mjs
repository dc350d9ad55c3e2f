// The edge worker's forwarding rules on their own (no wasm build needed): where a request
// goes, and which headers go with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forwardHeaders, foldHeaderName, upstreamUrl } from '../forward.mjs';

const EDGE = 'https://edge.example';

test('a client-supplied path never sends the request to another host', () => {
  for (const upstream of ['http://127.0.0.1:8080', 'http://127.0.0.1:8080/api/']) {
    for (const path of [
      '//evil.example:9999/steal',
      '//evil.example',
      '/\\evil.example/steal',
      '/\\\\evil.example/steal',
      '/%2f%2fevil.example/steal',
      '/%2F%2Fevil.example/steal',
      '/%5cevil.example/steal',
      '/%5C%5Cevil.example/steal',
      '///evil.example/steal',
      '/..//evil.example/steal',
      '/%2e%2e//evil.example/steal',
      '/@evil.example/steal',
      '/:@evil.example/steal',
      '/http://evil.example/steal',
    ]) {
      const target = upstreamUrl(upstream, `${EDGE}${path}?q=1`);
      assert.ok(target, path);
      assert.equal(target.origin, 'http://127.0.0.1:8080', `${upstream} ${path}`);
      assert.equal(target.search, '?q=1', path);
      assert.ok(target.pathname.includes('evil.example'), `${path}: the path is kept as a path`);
    }
  }
});

test('the upstream path prefix is kept for every request path', () => {
  const cases = [
    ['https://up.example/api', '/orders?page=2', 'https://up.example/api/orders?page=2'],
    ['https://up.example/api/', '/orders', 'https://up.example/api/orders'],
    ['https://up.example/api/v1', '/', 'https://up.example/api/v1/'],
    ['https://up.example/api', '//orders', 'https://up.example/api//orders'],
    ['https://up.example/api', '/../../admin', 'https://up.example/api/admin'],
    ['https://up.example/api', '/%2e%2e/%2E%2E/admin', 'https://up.example/api/admin'],
    ['https://up.example/api', '/a/%2e./admin', 'https://up.example/api/admin'],
    ['https://up.example', '/orders', 'https://up.example/orders'],
    ['https://up.example:8443/a/b?ignored=1#x', '/c?d=e', 'https://up.example:8443/a/b/c?d=e'],
  ];
  for (const [upstream, path, want] of cases) {
    assert.equal(upstreamUrl(upstream, `${EDGE}${path}`)?.href, want, `${upstream} + ${path}`);
  }
});

// iam-wasm's check before iam-core folded spellings: the exact names only.
const exactNamesOnly = (name) =>
  ['x-user-id', 'x-user-roles', 'x-token-scopes', 'x-org-id'].includes(name) || name.startsWith('x-user-') || name.startsWith('x-iam-');

test('identity headers in underscore, dot and mixed spellings are never forwarded', () => {
  const incoming = new Headers([
    ['X_User_Id', 'admin'],
    ['x.user.id', 'admin'],
    ['X-User_Roles', 'root'],
    ['x_token_scopes', 'admin:*'],
    ['X.Org.ID', 'other-tenant'],
    ['x_iam_whatever', '1'],
    ['x_request_id', 'kept'],
    ['accept', 'application/json'],
  ]);
  const out = forwardHeaders(incoming, exactNamesOnly, { 'x-user-id': 'user-42' });
  assert.deepEqual(Object.fromEntries(out), {
    accept: 'application/json',
    x_request_id: 'kept',
    'x-user-id': 'user-42',
  });
  assert.equal(foldHeaderName('X_User.Id'), 'x-user-id');
});

test('headers named in Connection and hop-by-hop headers are not forwarded', () => {
  const incoming = new Headers([
    ['connection', 'X-User-ID, x_token_scopes, x-debug, keep-alive'],
    ['keep-alive', 'timeout=5'],
    ['x-debug', 'on'],
    ['upgrade', 'h2c'],
    ['te', 'trailers'],
    ['host', 'edge.example'],
    ['authorization', 'Bearer t'],
  ]);
  const identity = { 'x-user-id': 'user-42', 'x-token-scopes': 'orders:read' };
  const out = forwardHeaders(incoming, exactNamesOnly, identity);
  assert.deepEqual(Object.fromEntries(out), {
    authorization: 'Bearer t',
    'x-token-scopes': 'orders:read',
    'x-user-id': 'user-42',
  });
});
