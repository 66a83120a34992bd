/**
 * A browser as the OAuth provider's hosted pages see one, for workerd tests: a cookie jar, the
 * navigations (GET /oauth/authorize, which answers with redirects the test reads) and the
 * page's same-origin JSON calls (with the Origin and Sec-Fetch-Site a browser sends).
 */
import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import { getDb } from '../src/platform/db/client';
import { registerClient, updateClient, type ClientMetadata } from '../src/oauth/clients';
import { appWith, ORIGIN, PASSWORD, type Api } from './helpers';
import { providerEnv } from './oauth-helpers';

export const REFRESH_COOKIE = '__Host-edge-auth-refresh';
export const BROWSER_COOKIE = '__Host-edge-auth-oauth';
export const CALLBACK = 'https://client.example.test/callback';
/** A valid S256 challenge (of the verifier in RFC 7636 appendix B). */
export const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGF3bSlQvU';
export const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWXeEjXk';

export async function newClient(
  metadata: Partial<ClientMetadata> = {},
  options: { skipConsent?: boolean; registeredBy?: 'admin' | 'open' } = {},
) {
  const db = getDb(env.DB);
  const { client, clientSecret } = await registerClient(
    db,
    {
      client_name: 'Test client',
      redirect_uris: [CALLBACK],
      post_logout_redirect_uris: ['https://client.example.test/signed-out'],
      grant_types: ['authorization_code', 'refresh_token'],
      ...metadata,
    } as ClientMetadata,
    options.registeredBy ?? 'admin',
  );
  if (options.skipConsent) await updateClient(db, client.clientId, { skip_consent: true });
  return { clientId: client.clientId, clientSecret };
}

/** The parameters of a valid authorization request of `clientId`, with `overrides` (undefined drops one). */
export function authorizeParams(clientId: string, overrides: Record<string, string | undefined> = {}) {
  const params: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: CALLBACK,
    scope: 'openid profile',
    state: 'state-123',
    nonce: 'nonce-456',
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
    ...overrides,
  };
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) search.append(name, value);
  return search;
}

export type Step =
  | { step: 'sign_in'; client: { name: string; logo_uri?: string }; login_hint?: string }
  | {
      step: 'consent';
      client: { name: string };
      user: { username: string };
      scopes: { scope: string; description: string }[];
    }
  | { step: 'redirect'; redirect_to: string };

/**
 * The Worker as an OAuth provider (an RS256 key and the issuer, test/oauth-helpers.ts), with
 * `overrides`: the OAuth endpoints refuse to run without them.
 */
export function providerApi(overrides: Partial<Cloudflare.Env> = {}): Api {
  const app = providerEnv(overrides).then((bindings) => appWith(bindings));
  return async (path, init) => (await app)(path, init);
}
const defaultProvider = providerApi();

export class Browser {
  readonly cookies = new Map<string, string>();
  constructor(readonly call: Api = defaultProvider) {}

  private cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  private keep(res: Response) {
    for (const header of res.headers.getSetCookie()) {
      const [pair = ''] = header.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1);
      const cleared = /max-age=0/i.test(header) || value === '';
      if (cleared) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  /** A top-level navigation (no Origin, as a GET from another site). */
  async navigate(path: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}) {
    const res = await this.call(path, {
      method: init.method ?? 'GET',
      ...(init.body !== undefined ? { body: init.body } : {}),
      headers: { Cookie: this.cookieHeader(), 'Sec-Fetch-Site': 'cross-site', ...init.headers },
    });
    this.keep(res);
    return res;
  }

  /** GET /oauth/authorize; returns the interaction id of the sign-in page it sends to. */
  async authorize(params: URLSearchParams): Promise<string> {
    const res = await this.navigate(`/oauth/authorize?${params}`);
    expect(res.status, await res.clone().text()).toBe(303);
    const location = new URL(res.headers.get('Location')!, ORIGIN);
    expect(location.pathname).toBe('/oauth/sign-in');
    return location.searchParams.get('interaction')!;
  }

  /** A JSON call of the hosted page: same-origin, as a browser sends it. */
  async page(path: string, json: Record<string, unknown>, headers: Record<string, string> = {}) {
    const res = await this.call(path, {
      json,
      headers: { Cookie: this.cookieHeader(), Origin: ORIGIN, 'Sec-Fetch-Site': 'same-origin', ...headers },
    });
    this.keep(res);
    return res;
  }

  async step(path: string, json: Record<string, unknown>): Promise<Step> {
    const res = await this.page(path, json);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as Step;
  }

  next = (interaction: string) => this.step('/oauth/interaction/next', { interaction });
  signIn = (interaction: string, username: string, password = PASSWORD) =>
    this.step('/oauth/interaction/sign-in', { interaction, username, password });
  consent = (interaction: string, decision: 'allow' | 'deny') =>
    this.step('/oauth/interaction/consent', { interaction, decision });

  /** Signs in to the service in cookie mode, as the demo app does (with `headers`: a DPoP proof). */
  async login(username: string, password = PASSWORD, headers: Record<string, string> = {}) {
    const res = await this.call('/auth/login', {
      json: { username, password, refresh_token_delivery: 'cookie' },
      headers: { Origin: ORIGIN, ...headers },
    });
    expect(res.status).toBe(200);
    this.keep(res);
    return (await res.json()) as { access_token: string; token_type: string };
  }
}

/** The query of a redirect back to the client; fails unless it goes to `CALLBACK`. */
export function callbackParams(step: Step): URLSearchParams {
  expect(step.step).toBe('redirect');
  const url = new URL((step as { redirect_to: string }).redirect_to);
  expect(`${url.origin}${url.pathname}`).toBe(CALLBACK);
  return url.searchParams;
}
