/** What a grant module receives and returns (index.ts dispatches to them). */
import type { Config } from '../../platform/config';
import type { Database } from '../../platform/db/client';
import type { RequestLog } from '../../platform/audit';
import type { ProofClaim } from '../../dpop/replay';
import type { OAuthClient } from '../clients';
import { OAuthError } from '../errors';
import type { OAuthKeys } from '../issuer';
import type { TokenResponse } from './issue';

export type GrantContext = {
  db: Database;
  config: Config;
  issuer: string;
  keys: OAuthKeys;
  /** Authenticated, and registered for this grant type. */
  client: OAuthClient;
  params: Record<string, string | undefined>;
  /**
   * The request's verified DPoP proof (RFC 9449 §5), not yet spent: the grant claims it in D1
   * with its own writes, and the access token is bound to its key.
   */
  dpop?: ProofClaim | undefined;
  log: RequestLog;
  now: number;
};

export type Grant = {
  grantType: string;
  handle(ctx: GrantContext): Promise<TokenResponse>;
};

/** A required parameter, or `invalid_request` naming it. */
export function required(params: Record<string, string | undefined>, name: string): string {
  const value = params[name];
  if (value === undefined) throw new OAuthError('invalid_request', `${name} is missing.`);
  return value;
}
