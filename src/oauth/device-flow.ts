/**
 * The hosted device page (RFC 8628 §3.3), /oauth/device: the user types the code their device
 * shows, signs in exactly as on the code flow's page (the same interaction endpoints, so the
 * same throttling, two-factor and passkeys), then answers Allow or Deny for the client and its
 * scopes. The answer is recorded on the device authorization, where the device's next poll of
 * the token endpoint finds it (grants/device-code.ts).
 *
 *   code entered (right, pending)   -> an interaction of kind `device`, tied to this browser
 *   no live session                 -> sign_in
 *   otherwise                       -> consent, always: see decideDevice
 *   Allow or Deny                   -> device_done
 *
 * A user code has about 34.5 bits, so entering codes is limited: per address, and over every
 * address together (an attacker with many addresses is stopped by the second), counted before
 * the lookup in the same D1 round trip; a right code takes its counts back.
 */
import { and, eq, gt } from 'drizzle-orm';
import { addressKey } from '../platform/address';
import { audit, type RequestLog } from '../platform/audit';
import type { Config } from '../platform/config';
import type { Database } from '../platform/db/client';
import { oauthDeviceCodes } from '../platform/db/schema';
import { ApiError } from '../platform/errors';
import { countAttemptQuery, takeBackQuery, tooMany, type Counter } from '../throttle/rate-limit';
import { clientView, sessionAmr, type BrowserSession, type Step } from './authorize-flow';
import { getClient } from './clients';
import { rememberConsent } from './consents';
import { normalizeUserCode, pendingByUserCodeQuery, userCodeHash } from './device-codes';
import { createInteraction, finishInteraction, type Interaction } from './interactions';
import { describeScopes, parseScope } from './scopes';

const WINDOW_SECONDS = 3600;
const ALL_ADDRESSES = 'oauth-user-code:all';

const wrongCode = (message: string) =>
  new ApiError(400, 'invalid_user_code', message, { errors: [{ field: 'user_code', message }] });

/** The same answer for an unknown code, another browser's answer, and an expired one. */
export const deviceExpired = () =>
  new ApiError(
    400,
    'interaction_expired',
    'This code has expired or was already answered. Start again on your device.',
  );

/**
 * The code the user typed: if it names a pending authorization, a new interaction for this
 * browser, whose id the page then sends with every call. Else 400 `invalid_user_code`, or 429
 * once the limits are reached.
 */
export async function enterUserCode(
  db: Database,
  config: Config,
  input: { userCode: string; ip: string | undefined; browserSecret: string },
  now: number,
): Promise<string> {
  const code = normalizeUserCode(input.userCode);
  // Not a code at all (a typo of its shape): answered without a lookup, and not counted.
  if (!code) throw wrongCode('A code is 8 letters, like BCDF-GHJK.');
  const address = addressKey(input.ip);
  const addressCounter = address ? `oauth-user-code:address:${address}` : undefined;
  const counters: [Counter, ...Counter[]] = [
    { key: ALL_ADDRESSES, windowSeconds: WINDOW_SECONDS },
    ...(addressCounter ? [{ key: addressCounter, windowSeconds: WINDOW_SECONDS }] : []),
  ];
  const [counts, found] = await db.batch([
    countAttemptQuery(db, counters, now),
    pendingByUserCodeQuery(db, await userCodeHash(config, code), now),
  ]);
  const over = counts.filter(
    (c) => c.count > (c.key === ALL_ADDRESSES ? config.oauth.userCodeFailuresMax : config.oauth.userCodeIpMax),
  );
  // Refused even when right: a guess that happens to be right must not get through either.
  if (over.length > 0) {
    throw tooMany('too_many_attempts', 'Too many wrong codes', Math.max(...over.map((c) => c.expiresAt)), now);
  }
  const device = found[0];
  if (!device) throw wrongCode('That code is wrong or has expired.');
  await takeBackQuery(db, [ALL_ADDRESSES, ...(addressCounter ? [addressCounter] : [])]);
  return createInteraction(
    db,
    {
      kind: 'device',
      browserSecret: input.browserSecret,
      clientId: device.clientId,
      params: { device: device.deviceCodeHash },
    },
    now,
  );
}

export type DeviceContext = {
  db: Database;
  interaction: Interaction<'device'>;
  browser: BrowserSession | null;
  log: RequestLog;
  now: number;
};

const pending = (ctx: DeviceContext) =>
  and(
    eq(oauthDeviceCodes.deviceCodeHash, ctx.interaction.params.device),
    eq(oauthDeviceCodes.status, 'pending'),
    gt(oauthDeviceCodes.expiresAt, ctx.now),
  );

/** The authorization, while it waits for an answer, and its client as registered now. */
async function pendingDevice(ctx: DeviceContext) {
  const device = await ctx.db
    .select({ clientId: oauthDeviceCodes.clientId, scope: oauthDeviceCodes.scope })
    .from(oauthDeviceCodes)
    .where(pending(ctx))
    .get();
  const client = device && (await getClient(ctx.db, device.clientId));
  if (!device || !client) throw deviceExpired();
  return { device, client };
}

/** The device page's next step, given the browser's session now. */
export async function deviceStep(ctx: DeviceContext): Promise<Step> {
  const { device, client } = await pendingDevice(ctx);
  if (!ctx.browser) return { step: 'sign_in', client: clientView(client) };
  return {
    step: 'consent',
    client: clientView(client),
    user: { username: ctx.browser.user.username },
    scopes: describeScopes(parseScope(device.scope)),
  };
}

/**
 * Allow or Deny. The user is asked every time, remembered consent and `skip_consent` clients
 * alike: a device code can be started by anyone and its link sent to the victim (RFC 8628 §5.4,
 * remote phishing), so the one click that hands a device the user's account is never skipped.
 * Of two answers (two tabs, two browsers) the first one counts.
 */
export async function decideDevice(ctx: DeviceContext, allow: boolean): Promise<Step> {
  const browser = ctx.browser;
  if (!browser) return deviceStep(ctx);
  const { device, client } = await pendingDevice(ctx);
  const answer = allow
    ? {
        status: 'approved' as const,
        userId: browser.user.id,
        // The version the session was checked against: a logout-all since voids the approval.
        tokenVersion: browser.user.tokenVersion,
        browserSessionId: browser.session.id,
        authTime: browser.session.createdAt,
        amr: (await sessionAmr(ctx.db, browser)).join(' '),
      }
    : { status: 'denied' as const, userId: browser.user.id };
  const answered = await ctx.db
    .update(oauthDeviceCodes)
    .set(answer)
    .where(pending(ctx))
    .returning({ hash: oauthDeviceCodes.deviceCodeHash });
  if (answered.length === 0) throw deviceExpired();
  await finishInteraction(ctx.db, ctx.interaction.idHash, ctx.now);
  const fields = {
    ...ctx.log,
    userId: browser.user.id,
    sessionId: browser.session.id,
    clientId: client.clientId,
    scope: device.scope,
  };
  if (allow) {
    await rememberConsent(ctx.db, browser.user.id, client.clientId, parseScope(device.scope), ctx.now);
    audit('oauth_device_approved', fields);
  } else {
    audit('oauth_device_denied', fields);
  }
  return { step: 'device_done', approved: allow };
}
