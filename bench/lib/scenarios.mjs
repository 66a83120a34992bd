// What each scenario sends, and the setup it needs (tokens got through the real API).
import { randomBytes } from 'node:crypto';
import { BENCH_PASSWORD } from './d1.mjs';
import { dpopSigner } from './dpop.mjs';
import {
  BROWSER_COOKIE,
  REDIRECT_URI,
  REFRESH_COOKIE,
  VERIFIER,
  authorizeQuery,
  basicAuth,
  browserSession,
  header,
  registerBenchClient,
  registerMachineClient,
} from './oauth.mjs';
import { assertion } from './passkey.mjs';

/** Production has CF-Connecting-IP on every request, so the per-address throttles run as they would there. */
const CLIENT = { 'cf-connecting-ip': '198.51.100.7', 'user-agent': 'edge-auth-bench' };
const JSON_HEADERS = { ...CLIENT, 'content-type': 'application/json' };
export const BENCH_USER = 'bench-user';
/** The id seedUsers gives the bench user (`bench-<username>`), whose passkey the bench stores. */
export const BENCH_USER_ID = `bench-${BENCH_USER}`;
export const BENCH_ADMIN = 'bench-admin';

async function post(url, path, body, headers = {}) {
  const res = await fetch(url + path, {
    method: 'POST',
    headers: { ...JSON_HEADERS, ...headers },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`POST ${path} -> ${res.status} ${await res.text()}`);
  return res.json();
}

const login = (url, username) => post(url, '/auth/login', { username, password: BENCH_PASSWORD });

/**
 * Tokens for an edge-auth instance: a user, an admin, `refreshPool` live refresh tokens, and a
 * DPoP-bound session of the user with the key that signs its proofs.
 * With `oauth` (an instance started with providerVars()): a first-party client, a machine
 * client (client credentials), the bench user's browser session, and grants made through the
 * code flow, one for userinfo's access
 * token and `oauth.refreshPool` more for their refresh tokens.
 */
export async function setupEdge(instance, { refreshPool = 0, spare = 0, users, oauth }) {
  const user = await login(instance.url, BENCH_USER);
  const dpop = dpopSigner();
  const bound = await post(
    instance.url,
    '/auth/login',
    { username: BENCH_USER, password: BENCH_PASSWORD },
    { dpop: dpop('POST', `${instance.url}/auth/login`) },
  );
  if (bound.token_type !== 'DPoP') throw new Error(`a login with a DPoP proof answered ${bound.token_type}`);
  const admin = await login(instance.url, BENCH_ADMIN);
  const refreshTokens = [];
  for (let i = 0; i < refreshPool; i++) refreshTokens.push((await login(instance.url, BENCH_USER)).refresh_token);
  // Sessions of the bench user that a request may end (logout, revoke by id): one each.
  const spareSessions = [];
  for (let i = 0; i < spare; i++) {
    const tokens = await login(instance.url, BENCH_USER);
    spareSessions.push({ refreshToken: tokens.refresh_token, id: sessionIdOf(tokens.access_token) });
  }
  const state = {
    url: instance.url,
    userToken: user.access_token,
    dpopToken: bound.access_token,
    dpop,
    adminToken: admin.access_token,
    userId: user.user.id,
    refreshTokens,
    spareSessions,
    users,
  };
  if (oauth) state.oauth = await setupOAuth(state, oauth);
  return state;
}

async function setupOAuth(state, { refreshPool = 0 }) {
  const client = await registerBenchClient(state.url, state.adminToken, CLIENT);
  const refreshCookie = await browserSession(state.url, BENCH_USER, BENCH_PASSWORD, CLIENT);
  const machine = await registerMachineClient(state.url, state.adminToken, CLIENT);
  const oauth = { ...client, machine, refreshCookie, refreshTokens: [] };
  const grant = async () => {
    const res = await sendOnce(state.url, edge.codeFlow({ ...state, oauth }));
    if (!res.ok) throw new Error(`code flow (${res.statuses.join(' -> ')}) -> ${await res.text()}`);
    return res.json();
  };
  oauth.accessToken = (await grant()).access_token;
  for (let i = 0; i < refreshPool; i++) oauth.refreshTokens.push((await grant()).refresh_token);
  return oauth;
}

/** The `sid` claim of an access token: the session it belongs to. */
const sessionIdOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sid;

export async function setupFloor(instance, { users }) {
  const { access_token } = await post(instance.url, '/login', { username: BENCH_USER, password: BENCH_PASSWORD });
  return { userToken: access_token, users };
}

const bearer = (token) => ({ ...CLIENT, authorization: `Bearer ${token}` });
let registered = 0;
const uniqueName = () => `r${process.pid.toString(36)}x${(registered++).toString(36)}`;
const credentials = (username) => JSON.stringify({ username, password: BENCH_PASSWORD });

/**
 * Logins as production sees them: a different seeded user each time, from that user's own
 * address (the per-(user, address) throttle counts attempts in flight, so one user logging in
 * on 8 connections at once from one address would be refused by design).
 */
const seededLogin = (path, users) => ({
  method: 'POST',
  path,
  setupRequest: (req) => {
    const n = 1 + Math.floor(Math.random() * users);
    const address = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
    return {
      ...req,
      headers: { ...JSON_HEADERS, 'cf-connecting-ip': address },
      body: credentials(`seed${String(n).padStart(7, '0')}`),
    };
  },
});

export const edge = {
  protected: (s) => ({ method: 'GET', path: '/auth/protected', headers: bearer(s.userToken) }),
  /** The DPoP-bound token with a fresh proof each time: one more signature check and a thumbprint. */
  protectedDpop: (s) => ({
    method: 'GET',
    path: '/auth/protected',
    setupRequest: (req) => ({
      ...req,
      headers: {
        ...CLIENT,
        authorization: `DPoP ${s.dpopToken}`,
        dpop: s.dpop('GET', `${s.url}/auth/protected`, s.dpopToken),
      },
    }),
  }),
  /** A machine's token (RFC 6749 §4.4): its secret checked, an RS256 JWT signed, no grant written. */
  clientCredentials: (s) => ({
    method: 'POST',
    path: '/oauth/token',
    headers: {
      ...CLIENT,
      'content-type': 'application/x-www-form-urlencoded',
      authorization: basicAuth(s.oauth.machine.clientId, s.oauth.machine.clientSecret),
    },
    body: 'grant_type=client_credentials&scope=api',
  }),
  me: (s) => ({ method: 'GET', path: '/auth/me', headers: bearer(s.userToken) }),
  adminList: (s) => ({ method: 'GET', path: '/admin/users?limit=20', headers: bearer(s.adminToken) }),
  adminUser: (s) => ({ method: 'GET', path: `/admin/users/${s.userId}`, headers: bearer(s.adminToken) }),
  sessions: (s) => ({ method: 'GET', path: '/auth/sessions', headers: bearer(s.userToken) }),
  logout: (s) => ({
    method: 'POST',
    path: '/auth/logout',
    headers: JSON_HEADERS,
    body: JSON.stringify({ refresh_token: s.spareSessions.pop().refreshToken }),
  }),
  revokeSession: (s) => ({
    method: 'DELETE',
    path: `/auth/sessions/${s.spareSessions.pop().id}`,
    headers: bearer(s.userToken),
  }),
  login: (s) => seededLogin('/auth/login', s.users),
  register: () => ({
    method: 'POST',
    path: '/auth/register',
    headers: JSON_HEADERS,
    setupRequest: (req) => ({ ...req, body: credentials(uniqueName()) }),
  }),
  /**
   * A passkey sign-in as a browser makes it, without a username: the options (a challenge the
   * Worker stores), then the signed response to them. One operation of two requests.
   */
  passkeyLogin: () => ({
    sequence: [
      {
        method: 'POST',
        path: '/auth/passkeys/sign-in/options',
        headers: JSON_HEADERS,
        body: '{}',
        onResponse: (status, body, context) => {
          if (status === 200) context.challenge = JSON.parse(body).challenge;
        },
      },
      {
        method: 'POST',
        path: '/auth/passkeys/sign-in/verify',
        headers: JSON_HEADERS,
        setupRequest: (req, context) => ({
          ...req,
          body: JSON.stringify({ credential: assertion(context.challenge ?? 'none', BENCH_USER_ID) }),
        }),
      },
    ],
  }),
  /**
   * Each refresh spends its token, so the connections share a pool: a request takes a token,
   * its response gives the successor back. The pool holds more tokens than connections.
   */
  refresh: (s) => {
    const pool = s.refreshTokens;
    let last = pool[0];
    return {
      method: 'POST',
      path: '/auth/refresh',
      headers: JSON_HEADERS,
      setupRequest: (req) => ({ ...req, body: JSON.stringify({ refresh_token: (last = pool.shift() ?? last) }) }),
      onResponse: (status, body) => {
        if (status === 200) pool.push(JSON.parse(body).refresh_token);
      },
    };
  },
  /** OpenID Connect userinfo with an access token of a grant made by the code flow. */
  userinfo: (s) => ({ method: 'GET', path: '/oauth/userinfo', headers: bearer(s.oauth.accessToken) }),
  /** grant_type=refresh_token of the bench client, over a pool of grants as `refresh` does. */
  oauthRefresh: (s) => {
    const pool = s.oauth.refreshTokens;
    let last = pool[0];
    return {
      method: 'POST',
      path: '/oauth/token',
      headers: tokenHeaders(s),
      setupRequest: (req) => ({
        ...req,
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: (last = pool.shift() ?? last),
        }).toString(),
      }),
      onResponse: (status, body) => {
        if (status === 200) pool.push(JSON.parse(body).refresh_token);
      },
    };
  },
  /**
   * The authorization code flow of a signed-in browser and a first-party client, as one
   * operation of three requests: the authorization request (303 to the hosted page), the
   * page's call for its next step (the browser's session suffices and consent is skipped, so it
   * answers with the redirect carrying a fresh code), and the client's exchange of that code
   * with its PKCE verifier. A code lives 60 s and works once, so each exchange needs the two
   * requests before it; they are measured with it rather than hidden in a setup. Each
   * connection is a browser of its own (its own interaction cookie); all share the bench user's
   * session. `redirects`: the 303s are expected, not errors.
   */
  codeFlow: (s) => {
    const pageHeaders = { ...JSON_HEADERS, origin: s.url, 'sec-fetch-site': 'same-origin' };
    const cookies = (context) => `${REFRESH_COOKIE}=${s.oauth.refreshCookie}; ${BROWSER_COOKIE}=${context.browser}`;
    return {
      redirects: true,
      sequence: [
        {
          method: 'GET',
          path: `/oauth/authorize?${authorizeQuery(s.oauth.clientId)}`,
          headers: { ...CLIENT, 'sec-fetch-site': 'cross-site' },
          setupRequest: (req, context) => {
            context.browser ??= randomBytes(32).toString('base64url');
            return { ...req, headers: { ...req.headers, cookie: `${BROWSER_COOKIE}=${context.browser}` } };
          },
          onResponse: (status, body, context, headers) => {
            const location = status === 303 ? header(headers, 'location') : undefined;
            context.interaction = location ? new URL(location, s.url).searchParams.get('interaction') : undefined;
          },
        },
        {
          method: 'POST',
          path: '/oauth/interaction/next',
          headers: pageHeaders,
          setupRequest: (req, context) => ({
            ...req,
            headers: { ...req.headers, cookie: cookies(context) },
            body: JSON.stringify({ interaction: context.interaction ?? 'none' }),
          }),
          onResponse: (status, body, context) => {
            const step = status === 200 ? JSON.parse(body) : undefined;
            context.code = step?.step === 'redirect' ? new URL(step.redirect_to).searchParams.get('code') : undefined;
          },
        },
        {
          method: 'POST',
          path: '/oauth/token',
          headers: tokenHeaders(s),
          setupRequest: (req, context) => ({
            ...req,
            body: new URLSearchParams({
              grant_type: 'authorization_code',
              code: context.code ?? 'none',
              redirect_uri: REDIRECT_URI,
              code_verifier: VERIFIER,
            }).toString(),
          }),
        },
      ],
    };
  },
};

