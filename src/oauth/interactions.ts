/**
 * Interactions: what the authorization endpoint and the logout endpoint hand over to the
 * hosted pages. The endpoint validates the request, stores it here and sends the browser to a
 * static page (`/oauth/sign-in?interaction=…`), whose script drives the rest through small JSON
 * endpoints. Two secrets tie a row to one browser:
 *
 * - the id in the page's URL (256 random bits, stored as SHA-256), so several requests can be
 *   pending in one browser (two tabs, two applications);
 * - the browser cookie (`BROWSER_COOKIE`, 256 random bits, stored as SHA-256), so an id that
 *   leaks (a screenshot, a log of URLs) is of no use in another browser. Without it, someone
 *   holding the id could sign in as themselves and hand the victim's application a code for
 *   the wrong account.
 *
 * Rows live INTERACTION_TTL_SECONDS and are spent by the step that ends them (a code issued,
 * a denial, a logout), by a conditional write, so two racing clicks end one interaction once.
 */
import { and, eq, gt, inArray, isNull, lt } from 'drizzle-orm';
import { randomToken, sha256Base64Url } from '../platform/crypto';
import type { Database } from '../platform/db/client';
import { oauthInteractions } from '../platform/db/schema';
import { ApiError } from '../platform/errors';

/** Ten minutes to sign in (and maybe find the phone for a code) and decide on consent. */
export const INTERACTION_TTL_SECONDS = 600;

export type Prompt = 'none' | 'login' | 'consent';

/** A validated authorization request (src/oauth/authorize-request.ts), as stored. */
export type AuthorizeParams = {
  client_id: string;
  redirect_uri: string;
  /** Space-separated, each scope once. */
  scope: string;
  code_challenge: string;
  prompt: Prompt[];
  state?: string | undefined;
  nonce?: string | undefined;
  /** Seconds; 0 was turned into prompt=login. */
  max_age?: number | undefined;
  /** RFC 8707: the audience the grant's access tokens are for. */
  resource?: string | undefined;
  login_hint?: string | undefined;
  /** RFC 9449 §10: the thumbprint of the DPoP key the code is bound to. */
  dpop_jkt?: string | undefined;
};

/** A validated logout request (src/oauth/end-session.ts), as stored. */
export type LogoutParams = {
  post_logout_redirect_uri?: string | undefined;
  state?: string | undefined;
  /** From a valid id_token_hint: the user and the session it was issued for. */
  user_id?: string | undefined;
  session_id?: string | undefined;
};

/** A device authorization whose user code was entered on the device page (src/oauth/device-flow.ts). */
export type DeviceParams = {
  /** The authorization's row (its device code's hash; the code itself is never stored). */
  device: string;
};

type Kinds = { authorize: AuthorizeParams; logout: LogoutParams; device: DeviceParams };
export type InteractionKind = keyof Kinds;

export type Interaction<K extends InteractionKind> = {
  kind: K;
  idHash: string;
  clientId: string | null;
  params: Kinds[K];
  signedInSessionId: string | null;
  createdAt: number;
};

export const interactionExpired = () =>
  new ApiError(
    400,
    'interaction_expired',
    'This request has expired or was already completed. Go back to the application and start again.',
  );

/** A new browser secret, for a browser that has none yet. */
export const newBrowserSecret = () => randomToken(32);

/** Stores a validated request; returns the id the page's URL carries. */
export async function createInteraction<K extends InteractionKind>(
  db: Database,
  input: { kind: K; browserSecret: string; clientId: string | null; params: Kinds[K] },
  now: number,
): Promise<string> {
  const id = randomToken(32);
  await db.insert(oauthInteractions).values({
    idHash: await sha256Base64Url(id),
    kind: input.kind,
    browserHash: await sha256Base64Url(input.browserSecret),
    clientId: input.clientId,
    params: JSON.stringify(input.params),
    createdAt: now,
    expiresAt: now + INTERACTION_TTL_SECONDS * 1000,
  });
  return id;
}

const live = (idHash: string, now: number) =>
  and(eq(oauthInteractions.idHash, idHash), isNull(oauthInteractions.usedAt), gt(oauthInteractions.expiresAt, now));

/** One interaction of any of the kinds K, told apart by `kind`. */
export type AnyInteraction<K extends InteractionKind> = K extends InteractionKind ? Interaction<K> : never;

/**
 * The live interaction `id` names, if this browser started it and it is of one of `kinds`; else
 * 400 `interaction_expired` (the same answer for unknown, expired, used and another browser's,
 * so the answer tells a guesser nothing).
 */
export async function loadInteraction<K extends InteractionKind>(
  db: Database,
  kinds: readonly K[],
  id: string,
  browserSecret: string | undefined,
  now: number,
): Promise<AnyInteraction<K>> {
  if (!browserSecret) throw interactionExpired();
  const idHash = await sha256Base64Url(id);
  // Both secrets are matched by their hashes in the lookup, as refresh tokens are: nothing
  // compares a secret in code, where timing could tell how much of a guess was right.
  const row = await db.query.oauthInteractions.findFirst({
    where: and(
      live(idHash, now),
      inArray(oauthInteractions.kind, [...kinds]),
      eq(oauthInteractions.browserHash, await sha256Base64Url(browserSecret)),
    ),
  });
  if (!row) throw interactionExpired();
  // The row's kind is one of `kinds` (the query asked for those only), its params that kind's.
  const interaction: Interaction<InteractionKind> = {
    kind: row.kind,
    idHash,
    clientId: row.clientId,
    params: JSON.parse(row.params) as Kinds[InteractionKind],
    signedInSessionId: row.signedInSessionId,
    createdAt: row.createdAt,
  };
  return interaction as AnyInteraction<K>;
}

/** Records the session a sign-in on this interaction's page started. */
export async function recordSignIn(db: Database, idHash: string, sessionId: string, now: number): Promise<void> {
  await db.update(oauthInteractions).set({ signedInSessionId: sessionId }).where(live(idHash, now));
}

/** Spends the interaction; false when another request spent it first (or it expired). */
export async function finishInteraction(db: Database, idHash: string, now: number): Promise<boolean> {
  const done = await db
    .update(oauthInteractions)
    .set({ usedAt: now })
    .where(live(idHash, now))
    .returning({ idHash: oauthInteractions.idHash });
  return done.length === 1;
}

/** For the daily cleanup: interactions past their lifetime, used or not. */
export function deleteEndedInteractionsQuery(db: Database, now: number) {
  return db.delete(oauthInteractions).where(lt(oauthInteractions.expiresAt, now));
}
