/** The Worker: HTTP through the Hono app, and a daily cleanup on the Cron Trigger. */
import { createApp } from './http/app';
import { getConfig } from './platform/config';
import { getDb } from './platform/db/client';
import type { Bindings } from './platform/env';
import { deleteExpiredCountersQuery } from './throttle/rate-limit';
import {
  deleteEndedSessionsQuery,
  deleteSpentExpiredTokensQuery,
  eraseSealedSuccessorsQuery,
} from './sessions/sessions';
import { deleteEndedRecoveryQueries } from './recovery/cleanup';
import { deleteForgottenAddressesQuery, deleteLapsedAttemptsQuery } from './throttle/throttle';
import { deleteExpiredCodesQuery } from './oauth/codes';
import { deleteExpiredDeviceCodesQuery } from './oauth/device-codes';
import { deleteEndedInteractionsQuery } from './oauth/interactions';
import { deleteExpiredProofsQuery } from './dpop/replay';
import { deleteExpiredChallengesQuery } from './passkeys/challenges';
import { deleteExpiredAssertionJtisQuery } from './oauth/client-assertion';
import { deleteEndedApiKeysQuery } from './api-keys/api-keys';

const app = createApp();

export type CleanupSummary = {
  sessions: number;
  spentTokens: number;
  sealedSuccessors: number;
  counters: number;
  knownAddresses: number;
  lapsedAttempts: number;
  oauthCodes: number;
  oauthDeviceCodes: number;
  dpopProofs: number;
};

/**
 * What the database must not keep: sessions that ended more than SESSION_RETENTION ago,
 * spent refresh tokens past their lifetime, sealed successors past the grace window,
 * expired throttle counters, addresses not seen for KNOWN_ADDRESS_DAYS, login attempts whose
 * in-flight mark lapsed (their Worker died before the verdict), OAuth codes expired more than
 * SESSION_RETENTION ago (device authorizations too), OAuth sign-in and logout requests past their
 * lifetime, expired passkey challenges, spent DPoP proofs too old to be accepted anyway, the jtis
 * of expired client assertions, and API keys whose grant is gone with the ended sessions (after
 * deleteEndedSessionsQuery, in the same batch).
 */
export async function cleanup(env: Bindings, now = Date.now()): Promise<CleanupSummary> {
  const config = getConfig(env);
  const db = getDb(env.DB);
  const [
    sessions,
    spentTokens,
    sealedSuccessors,
    counters,
    knownAddresses,
    lapsedAttempts,
    oauthCodes,
    deviceCodes,
    dpopProofs,
  ] = await db.batch([
    deleteEndedSessionsQuery(db, config, now),
    deleteSpentExpiredTokensQuery(db, now),
    eraseSealedSuccessorsQuery(db, now - config.refreshReuseGrace * 1000),
    deleteExpiredCountersQuery(db, now),
    deleteForgottenAddressesQuery(db, now),
    deleteLapsedAttemptsQuery(db, now),
    deleteExpiredCodesQuery(db, config, now),
    deleteExpiredDeviceCodesQuery(db, config, now),
    deleteExpiredProofsQuery(db, now),
    ...deleteEndedRecoveryQueries(db, now),
    deleteEndedInteractionsQuery(db, now),
    deleteExpiredChallengesQuery(db, now),
    deleteExpiredAssertionJtisQuery(db, now),
    deleteEndedApiKeysQuery(db),
  ]);
  return {
    sessions: sessions.meta.changes,
    spentTokens: spentTokens.meta.changes,
    sealedSuccessors: sealedSuccessors.meta.changes,
    counters: counters.meta.changes,
    knownAddresses: knownAddresses.meta.changes,
    lapsedAttempts: lapsedAttempts.meta.changes,
    oauthCodes: oauthCodes.meta.changes,
    oauthDeviceCodes: deviceCodes.meta.changes,
    dpopProofs: dpopProofs.meta.changes,
  };
}

export default {
  fetch: app.fetch,
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(
      cleanup(env, controller.scheduledTime).then((deleted) =>
        console.log(
          JSON.stringify({
            type: 'cleanup',
            deleted_sessions: deleted.sessions,
            deleted_spent_tokens: deleted.spentTokens,
            erased_sealed_successors: deleted.sealedSuccessors,
            deleted_counters: deleted.counters,
            deleted_known_addresses: deleted.knownAddresses,
            deleted_lapsed_attempts: deleted.lapsedAttempts,
            deleted_oauth_codes: deleted.oauthCodes,
            deleted_oauth_device_codes: deleted.oauthDeviceCodes,
            deleted_dpop_proofs: deleted.dpopProofs,
          }),
        ),
      ),
    );
  },
} satisfies ExportedHandler<Bindings>;
