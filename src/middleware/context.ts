import { createMiddleware } from 'hono/factory';
import { getConfig } from '../config';
import { getDb } from '../db/client';
import type { AppEnv } from '../env';

/** Puts the isolate's parsed config, the Drizzle client and the client IP on the context. */
export const context = () =>
  createMiddleware<AppEnv>(async (c, next) => {
    c.set('config', getConfig(c.env));
    c.set('db', getDb(c.env.DB));
    c.set('clientIp', c.req.header('CF-Connecting-IP'));
    await next();
  });
