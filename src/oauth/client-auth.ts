/**
 * Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3):
 * `client_secret_basic`, `client_secret_post`, `private_key_jwt` (a signed assertion, RFC 7523;
 * client-assertion.ts), or `none` for public clients. Done in two steps so a rate limit can
 * count the claimed client before any lookup: readClientCredentials (the request only) and
 * authenticateClient (against the registry).
 *
 * Every failure is `invalid_client`, 401, with a Basic challenge (RFC 6749 §5.2).
 */
import { addressKey } from '../platform/address';
import type { Config } from '../platform/config';
import type { Database } from '../platform/db/client';
import type { ClientAuthMethod } from '../platform/db/schema';
import { countAttemptQuery, type Counter } from '../throttle/rate-limit';
import { ASSERTION_TYPE, assertedClientId, verifyClientAssertion } from './client-assertion';
import { clientWithSecretQuery, secretMatches, toClientLookup, type ClientLookup, type OAuthClient } from './clients';
import { invalidClient, OAuthError } from './errors';

export type ClientCredentials =
  | { method: 'client_secret_basic' | 'client_secret_post'; clientId: string; secret: string }
  | { method: 'private_key_jwt'; clientId: string; assertion: string }
  | { method: 'none'; clientId: string };

const oneWayOnly = () =>
  new OAuthError('invalid_request', 'Client credentials must be sent one way only (header or body).');

/** RFC 6749 §2.3.1: the Basic user and password are form-urlencoded before base64. */
function formDecode(value: string): string {
  try {
    return decodeURIComponent(value.replaceAll('+', '%20'));
  } catch {
    throw new OAuthError('invalid_request', 'The client credentials in the Authorization header are not form-encoded.');
  }
}

function readBasic(header: string): { clientId: string; secret: string } {
  const [scheme, value, ...rest] = header.trim().split(/ +/);
  if (scheme?.toLowerCase() !== 'basic' || !value || rest.length > 0) {
    throw invalidClient('The Authorization header must be Basic client credentials.');
  }
  let decoded: string;
  try {
    decoded = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(
      Uint8Array.from(atob(value), (ch) => ch.charCodeAt(0)),
    );
  } catch {
    throw new OAuthError('invalid_request', 'The Basic credentials are not valid base64 of UTF-8.');
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new OAuthError('invalid_request', 'The Basic credentials have no ":" between id and secret.');
  return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
}

/** Which client the request claims to be and how it proves it; nothing is looked up yet. */
export function readClientCredentials(
  authorization: string | undefined,
  params: Record<string, string | undefined>,
): ClientCredentials {
  const { client_id: paramId, client_secret: paramSecret, client_assertion: assertion } = params;
  if (assertion !== undefined || params.client_assertion_type !== undefined) {
    if (authorization !== undefined || paramSecret !== undefined) throw oneWayOnly();
    if (params.client_assertion_type !== ASSERTION_TYPE || assertion === undefined) {
      throw new OAuthError('invalid_request', `A client assertion needs client_assertion_type ${ASSERTION_TYPE}.`);
    }
    // RFC 7523 §3: the assertion's sub is the client_id; a client_id sent beside it must agree.
    const clientId = assertedClientId(assertion);
    if (paramId !== undefined && paramId !== clientId) {
      throw new OAuthError('invalid_request', 'client_id differs from the sub of the client assertion.');
    }
    return { method: 'private_key_jwt', clientId, assertion };
  }
  if (authorization !== undefined && paramSecret !== undefined) throw oneWayOnly();
  if (authorization !== undefined) {
    const basic = readBasic(authorization);
    if (paramId !== undefined && paramId !== basic.clientId) {
      throw new OAuthError('invalid_request', 'client_id differs from the one in the Authorization header.');
    }
    if (!basic.clientId || !basic.secret) throw invalidClient('The Basic credentials are incomplete.');
    return { method: 'client_secret_basic', ...basic };
  }
  if (paramId === undefined) throw invalidClient('The client did not identify itself (client_id).');
  if (paramSecret !== undefined) return { method: 'client_secret_post', clientId: paramId, secret: paramSecret };
  return { method: 'none', clientId: paramId };
}

/** The registered client the credentials prove, or `invalid_client`. */
export async function authenticateClient(
  db: Database,
  lookup: ClientLookup,
  credentials: ClientCredentials,
  context: { issuer: string; now: number },
): Promise<OAuthClient> {
  if (!lookup) throw invalidClient('Unknown client.');
  const { client, secretHash } = lookup;
  const registered: ClientAuthMethod = client.tokenEndpointAuthMethod;
  if (credentials.method !== registered) {
    throw invalidClient(`This client authenticates with ${registered}, not ${credentials.method}.`);
  }
  if (credentials.method === 'private_key_jwt') {
    await verifyClientAssertion(db, client, credentials.assertion, context);
  } else if (credentials.method !== 'none' && !(await secretMatches(secretHash, credentials.secret))) {
    throw invalidClient('The client secret is wrong.');
  }
  return client;
}

const WINDOW_SECONDS = 60;

/**
 * Authenticates the client of a request to `endpoint`, counting the request against the
 * per-client and per-address limits first, in the same round trip as the client's lookup:
 * guessing a client's secret, or flooding the endpoint from one address, is cut off before
 * any check. The claimed client is counted, proven or not.
 */
export async function authenticateClientRequest(
  db: Database,
  config: Config,
  input: {
    endpoint: 'token' | 'revocation' | 'introspection' | 'device_authorization';
    issuer: string;
    authorization: string | undefined;
    params: Record<string, string | undefined>;
    ip: string | undefined;
  },
  now = Date.now(),
): Promise<OAuthClient> {
  const credentials = readClientCredentials(input.authorization, input.params);
  const address = addressKey(input.ip);
  const clientKey = `oauth-${input.endpoint}:client:${credentials.clientId.slice(0, 64)}`;
  const addressCounter = address ? `oauth-${input.endpoint}:address:${address}` : undefined;
  const counters: [Counter, ...Counter[]] = [
    { key: clientKey, windowSeconds: WINDOW_SECONDS },
    ...(addressCounter ? [{ key: addressCounter, windowSeconds: WINDOW_SECONDS }] : []),
  ];
  const [counts, rows] = await db.batch([
    countAttemptQuery(db, counters, now),
    clientWithSecretQuery(db, credentials.clientId),
  ]);
  const limits = new Map([
    [clientKey, config.oauth.tokenClientMax],
    [addressCounter, config.oauth.tokenIpMax],
  ]);
  const over = counts.filter((c) => c.count > (limits.get(c.key) ?? Infinity));
  if (over.length > 0) {
    const seconds = Math.max(1, Math.ceil((Math.max(...over.map((c) => c.expiresAt)) - now) / 1000));
    throw new OAuthError('temporarily_unavailable', `Too many requests; try again in ${seconds} seconds.`, {
      status: 429,
      headers: { 'Retry-After': String(seconds) },
    });
  }
  return authenticateClient(db, toClientLookup(rows), credentials, { issuer: input.issuer, now });
}