/** The bench client's token request: a form, client_secret_basic. */
const tokenHeaders = (s) => ({
  ...CLIENT,
  'content-type': 'application/x-www-form-urlencoded',
  authorization: basicAuth(s.oauth.clientId, s.oauth.clientSecret),
});

export const floor = {
  protected: (s) => ({ method: 'GET', path: '/protected', headers: bearer(s.userToken) }),
  login: (s) => seededLogin('/login', s.users),
  register: () => ({
    method: 'POST',
    path: '/register',
    headers: JSON_HEADERS,
    setupRequest: (req) => ({ ...req, body: credentials(uniqueName()) }),
  }),
};

/**
 * The side-by-side scenarios. `floor` names the floor's request for the same work; routes
 * the floor has no counterpart for are compared with the floor's protected route at the
 * same connection count, measured in the same round.
 */
export const COMPARE = [
  { id: 'protected-16', title: 'protected, 16 connections', connections: 16, edge: 'protected', floor: 'protected' },
  { id: 'protected-64', title: 'protected, 64 connections', connections: 64, edge: 'protected', floor: 'protected' },
  {
    id: 'protected-dpop',
    title: 'protected DPoP-bound, 16 connections',
    connections: 16,
    edge: 'protectedDpop',
    against: 'protected-16',
  },
  { id: 'me', title: 'me, 16 connections', connections: 16, edge: 'me', against: 'protected-16' },
  { id: 'login', title: 'login, 8 connections', connections: 8, edge: 'login', floor: 'login' },
  {
    id: 'passkey-login',
    title: 'passkey sign-in (options + verify), 8 connections',
    connections: 8,
    edge: 'passkeyLogin',
    against: 'login',
  },
  { id: 'register', title: 'register, 8 connections', connections: 8, edge: 'register', floor: 'register' },
  { id: 'refresh', title: 'refresh, 16 connections', connections: 16, edge: 'refresh', against: 'protected-16' },
  {
    id: 'admin-list',
    title: 'admin list, 16 connections',
    connections: 16,
    edge: 'adminList',
    against: 'protected-16',
  },
  // `provider`: measured on the instance configured as an OAuth provider (scripts/bench.mjs).
  {
    id: 'userinfo',
    title: 'OAuth userinfo, 16 connections',
    connections: 16,
    edge: 'userinfo',
    against: 'protected-16',
    provider: true,
  },
  {
    id: 'code-flow',
    title: 'OAuth code flow (authorize + page’s next step + code exchange), 16 connections',
    connections: 16,
    edge: 'codeFlow',
    against: 'protected-16',
    provider: true,
  },
  {
    id: 'oauth-refresh',
    title: 'OAuth refresh grant, 16 connections',
    connections: 16,
    edge: 'oauthRefresh',
    against: 'protected-16',
    provider: true,
  },
  {
    id: 'client-credentials',
    title: 'OAuth client credentials, 16 connections',
    connections: 16,
    edge: 'clientCredentials',
    against: 'protected-16',
    provider: true,
  },
];

