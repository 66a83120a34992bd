/**
 * Hono with its RegExpRouter only. The default preset pairs it with a TrieRouter fallback for
 * route sets a single regular expression cannot express; this service's routes never need it
 * (the tests route every path through this one), and the fallback is 1.1 KiB gzipped of bundle.
 */
import type { Env } from 'hono';
import { HonoBase } from 'hono/hono-base';
import { RegExpRouter } from 'hono/router/reg-exp-router';

export class Hono<E extends Env> extends HonoBase<E> {
  constructor() {
    super({ router: new RegExpRouter() });
  }
}
