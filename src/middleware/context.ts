import { createMiddleware } from 'hono/factory';
import { getConfig } from '../config';
import { requestDb } from '../db/client';
import type { AppEnv } from '../env';

/** Puts the isolate's parsed config, the request's Drizzle client and the client IP on the context. */
export const context = () =>
  createMiddleware<AppEnv>(async (c, next) => {
    const config = getConfig(c.env);
    c.set('config', config);
    c.set('db', requestDb(c.env.DB, config.d1Reads, c.req.method));
    c.set('clientIp', c.req.header('CF-Connecting-IP'));
    await next();
  });
