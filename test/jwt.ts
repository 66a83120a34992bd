/**
 * Hand-made JWTs for attack tests: written independently of src/ (no shared encoder), so a
 * bug there cannot hide itself by being on both sides of a test.
 */
const encoder = new TextEncoder();

export function b64url(data: string | Uint8Array | ArrayBuffer): string {
  const bytes =
    typeof data === 'string' ? encoder.encode(data) : data instanceof Uint8Array ? data : new Uint8Array(data);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export function fromB64url(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text.replaceAll('-', '+').replaceAll('_', '/')), (c) => c.charCodeAt(0));
}

/** Header (0) or payload (1) of a compact JWS, decoded. */
export function decodePart(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(fromB64url(token.split('.')[index]!))) as Record<string, unknown>;
}

/** `header.payload` exactly as given (a string part is used verbatim as JSON text). */
export function unsignedPart(header: unknown, payload: unknown): string {
  const text = (part: unknown) => (typeof part === 'string' ? part : JSON.stringify(part));
  return `${b64url(text(header))}.${b64url(text(payload))}`;
}

/** An HS256 JWS over exactly these parts, keyed with `secret`. */
export async function signHs256(
  header: unknown,
  payload: unknown,
  secret: string | Uint8Array<ArrayBuffer>,
): Promise<string> {
  const unsigned = unsignedPart(header, payload);
  const raw = typeof secret === 'string' ? encoder.encode(secret) : secret;
  const key = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return `${unsigned}.${b64url(await crypto.subtle.sign('HMAC', key, encoder.encode(unsigned)))}`;
}
