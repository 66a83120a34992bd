import { drizzle, type DrizzleD1Database } from 'drizzle-orm/d1';
import * as schema from './schema';

export type Database = DrizzleD1Database<typeof schema>;

const cache = new WeakMap<D1Database, Database>();

/** The Drizzle wrapper for a D1 binding, built once per isolate. */
export function getDb(d1: D1Database): Database {
  let db = cache.get(d1);
  if (!db) {
    db = drizzle(d1, { schema });
    cache.set(d1, db);
  }
  return db;
}

/** Methods that never write; everything else is treated as a request that may. */
const READ_ONLY = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The database a request should use. `primary`: the binding itself. `nearest` (D1 read
 * replication through the Sessions API): a read-only request reads from whatever replica is
 * nearest ('first-unconstrained'); a request that may write starts at the primary
 * ('first-primary') and stays on it, so it reads its own writes.
 */
export function requestDb(d1: D1Database, reads: 'primary' | 'nearest', method: string): Database {
  if (reads === 'primary') return getDb(d1);
  return sessionDb(d1, mayReadReplica(reads, method) ? 'first-unconstrained' : 'first-primary');
}

/** Whether a request's reads (requestDb) may come from a replica that lags the primary. */
export const mayReadReplica = (reads: 'primary' | 'nearest', method: string) =>
  reads === 'nearest' && READ_ONLY.has(method);

/**
 * The primary, whatever the request's method: for reads that decide on authorisation (the
 * admin role), which a lagging replica would answer as it was before a demotion.
 */
export function primaryDb(d1: D1Database, reads: 'primary' | 'nearest'): Database {
  return reads === 'primary' ? getDb(d1) : sessionDb(d1, 'first-primary');
}

function sessionDb(d1: D1Database, constraint: D1SessionConstraint): Database {
  // Drizzle's d1 driver is typed for D1Database only; a session has the prepare/batch it uses.
  return drizzle(d1.withSession(constraint) as unknown as D1Database, { schema });
}
