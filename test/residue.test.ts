/**
 * What the database keeps: after rotations and after the daily cleanup, no stored column
 * lets a spent refresh token open the live one, and nothing stored is a usable token.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup } from '../src/index';
import { api, signedIn, type Tokens, sessionIdOf } from './helpers';

const T0 = Date.UTC(2030, 2, 1, 12, 0, 0);
const DAY = 86_400_000;

afterEach(() => vi.useRealTimers());

function setNow(ms: number) {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(ms);
}

async function refreshOk(refreshToken: string): Promise<Tokens> {
  const res = await api('/auth/refresh', { json: { refresh_token: refreshToken } });
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}

type Row = Record<string, unknown>;

/** Every stored column of the session's rows, refresh tokens first. */
async function dump(sessionId: string): Promise<{ tokens: Row[]; session: Row | null }> {
  const tokens = await env.DB.prepare('SELECT * FROM refresh_tokens WHERE session_id = ? ORDER BY created_at')
    .bind(sessionId)
    .all<Row>();
  const session = await env.DB.prepare('SELECT * FROM sessions WHERE id = ?').bind(sessionId).first<Row>();
  return { tokens: tokens.results, session };
}

/** No stored value is, or contains, any token ever handed out. */
function expectNoTokenStored(rows: Row[], issued: string[]) {
  const values = rows.flatMap((row) => Object.values(row).map(String));
  for (const token of issued) for (const value of values) expect(value).not.toContain(token);
}

describe('stored refresh-token state', () => {
  it('erases a sealed successor in the batch of the next rotation once the grace window has passed', async () => {
    setNow(T0);
    const { tokens } = await signedIn('residue');
    const session = sessionIdOf(tokens.access_token);
    setNow(T0 + 1_000);
    const first = await refreshOk(tokens.refresh_token);
    let { tokens: rows } = await dump(session);
    // Within the grace window the first token's row still seals its successor (parallel tabs).
    expect(rows[0]!.successor_sealed).toEqual(expect.any(String));

    setNow(T0 + 20_000);
    const second = await refreshOk(first.refresh_token);
    ({ tokens: rows } = await dump(session));
    expect(rows.map((r) => r.successor_sealed === null)).toEqual([true, false, true]);
    expectNoTokenStored(rows, [tokens.refresh_token, first.refresh_token, second.refresh_token]);
  });

  it('after the daily cleanup holds no sealed successor past the grace window and no usable token', async () => {
    setNow(T0);
    const { tokens } = await signedIn('residue');
    const session = sessionIdOf(tokens.access_token);
    const first = await refreshOk(tokens.refresh_token);
    // The session then goes idle: no next rotation will erase the last seal.
    await cleanup(env, T0 + 11_000);
    const { tokens: rows, session: sessionRow } = await dump(session);
    for (const row of rows) expect(row.successor_sealed).toBeNull();
    expectNoTokenStored([...rows, sessionRow!], [tokens.refresh_token, first.refresh_token]);
    // The live token still works, and the spent one is still recognised as reuse.
    setNow(T0 + 12_000);
    const next = await refreshOk(first.refresh_token);
    expect(next.refresh_token).not.toBe(first.refresh_token);
  });

  it('prunes spent token rows whose refresh lifetime is over, and keeps the live one', async () => {
    setNow(T0);
    const { tokens } = await signedIn('residue');
    const session = sessionIdOf(tokens.access_token);
    let current = tokens.refresh_token;
    // Keep the session alive with a rotation every 20 days; the first tokens expire meanwhile.
    for (let day = 20; day <= 60; day += 20) {
      setNow(T0 + day * DAY);
      current = (await refreshOk(current)).refresh_token;
    }
    expect((await dump(session)).tokens).toHaveLength(4);
    const summary = await cleanup(env, T0 + 60 * DAY + 1_000);
    expect(summary.spentTokens).toBeGreaterThanOrEqual(2);
    const { tokens: rows } = await dump(session);
    // Issued at days 0 and 20 (expired at 30 and 50): gone. Spent at 60, and the live one: kept.
    expect(rows).toHaveLength(2);
    expect(rows.filter((r) => r.rotated_at === null)).toHaveLength(1);
    setNow(T0 + 60 * DAY + 2_000);
    await refreshOk(current);
  });
});
