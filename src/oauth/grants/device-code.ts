/**
 * grant_type=urn:ietf:params:oauth:grant-type:device_code (RFC 8628 §3.4, §3.5). The device
 * polls with its device code until the user answers on the device page (device-flow.ts):
 *
 *   spent                     -> invalid_grant; a second redemption ends the grant the first made
 *   past expires_in           -> expired_token
 *   denied                    -> access_denied, once: the code is then spent
 *   pending, polled on time   -> authorization_pending
 *   pending, polled too soon  -> slow_down, and the interval grows by 5 s for good (§3.5)
 *   allowed                   -> the tokens of a code exchange, as a grant (a session); spent
 *
 * Another client's device code is answered as an unknown one. Like a code, an approval is void
 * once the browser session that gave it has ended, or after the user's logout-all or password
 * change.
 */
import { and, eq, isNull, sql } from 'drizzle-orm';
import { audit } from '../../platform/audit';
import { oauthDeviceCodes, users } from '../../platform/db/schema';
import { revokeSession, sessionLiveSql } from '../../sessions/sessions';
import { claimsUserColumns } from '../claims';
import { DEVICE_CODE_GRANT } from '../clients';
import { deviceCodeHash } from '../device-codes';
import { OAuthError } from '../errors';
import { required, type Grant, type GrantContext } from './context';
import { tokenResponse } from './issue';
import { redeemIntoGrant } from './redeem';

const t = oauthDeviceCodes;
const invalidGrant = (description: string) => new OAuthError('invalid_grant', description);

function readDevice(ctx: GrantContext, hash: string) {
  return ctx.db
    .select({
      device: t,
      user: claimsUserColumns,
      // 1 when the browser session that allowed it is still live.
      browserLive: sessionLiveSql(t.browserSessionId, ctx.now),
    })
    .from(t)
    .leftJoin(users, eq(users.id, t.userId))
    .where(eq(t.deviceCodeHash, hash))
    .get();
}

async function replayed(ctx: GrantContext, grantId: string | null, userId: string | null): Promise<never> {
  // Redeemed before (not merely denied): whoever polls again, one of the two is not the device.
  if (grantId) {
    await revokeSession(ctx.db, grantId, 'device_code_replayed', ctx.now);
    audit('oauth_device_code_replayed', {
      ...ctx.log,
      userId: userId ?? undefined,
      clientId: ctx.client.clientId,
      sessionId: grantId,
    });
  }
  throw invalidGrant('The device code was already used; its tokens are revoked.');
}

/**
 * A poll of a pending authorization. One statement judges and records it, so that of two
 * polls sent at once the second is the one too soon; the interval it returns tells which.
 */
async function poll(ctx: GrantContext, hash: string, interval: number): Promise<never> {
  const early = sql`${t.polledAt} + ${t.pollInterval} * 1000 > ${ctx.now}`;
  const [polled] = await ctx.db
    .update(t)
    .set({
      pollInterval: sql`CASE WHEN ${early} THEN ${t.pollInterval} + 5 ELSE ${t.pollInterval} END`,
      polledAt: ctx.now,
    })
    .where(and(eq(t.deviceCodeHash, hash), eq(t.status, 'pending')))
    .returning({ interval: t.pollInterval });
  if (polled && polled.interval > interval) {
    throw new OAuthError('slow_down', `Poll at most every ${polled.interval} seconds.`);
  }
  throw new OAuthError('authorization_pending', 'The user has not answered yet.');
}

async function handle(ctx: GrantContext) {
  const hash = await deviceCodeHash(required(ctx.params, 'device_code'));
  const row = await readDevice(ctx, hash);
  if (!row || row.device.clientId !== ctx.client.clientId) throw invalidGrant('The device code is invalid.');
  const device = row.device;
  if (device.usedAt !== null) return replayed(ctx, device.grantId, device.userId);
  if (device.expiresAt <= ctx.now) throw new OAuthError('expired_token', 'The device code has expired.');
  if (device.status === 'denied') {
    await ctx.db.update(t).set({ usedAt: ctx.now }).where(eq(t.deviceCodeHash, hash));
    throw new OAuthError('access_denied', 'The user denied the request.', { status: 400 });
  }
  if (device.status === 'pending' || !row.user) return poll(ctx, hash, device.pollInterval);
  if (row.browserLive !== 1) throw invalidGrant('The sign-in this device was allowed from has ended.');
  const resource = ctx.params.resource;
  if (resource !== undefined && resource !== device.resource) {
    throw new OAuthError('invalid_target', 'resource differs from the one asked for.');
  }

  const scopes = device.scope.split(' ');
  const refreshable = scopes.includes('offline_access') && ctx.client.grantTypes.includes('refresh_token');
  const { issued, claimed, created } = await redeemIntoGrant(ctx, {
    userId: row.user.id,
    tokenVersion: device.tokenVersion ?? -1,
    grant: {
      clientId: ctx.client.clientId,
      scope: device.scope,
      resource: device.resource,
      authTime: device.authTime ?? ctx.now,
      amr: device.amr ?? '',
      browserSessionId: device.browserSessionId,
    },
    refreshable,
    claimedFor: (grantId) =>
      sql`EXISTS (SELECT 1 FROM ${t} WHERE ${t.deviceCodeHash} = ${hash} AND ${t.grantId} = ${grantId})`,
    claim: (grantId, proofIsOurs) =>
      ctx.db
        .update(t)
        .set({ usedAt: ctx.now, grantId })
        .where(and(eq(t.deviceCodeHash, hash), isNull(t.usedAt), proofIsOurs))
        .returning({ grantId: t.grantId }),
  });
  if (!claimed) {
    const winner = await ctx.db.select({ grantId: t.grantId }).from(t).where(eq(t.deviceCodeHash, hash)).get();
    return replayed(ctx, winner?.grantId ?? null, row.user.id);
  }
  if (!created) {
    throw invalidGrant('The user signed out everywhere or changed their password since allowing this device.');
  }
  audit('oauth_device_token_issued', {
    ...ctx.log,
    userId: row.user.id,
    clientId: ctx.client.clientId,
    sessionId: issued.sessionId,
    scope: device.scope,
  });
  return tokenResponse(
    ctx,
    {
      id: issued.sessionId,
      user: row.user,
      scope: device.scope,
      resource: device.resource,
      authTime: device.authTime ?? ctx.now,
      amr: (device.amr ?? '').split(' ').filter(Boolean),
    },
    { refreshToken: refreshable ? issued.refreshToken : undefined },
  );
}

export const deviceCodeGrant: Grant = { grantType: DEVICE_CODE_GRANT, handle };
