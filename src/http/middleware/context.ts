import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { getConfig } from '../../platform/config';
import { requestDb } from '../../platform/db/client';
import type { AppEnv } from '../../platform/env';
import type { RequestLog } from '../../platform/audit';
import { notices, type Notify } from '../../accounts/notices';

/** Puts the isolate's parsed config, the request's Drizzle client and the client IP on the context. */
export const context = () =>
  createMiddleware<AppEnv>(async (c, next) => {
    const config = getConfig(c.env);
    c.set('config', config);
    c.set('db', requestDb(c.env.DB, config.d1Reads, c.req.method));
    c.set('clientIp', c.req.header('CF-Connecting-IP'));
    await next();
  });

/** The request's id and client address, as service functions put them in audit lines. */
export const requestLog = (c: Context<AppEnv>): RequestLog => ({
  requestId: c.get('requestId'),
  ip: c.get('clientIp'),
});

/** The request's security notices (accounts/notices.ts): mailed after the answer has gone. */
export const notifier = (c: Context<AppEnv>): Notify =>
  notices(c.env, c.get('config'), requestLog(c), (work) => c.executionCtx.waitUntil(work));
