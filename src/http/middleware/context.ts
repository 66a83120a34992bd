import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { getConfig } from '../../platform/config';
import { requestDb } from '../../platform/db/client';
import type { AppEnv } from '../../platform/env';
import type { RequestLog } from '../../platform/audit';

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
