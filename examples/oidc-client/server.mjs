#!/usr/bin/env node
/**
 * A web app that signs its users in with edge-auth as its OpenID Connect provider, through
 * `openid-client`, the certified relying-party library for Node. It shows the claims of the ID
 * token, and logs out through the provider (RP-initiated logout). About 150 lines and no
 * framework: what a server-side web app of any stack does, in the order it does it.
 *
 *   npm run dev                                            # the provider, http://127.0.0.1:8787
 *   # register this app once (an admin's access token as the initial access token):
 *   curl -s http://127.0.0.1:8787/oauth/register -H "Authorization: Bearer $ADMIN_AT" \
 *     -H 'Content-Type: application/json' -d '{"client_name":"Example app",
 *     "redirect_uris":["http://127.0.0.1:3000/callback"],
 *     "post_logout_redirect_uris":["http://127.0.0.1:3000/"],
 *     "grant_types":["authorization_code","refresh_token"]}'
 *   CLIENT_ID=… CLIENT_SECRET=… node examples/oidc-client/server.mjs
 *   # open http://127.0.0.1:3000
 *
 * Settings: ISSUER (default http://127.0.0.1:8787), CLIENT_ID, CLIENT_SECRET (none for a public
 * client), PORT (default 3000). See README.md beside this file.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import * as oidc from 'openid-client';

const issuer = new URL(process.env.ISSUER ?? 'http://127.0.0.1:8787');
const port = Number(process.env.PORT ?? 3000);
const clientId = process.env.CLIENT_ID;
const clientSecret = process.env.CLIENT_SECRET || undefined;
if (!clientId) {
  console.error('Set CLIENT_ID (and CLIENT_SECRET for a confidential client); see README.md.');
  process.exit(2);
}
const base = `http://127.0.0.1:${port}`;
const redirectUri = `${base}/callback`;

// Discovery: every endpoint, the JWKS and what the provider supports, from its issuer alone.
// Plain http is for a provider on this machine only (`npm run dev`); production is https.
const config = await oidc.discovery(
  issuer,
  clientId,
  clientSecret,
  clientSecret ? oidc.ClientSecretBasic(clientSecret) : oidc.None(),
  issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : undefined,
);

/**
 * Sessions of this app, by a random cookie. In memory: a real app keeps them in its own store.
 * A pending sign-in holds the PKCE verifier, state and nonce; a finished one the tokens.
 */
const sessions = new Map();
const COOKIE = 'example-session';

function sessionOf(req, res) {
  const id = /(?:^|;\s*)example-session=([\w-]+)/.exec(req.headers.cookie ?? '')?.[1];
  if (id && sessions.has(id)) return sessions.get(id);
  const fresh = randomBytes(24).toString('base64url');
  const session = { id: fresh };
  sessions.set(fresh, session);
  // Lax: the provider's redirect back to /callback is a cross-site navigation.
  res.setHeader('Set-Cookie', `${COOKIE}=${fresh}; HttpOnly; SameSite=Lax; Path=/`);
  return session;
}

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function page(res, title, body, status = 200) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
    'Cache-Control': 'no-store',
  });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title></head><body><h1>${escape(title)}</h1>${body}</body></html>`);
}

const redirect = (res, location) => res.writeHead(303, { Location: String(location) }).end();

async function handle(req, res) {
  const url = new URL(req.url ?? '/', base);
  const session = sessionOf(req, res);

  // For process supervisors (and the e2e test) to see it is up.
  if (url.pathname === '/health') return res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');

  if (url.pathname === '/') {
    if (!session.claims) {
      return page(
        res,
        'Example app',
        '<p>You are not signed in.</p><p><a href="/login">Sign in with edge-auth</a></p>',
      );
    }
    const rows = Object.entries(session.claims)
      .map(([name, value]) => `<tr><th>${escape(name)}</th><td>${escape(JSON.stringify(value))}</td></tr>`)
      .join('');
    return page(
      res,
      'Example app',
      `<p>Signed in as <strong>${escape(session.claims.preferred_username ?? session.claims.sub)}</strong>.</p>
<h2>ID token claims</h2><table>${rows}</table><p><a href="/logout">Log out</a></p>`,
    );
  }

  if (url.pathname === '/login') {
    // PKCE (S256), state and nonce: fresh for every sign-in, kept in this app's session.
    session.pending = {
      verifier: oidc.randomPKCECodeVerifier(),
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
    };
    const to = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile email offline_access',
      code_challenge: await oidc.calculatePKCECodeChallenge(session.pending.verifier),
      code_challenge_method: 'S256',
      state: session.pending.state,
      nonce: session.pending.nonce,
    });
    return redirect(res, to);
  }

  if (url.pathname === '/callback') {
    const pending = session.pending;
    delete session.pending;
    if (!pending) return page(res, 'Sign-in failed', '<p>No sign-in was started here.</p>', 400);
    try {
      // Checks state, iss (RFC 9207), the ID token's signature, issuer, audience and nonce.
      const tokens = await oidc.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      session.claims = tokens.claims();
      session.tokens = {
        id_token: tokens.id_token,
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
      };
      return redirect(res, '/');
    } catch (err) {
      // e.g. error=access_denied when the user pressed Deny.
      const reason = err?.error ?? err?.code ?? 'error';
      return page(
        res,
        'Sign-in failed',
        `<p>${escape(reason)}: ${escape(err?.error_description ?? err?.message)}</p>`,
        400,
      );
    }
  }

  if (url.pathname === '/logout') {
    const idToken = session.tokens?.id_token;
    sessions.delete(session.id);
    if (!idToken) return redirect(res, '/');
    // RP-initiated logout: the provider asks the user, ends its session, and sends them back.
    return redirect(
      res,
      oidc.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: `${base}/` }),
    );
  }

  page(res, 'Not found', '<p>Nothing here.</p>', 404);
}

createServer((req, res) =>
  handle(req, res).catch((err) => {
    console.error(err);
    if (!res.headersSent) page(res, 'Error', '<p>Something went wrong.</p>', 500);
  }),
).listen(port, '127.0.0.1', () => console.log(`example app on ${base}`));
