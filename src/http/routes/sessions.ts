/** /auth/sessions: the caller's active sessions (logins), and revoking one of them. */
import * as z from 'zod/mini';
import { requireAuth, withAccessCheck } from '../middleware/auth';
import { createRouter, defineRoute } from '../routing';
import type { Tag } from '../tags';
import { json, problem } from '../schemas';
import { audit } from '../../platform/audit';
import {
  accessStillValid,
  activeSessionsQuery,
  revokedOwnSession,
  revokeOwnSessionStatement,
} from '../../sessions/sessions';

/** The access check rides in the route's own D1 batch (withAccessCheck): one round trip each. */
const checkedInBatch = [requireAuth({ deferred: true })];

const tags: Tag[] = ['sessions'];
const iso = (ms: number) => new Date(ms).toISOString();

const sessionSchema = z.object({
  id: z.string(),
  created_at: z.iso.datetime(),
  last_used_at: z.iso.datetime(),
  expires_at: z.iso.datetime(),
  user_agent: z.nullable(z.string()),
  current: z.boolean().check(z.meta({ description: 'The session the presented access token belongs to' })),
  client: z.nullable(z.object({ client_id: z.string(), client_name: z.nullable(z.string()), scope: z.string() })).check(
    z.meta({
      description: 'For an OAuth grant: the application it was granted to, and the scope granted; null for a login',
    }),
  ),
});

export const listSessionsRoute = defineRoute({
  method: 'get',
  path: '/auth/sessions',
  middleware: checkedInBatch,
  docs: API_DOCS && {
    operationId: 'listSessions',
    tags,
    summary: "The caller's active sessions",
    description:
      'One entry per login, and per OAuth grant to an application, that has not ended: when it started and was last refreshed, when it expires, its User-Agent, whether it is the session of the presented token (`current`), and for a grant the application (`client`). Revoking a grant ends the application’s access.',
    bearer: true,
    responses: {
      200: json(z.object({ sessions: z.array(sessionSchema) }), 'Active sessions, most recently used first'),
      401: problem('No or invalid access token'),
    },
  },
});

export const revokeSessionRoute = defineRoute({
  method: 'delete',
  path: '/auth/sessions/{id}',
  middleware: checkedInBatch,
  request: { params: z.object({ id: z.string().check(z.minLength(1), z.maxLength(64)) }) },
  docs: API_DOCS && {
    operationId: 'revokeSession',
    tags,
    summary: 'Revoke one of the caller’s sessions',
    description:
      'Ends one session (for example a device the user no longer has): its refresh token and its access tokens stop working at once.',
    bearer: true,
    responses: {
      204: { description: 'Revoked' },
      401: problem('No or invalid access token'),
      404: problem('No such active session of the caller (`not_found`)'),
    },
  },
});

export const sessionsRouter = createRouter()
  .route(listSessionsRoute, async (c) => {
    const { sub } = c.get('claims');
    const rows = await withAccessCheck(c, (db) => activeSessionsQuery(db, sub, Date.now()));
    const sessions = rows.map((s) => ({
      id: s.id,
      created_at: iso(s.createdAt),
      last_used_at: iso(s.lastUsedAt),
      expires_at: iso(s.expiresAt),
      user_agent: s.userAgent,
      current: s.id === c.get('claims').sid,
      client: s.clientId ? { client_id: s.clientId, client_name: s.clientName, scope: s.scope ?? '' } : null,
    }));
    return c.json({ sessions }, 200);
  })
  .route(revokeSessionRoute, async (c) => {
    const { id } = c.req.valid('param');
    const claims = c.get('claims');
    const now = Date.now();
    const revoked = await withAccessCheck(c, (db) =>
      // Guarded by the caller's own check: a revoked token must not revoke anything.
      revokeOwnSessionStatement(db, claims.sub, id, now, accessStillValid(claims, now)),
    );
    revokedOwnSession(revoked, claims.sub);
    audit('session_revoked', { requestId: c.get('requestId'), userId: c.get('user').id, sessionId: id });
    return c.body(null, 204);
  });
