/**
 * DPoP (RFC 9449) for edge-auth/client: one ES256 key per service, made with WebCrypto as
 * non-extractable (its private half can sign but never be read, not even by this script), and a
 * proof signed for each call. A session begun with a proof is bound to the key, so its tokens,
 * copied anywhere else, are useless.
 *
 * The key lives in IndexedDB in browsers (a CryptoKey is stored as itself, still
 * non-extractable), so a reload can continue the session; elsewhere (Node, Workers) in memory,
 * for the life of the client.
 */

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array | ArrayBuffer): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = '';
  for (const b of view) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

const part = (value: object) => base64url(encoder.encode(JSON.stringify(value)));

const generate = () =>
  crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
    'verify',
  ]) as Promise<CryptoKeyPair>;

const DATABASE = 'edge-auth-dpop';
const STORE = 'keys';

/**
 * The little of IndexedDB used here, typed by hand: this source is also type-checked without
 * the DOM library (for Workers and Node), as `isBrowser` in index.ts is.
 */
type IdbRequest<T> = { result: T; error: unknown; onsuccess: (() => void) | null; onerror: (() => void) | null };
type IdbStore = { get(key: string): IdbRequest<unknown>; add(value: unknown, key: string): IdbRequest<unknown> };
type IdbDatabase = {
  createObjectStore(name: string): unknown;
  transaction(name: string, mode: 'readonly' | 'readwrite'): { objectStore(name: string): IdbStore };
  close(): void;
};
type IdbFactory = {
  open(name: string, version: number): IdbRequest<IdbDatabase> & { onupgradeneeded: (() => void) | null };
};

/** One request against the key store; the database is opened per use (a key is read once per page). */
function inStore<T>(idb: IdbFactory, mode: 'readonly' | 'readwrite', run: (store: IdbStore) => IdbRequest<unknown>) {
  return new Promise<T>((resolve, reject) => {
    const open = idb.open(DATABASE, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      try {
        const request = run(db.transaction(STORE, mode).objectStore(STORE));
        request.onsuccess = () => resolve(request.result as T);
        request.onerror = () => reject(request.error);
      } catch (err) {
        reject(err);
      } finally {
        db.close(); // Takes effect once the transaction is done.
      }
    };
  });
}

/**
 * The service's key pair: the stored one, or a new one stored with `add`, so of two tabs making
 * one at the same moment, both end up with the first one stored. Without IndexedDB (Node,
 * Workers, some private windows) a key in memory.
 */
async function loadKeyPair(id: string): Promise<CryptoKeyPair> {
  const idb = (globalThis as { indexedDB?: IdbFactory }).indexedDB;
  if (!idb) return generate();
  try {
    const stored = await inStore<CryptoKeyPair | undefined>(idb, 'readonly', (s) => s.get(id));
    if (stored) return stored;
    const made = await generate();
    try {
      await inStore(idb, 'readwrite', (s) => s.add(made, id));
      return made;
    } catch {
      return (await inStore<CryptoKeyPair | undefined>(idb, 'readonly', (s) => s.get(id))) ?? made;
    }
  } catch {
    return generate();
  }
}

export type DpopProofs = {
  /** A proof for a request (`ath` when it carries `accessToken`), with the latest server nonce. */
  proof(method: string, url: string, accessToken?: string): Promise<string>;
  /** Keeps the `DPoP-Nonce` an answer carries, for the next proofs. */
  observe(response: Response): void;
  /** Whether an answer asks for a proof with the server's nonce (`use_dpop_nonce`): retry once. */
  wantsNonce(response: Response): Promise<boolean>;
};

export function createDpopProofs(baseUrl: string): DpopProofs {
  let keys: Promise<{ privateKey: CryptoKey; header: string }> | null = null;
  let nonce: string | null = null;

  const signer = () =>
    (keys ??= loadKeyPair(new URL(baseUrl).href).then(async (pair) => {
      const { kty, crv, x, y } = (await crypto.subtle.exportKey('jwk', pair.publicKey)) as JsonWebKey;
      return { privateKey: pair.privateKey, header: part({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } }) };
    }));

  return {
    async proof(method, url, accessToken) {
      const { privateKey, header } = await signer();
      const target = new URL(url);
      target.search = '';
      target.hash = '';
      const claims = {
        jti: base64url(crypto.getRandomValues(new Uint8Array(16))),
        htm: method,
        htu: target.href,
        iat: Math.floor(Date.now() / 1000),
        ...(accessToken ? { ath: base64url(await crypto.subtle.digest('SHA-256', encoder.encode(accessToken))) } : {}),
        ...(nonce ? { nonce } : {}),
      };
      const input = `${header}.${part(claims)}`;
      // WebCrypto's ECDSA signature is r || s, the form JWS (RFC 7518 §3.4) wants.
      const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, encoder.encode(input));
      return `${input}.${base64url(signature)}`;
    },
    observe(response) {
      nonce = response.headers.get('DPoP-Nonce') ?? nonce;
    },
    async wantsNonce(response) {
      if ((response.status !== 400 && response.status !== 401) || !response.headers.has('DPoP-Nonce')) return false;
      if (/\berror="use_dpop_nonce"/.test(response.headers.get('WWW-Authenticate') ?? '')) return true;
      try {
        return ((await response.clone().json()) as { code?: unknown }).code === 'use_dpop_nonce';
      } catch {
        return false;
      }
    },
  };
}
