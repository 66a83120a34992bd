/** The Worker: HTTP through the Hono app, and a daily cleanup on the Cron Trigger. */
import { createApp } from './app';
import { getConfig } from './config';
import { getDb } from './db/client';
import type { Bindings } from './env';
import { deleteEndedSessionsQuery } from './services/sessions';
import { deleteStaleFailuresQuery } from './services/throttle';
import { deleteEndedRecoveryQueries } from './services/recovery-cleanup';

const app = createApp();

/** Deletes sessions that ended more than SESSION_RETENTION ago, and expired throttle counters. */
export async function cleanup(env: Bindings, now = Date.now()): Promise<{ sessions: number; failures: number }> {
  const config = getConfig(env);
  const db = getDb(env.DB);
  const [sessions, failures] = await db.batch([
    deleteEndedSessionsQuery(db, config, now),
    deleteStaleFailuresQuery(db, config, now),
    ...deleteEndedRecoveryQueries(db, now),
  ]);
  return { sessions: sessions.meta.changes, failures: failures.meta.changes };
}

export default {
  fetch: app.fetch,
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(
      cleanup(env, controller.scheduledTime).then((deleted) =>
        console.log(
          JSON.stringify({ type: 'cleanup', deleted_sessions: deleted.sessions, deleted_failures: deleted.failures }),
        ),
      ),
    );
  },
} satisfies ExportedHandler<Bindings>;