/** The requests whose D1 round trips are counted, in order (each runs once, as the bench user). */
export const TRIP_ROUTES = [
  { title: 'POST /auth/register', request: () => edge.register() },
  { title: 'POST /auth/login', request: (s) => edge.login(s) },
  { title: 'GET /auth/protected (first)', request: (s) => edge.protected(s) },
  { title: 'GET /auth/protected (again)', request: (s) => edge.protected(s) },
  { title: 'GET /auth/me', request: (s) => edge.me(s) },
  { title: 'POST /auth/refresh', request: (s) => edge.refresh(s) },
  { title: 'GET /auth/sessions', request: (s) => edge.sessions(s) },
  { title: 'DELETE /auth/sessions/{id}', request: (s) => edge.revokeSession(s) },
  { title: 'POST /auth/logout', request: (s) => edge.logout(s) },
  { title: 'GET /admin/users', request: (s) => edge.adminList(s) },
  { title: 'GET /admin/users/{id}', request: (s) => edge.adminUser(s) },
  { title: 'GET /oauth/userinfo', request: (s) => edge.userinfo(s) },
  // The last request of the flow is the one counted: the exchange.
  { title: 'POST /oauth/token (authorization_code)', request: (s) => edge.codeFlow(s) },
  { title: 'POST /oauth/token (refresh_token)', request: (s) => edge.oauthRefresh(s) },
  { title: 'POST /oauth/token (client_credentials)', request: (s) => edge.clientCredentials(s) },
];
/**
 * What setupEdge must prepare for TRIP_ROUTES (on an instance started with providerVars()): two
 * refresh tokens, a spare session for each route that ends one, and an OAuth grant to refresh.
 */
export const TRIP_SETUP = { refreshPool: 2, spare: 2, oauth: { refreshPool: 1 } };

/**
 * Sends one scenario request with fetch (for counting round trips and the smoke check), running
 * its hooks as autocannon does; a sequence is sent step by step with one context. Returns the
 * last response, readable again, with `statuses`: every step's status, in order.
 */
export async function sendOnce(url, request, headers = {}) {
  const context = {};
  const statuses = [];
  let last;
  for (const step of request.sequence ?? [request]) {
    const req = step.setupRequest ? step.setupRequest({ ...step }, context) : step;
    const res = await fetch(url + req.path, {
      method: req.method,
      headers: { ...req.headers, ...headers },
      body: req.body,
      redirect: 'manual',
    });
    const body = await res.text();
    statuses.push(res.status);
    step.onResponse?.(res.status, body, context, Object.fromEntries(res.headers));
    const empty = [101, 204, 205, 304].includes(res.status);
    last = new Response(empty ? null : body, { status: res.status, headers: res.headers });
  }
  return Object.assign(last, { statuses });
}
