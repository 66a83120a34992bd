/**
 * The floor edge-auth is measured against: a bare Hono Worker doing only the work each
 * route cannot avoid, and nothing else (no validation library, no ORM, no throttling, no
 * audit, no error documents).
 *
 *   GET  /protected  hono/jwt verify + one SELECT by id
 *   POST /login      one read, PBKDF2-SHA256 (100,000 iterations), one session-row insert
 *   POST /register   PBKDF2 + one insert
 *
 * Hashes use edge-auth's `$pbkdf2-sha256$i=...$salt$hash` format, so both verify the same
 * seeded users.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { jwt, sign } from 'hono/jwt';

type Env = { Bindings: { DB: D1Database; JWT_SECRET: string } };

const ITERATIONS = 100_000;
const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
const fromB64url = (s: string) =>
  Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

async function pbkdf2(password: string, salt: Uint8Array<ArrayBuffer>, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(password), 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(
    await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, 256),
  );
}

async function verify(password: string, stored: string): Promise<boolean> {
  const [, , params = '', salt = '', hash = ''] = stored.split('$');
  const actual = await pbkdf2(password, fromB64url(salt), Number(params.slice(2)));
  const expected = fromB64url(hash);
  let diff = actual.length ^ expected.length;
  for (let i = 0; i < actual.length; i++) diff |= actual[i]! ^ (expected[i] ?? 0);
  return diff === 0;
}

const app = new Hono<Env>();

app.get('/health', (c) => c.json({ status: 'ok' }));

app.post('/register', async (c) => {
  const { username, password } = await c.req.json<{ username: string; password: string }>();
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = `$pbkdf2-sha256$i=${ITERATIONS}$${b64url(salt)}$${b64url(await pbkdf2(password, salt, ITERATIONS))}`;
  const now = Date.now();
  const id = crypto.randomUUID();
  await c.env.DB.prepare(
    'INSERT INTO users (id, username, username_key, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
  )
    .bind(id, username, username.toLowerCase(), hash, now, now)
    .run();
  return c.json({ user: { id, username } }, 201);
});

app.post('/login', async (c) => {
  const { username, password } = await c.req.json<{ username: string; password: string }>();
  const user = await c.env.DB.prepare('SELECT id, password_hash, role FROM users WHERE username_key = ?')
    .bind(username.toLowerCase())
    .first<{ id: string; password_hash: string; role: string }>();
  if (!user || !(await verify(password, user.password_hash))) return c.json({ error: 'invalid_credentials' }, 401);
  const now = Date.now();
  const sid = crypto.randomUUID();
  await c.env.DB.prepare(
    'INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at) VALUES (?, ?, ?, ?, ?)',
  )
    .bind(sid, user.id, now, now, now + 30 * 86_400_000)
    .run();
  const iat = Math.floor(now / 1000);
  const token = await sign({ sub: user.id, sid, role: user.role, iat, exp: iat + 900 }, c.env.JWT_SECRET, 'HS256');
  return c.json({ access_token: token });
});

// The secret lives in env, so the middleware is made on the first request (Hono's documented way).
let requireJwt: MiddlewareHandler | undefined;
app.use('/protected', (c, next) => (requireJwt ??= jwt({ secret: c.env.JWT_SECRET, alg: 'HS256' }))(c, next));

app.get('/protected', async (c) => {
  const { sub } = c.get('jwtPayload') as { sub: string };
  const user = await c.env.DB.prepare('SELECT id, username, role, created_at FROM users WHERE id = ?')
    .bind(sub)
    .first();
  if (!user) return c.json({ error: 'invalid_token' }, 401);
  return c.json({ message: `Hello, ${String(user.username)}!`, user });
});

export default app;
