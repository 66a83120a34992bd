#!/usr/bin/env node
/**
 * edge-auth/client from Node, in body mode: what a server, CLI, mobile or native app does.
 * It signs in once, keeps the refresh token in a file only its user can read, and on the
 * next run restores the session from that file instead of asking for the password again.
 *
 *   npm run dev                                   # the service, on http://127.0.0.1:8787
 *   EDGE_AUTH_PASSWORD='a-long-and-unusual-passphrase' node examples/node-client.mjs alice
 *   node examples/node-client.mjs alice           # again: restored, no password needed
 *
 * Settings: EDGE_AUTH_URL (default http://127.0.0.1:8787), EDGE_AUTH_PASSWORD (needed only
 * when there is no stored session), EDGE_AUTH_SESSION_FILE (default ./.edge-auth-session).
 * In your own project: `npm install <edge-auth tarball or git URL>`, same import.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createEdgeAuthClient, EdgeAuthError } from 'edge-auth/client';

const baseUrl = process.env.EDGE_AUTH_URL ?? 'http://127.0.0.1:8787';
const sessionFile = process.env.EDGE_AUTH_SESSION_FILE ?? '.edge-auth-session';
const username = process.argv[2];
if (!username) {
  console.error('usage: node examples/node-client.mjs <username>  (EDGE_AUTH_PASSWORD=... for the first run)');
  process.exit(2);
}

let stored;
try {
  stored = readFileSync(sessionFile, 'utf8').trim();
} catch {}
const auth = createEdgeAuthClient({
  baseUrl,
  refreshTokenDelivery: 'body', // The default outside browsers; spelled out for the reader.
  refreshToken: stored || undefined,
  // Each refresh token works once: store every new one, in order (synchronously), readable
  // by this user only. On a phone: the Keychain or the Keystore.
  onRefreshToken: (token) =>
    token ? writeFileSync(sessionFile, token, { mode: 0o600 }) : rmSync(sessionFile, { force: true }),
});

try {
  let how = 'restored session';
  if (!(await auth.refresh())) {
    const password = process.env.EDGE_AUTH_PASSWORD;
    if (!password) throw new Error('No stored session: set EDGE_AUTH_PASSWORD to sign in.');
    try {
      await auth.register({ username, password });
      console.log(`Registered ${username}`);
    } catch (err) {
      if (!(err instanceof EdgeAuthError && err.code === 'username_taken')) throw err;
    }
    await auth.login({ username, password });
    how = 'password';
  }
  console.log(`Signed in as ${auth.user.username} (${auth.user.role}) with ${how}`);

  // Any route, typed by path; the access token is attached and refreshed as needed.
  const { data, error } = await auth.api.GET('/auth/sessions');
  if (error) throw new EdgeAuthError(error);
  console.log(`Active sessions: ${data.sessions.length}`);
  if (process.argv.includes('--logout')) {
    await auth.logout();
    console.log('Logged out');
  }
} catch (err) {
  if (err instanceof EdgeAuthError) {
    // The problem document (RFC 9457): a stable code for programs, a detail for people.
    console.error(`${err.status} ${err.code}: ${err.problem.detail}`);
    process.exit(1);
  }
  throw err;
}
