// A real OpenID provider for iam-client's integration tests: node's oidc-provider (OpenID
// Certified), on loopback, with its signing keys generated at start-up (or read from
// KEYS_FILE, a private JWK set, so a test can rotate them across restarts).
// Prints "listening <issuer>" once it accepts connections.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 0);
const host = '127.0.0.1';

function generatedKeys() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: process.env.KID || 'gen-rs256', alg: 'RS256', use: 'sig' }] };
}

const jwks = process.env.KEYS_FILE ? JSON.parse(readFileSync(process.env.KEYS_FILE, 'utf8')) : generatedKeys();

const RESOURCE = 'urn:iam-rs:orders-api';

function configuration() {
  return {
    jwks,
    // The relying parties of these tests listen on loopback, which oidc-provider's SSRF guard
    // (rightly) refuses for back-channel logout calls; this test-only provider lifts the guard.
    fetch: (url, options) => {
      const { dispatcher, ...rest } = options;
      return globalThis.fetch(url, rest);
    },
    clients: [
      {
        client_id: 'orders-service',
        client_secret: 'orders-service-secret-0123456789abcdef',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'orders:read orders:write',
      },
      {
        // A web app: authorization code + PKCE, refresh tokens with rotation.
        client_id: 'web-app',
        client_secret: 'web-app-secret-0123456789abcdef0123',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1:1/callback'],
        post_logout_redirect_uris: ['http://127.0.0.1:1/logged-out'],
        ...(process.env.BCL_URI ? { backchannel_logout_uri: process.env.BCL_URI, backchannel_logout_session_required: true } : {}),
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'openid offline_access orders:read',
      },
      {
        // Gets opaque access tokens (no resource indicator): for introspection and revocation.
        client_id: 'opaque-client',
        client_secret: 'opaque-client-secret-0123456789abcdef',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'orders:read',
      },
    ],
    scopes: ['openid', 'offline_access', 'orders:read', 'orders:write'],
    pkce: { required: () => true },
    rotateRefreshToken: true,
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub, email: `${sub}@example.com`, email_verified: true }) }),
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, client) => (client.clientId === 'orders-service' ? RESOURCE : undefined),
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          if (resourceIndicator !== RESOURCE) throw new Error('unknown resource');
          return {
            scope: 'orders:read orders:write',
            audience: 'orders-api',
            accessTokenTTL: 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  };
}

const server = (issuer) => new Provider(issuer, configuration());

// Bind first to learn the port, then build the provider with its exact issuer.
import { createServer } from 'node:http';
const http = createServer();
http.listen(port, host, () => {
  const issuer = `http://${host}:${http.address().port}`;
  const provider = server(issuer);
  provider.on('backchannel.error', (ctx, err) => console.error(`backchannel.error ${err.message} ${err.cause?.code ?? ""} ${err.cause?.message ?? ""}`));
  http.on('request', provider.callback());
  console.log(`listening ${issuer}`);
});
process.on('SIGTERM', () => process.exit(0));
