/**
 * Bench-only entry (never deployed): the real Worker, with its D1 binding wrapped to model
 * a client far from the D1 primary (`npm run bench -- --d1-latency=MS`).
 *
 * The model, per D1 round trip (a statement's run/all/first/raw, or one batch):
 * - on the binding itself, or in a `withSession('first-primary')` session: the primary,
 *   BENCH_D1_LATENCY_MS away;
 * - reads in a `withSession('first-unconstrained')` (or bookmark) session, until that
 *   session's first write: a replica in the caller's region, BENCH_D1_NEAR_MS away; after a
 *   write the session needs the primary's state, so it pays the far latency again.
 *
 * A request carrying `x-bench-count-d1: 1` gets `x-bench-d1: primary=N replica=M` on its
 * response: the round trips it made, which `npm run bench` prints per route.
 */
import worker from '../src/index';
import type { Bindings } from '../src/platform/env';

type BenchBindings = Bindings & { BENCH_D1_LATENCY_MS?: string; BENCH_D1_NEAR_MS?: string };
type Counter = { primary: number; replica: number };
type Model = { far: number; near: number; counter?: Counter };
type Target = 'primary' | 'replica';

const sleep = (ms: number) => (ms > 0 ? new Promise<void>((resolve) => setTimeout(resolve, ms)) : Promise.resolve());
const isRead = (sql: string) => /^\s*select\b/i.test(sql);

/** Where a session sends its next round trip. */
class Route {
  private wrote = false;
  constructor(private readonly unconstrained: boolean) {}
  target(reads: boolean): Target {
    if (!reads) this.wrote = true;
    return this.unconstrained && reads && !this.wrote ? 'replica' : 'primary';
  }
}

async function roundTrip<T>(model: Model, target: Target, call: () => Promise<T>): Promise<T> {
  if (model.counter) model.counter[target]++;
  await sleep(target === 'replica' ? model.near : model.far);
  return call();
}

/** Wrapped statement -> the real one (what batch() must be given) and its SQL. */
const statements = new WeakMap<D1PreparedStatement, { real: D1PreparedStatement; sql: string }>();

function wrapStatement(real: D1PreparedStatement, sql: string, model: Model, route: Route): D1PreparedStatement {
  const via = <T>(call: () => Promise<T>) => roundTrip(model, route.target(isRead(sql)), call);
  const wrapped = {
    bind: (...values: unknown[]) => wrapStatement(real.bind(...values), sql, model, route),
    first: (column?: string) => via(() => (column === undefined ? real.first() : real.first(column))),
    run: () => via(() => real.run()),
    all: () => via(() => real.all()),
    raw: (options?: { columnNames?: boolean }) => via(() => real.raw(options as { columnNames: true })),
  } as unknown as D1PreparedStatement;
  statements.set(wrapped, { real, sql });
  return wrapped;
}

type Queryable = Pick<D1Database, 'prepare' | 'batch'>;

function wrapQueryable<T extends Queryable>(real: T, model: Model, route: Route, extra: object): T {
  return {
    ...extra,
    prepare: (sql: string) => wrapStatement(real.prepare(sql), sql, model, route),
    batch: (list: D1PreparedStatement[]) => {
      const known = list.map((s) => statements.get(s) ?? { real: s, sql: '' });
      const reads = known.every((s) => isRead(s.sql));
      return roundTrip(model, route.target(reads), () => real.batch(known.map((s) => s.real)));
    },
  } as unknown as T;
}

function wrapDatabase(real: D1Database, model: Model): D1Database {
  return wrapQueryable(real, model, new Route(false), {
    exec: (sql: string) => roundTrip(model, 'primary', () => real.exec(sql)),
    dump: () => real.dump(),
    withSession: (constraint?: string) => {
      const session = real.withSession(constraint as D1SessionConstraint);
      const unconstrained = constraint !== undefined && constraint !== 'first-primary';
      return wrapQueryable(session, model, new Route(unconstrained), { getBookmark: () => session.getBookmark() });
    },
  });
}

// One wrapped env per isolate for load runs, so the wrapper adds no per-request setup.
const shared = new WeakMap<object, BenchBindings>();

export default {
  async fetch(request, env, ctx) {
    const model: Model = { far: Number(env.BENCH_D1_LATENCY_MS ?? 0), near: Number(env.BENCH_D1_NEAR_MS ?? 1) };
    if (request.headers.get('x-bench-count-d1') === '1') {
      const counter: Counter = { primary: 0, replica: 0 };
      const response = await worker.fetch(request, { ...env, DB: wrapDatabase(env.DB, { ...model, counter }) }, ctx);
      const counted = new Response(response.body, response);
      counted.headers.set('x-bench-d1', `primary=${counter.primary} replica=${counter.replica}`);
      return counted;
    }
    let wrapped = shared.get(env);
    if (!wrapped) shared.set(env, (wrapped = { ...env, DB: wrapDatabase(env.DB, model) }));
    return worker.fetch(request, wrapped, ctx);
  },
} satisfies ExportedHandler<BenchBindings>;
