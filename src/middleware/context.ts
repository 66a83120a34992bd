import { createMiddleware } from 'hono/factory';
import { getConfig } from '../config';
import { getDb } from '../db/client';
import type { AppEnv } from '../env';

/** Puts the isolate's parsed config and Drizzle client on the context. */
export const context = () =>
  createMiddleware<AppEnv>(async (c, next) => {
    c.set('config', getConfig(c.env));
    c.set('db', getDb(c.env.DB));
    await next();
  });
