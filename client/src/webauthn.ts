/**
 * The browser's side of a passkey ceremony: the service's JSON options in, the credential out
 * as JSON. Where the browser has the WebAuthn Level 3 JSON helpers
 * (`PublicKeyCredential.parseCreationOptionsFromJSON`, `parseRequestOptionsFromJSON`,
 * `credential.toJSON()`), they are used; elsewhere a small fallback converts the few binary
 * fields (base64url <-> ArrayBuffer), so no WebAuthn library is needed.
 *
 * Written against the globals by name, not the DOM library's types, because the same source
 * is type-checked for Node and Workers, which have no WebAuthn.
 */

type Json = Record<string, unknown>;

/** The part of `navigator.credentials` a ceremony uses (pass your own to the client, e.g. in tests). */
export type CredentialsContainerLike = {
  create(options: { publicKey: unknown; signal?: AbortSignal }): Promise<unknown>;
  get(options: { publicKey: unknown; mediation?: string; signal?: AbortSignal }): Promise<unknown>;
};

type Static = {
  parseCreationOptionsFromJSON?: (json: unknown) => unknown;
  parseRequestOptionsFromJSON?: (json: unknown) => unknown;
  isConditionalMediationAvailable?: () => Promise<boolean>;
};

const publicKeyCredential = (): Static | undefined =>
  (globalThis as { PublicKeyCredential?: Static }).PublicKeyCredential;

/** The browser's credentials container, or an error that says passkeys are not available here. */
export function browserCredentials(): CredentialsContainerLike {
  const container = (globalThis as { navigator?: { credentials?: CredentialsContainerLike } }).navigator?.credentials;
  if (!container || !publicKeyCredential()) {
    throw new Error('Passkeys need a browser with WebAuthn (navigator.credentials and PublicKeyCredential).');
  }
  return container;
}

/** Whether the browser can offer passkeys in a field's autofill (`mediation: 'conditional'`). */
export async function conditionalMediationAvailable(): Promise<boolean> {
  try {
    return (await publicKeyCredential()?.isConditionalMediationAvailable?.()) === true;
  } catch {
    return false;
  }
}

function toBuffer(base64url: string): ArrayBuffer {
  const binary = atob(base64url.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

function toBase64url(buffer: ArrayBuffer | ArrayBufferView): string {
  const bytes =
    buffer instanceof ArrayBuffer
      ? new Uint8Array(buffer)
      : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const descriptors = (list: unknown) =>
  (list as Json[] | undefined)?.map((d) => ({ ...d, id: toBuffer(d.id as string) }));

/** PublicKeyCredentialCreationOptionsJSON -> the options navigator.credentials.create() takes. */
export function creationOptions(json: Json): unknown {
  const native = publicKeyCredential()?.parseCreationOptionsFromJSON;
  if (native) return native(json);
  const user = json.user as Json;
  return {
    ...json,
    challenge: toBuffer(json.challenge as string),
    user: { ...user, id: toBuffer(user.id as string) },
    ...(json.excludeCredentials ? { excludeCredentials: descriptors(json.excludeCredentials) } : {}),
  };
}

/** PublicKeyCredentialRequestOptionsJSON -> the options navigator.credentials.get() takes. */
export function requestOptions(json: Json): unknown {
  const native = publicKeyCredential()?.parseRequestOptionsFromJSON;
  if (native) return native(json);
  return {
    ...json,
    challenge: toBuffer(json.challenge as string),
    ...(json.allowCredentials ? { allowCredentials: descriptors(json.allowCredentials) } : {}),
  };
}

type CredentialLike = {
  id: string;
  rawId: ArrayBuffer;
  type: string;
  authenticatorAttachment?: string | null;
  getClientExtensionResults?: () => unknown;
  toJSON?: () => unknown;
  response: {
    clientDataJSON: ArrayBuffer;
    attestationObject?: ArrayBuffer;
    getTransports?: () => string[];
    authenticatorData?: ArrayBuffer;
    signature?: ArrayBuffer;
    userHandle?: ArrayBuffer | null;
  };
};

/** A PublicKeyCredential as the JSON the service takes (RegistrationResponseJSON / AuthenticationResponseJSON). */
export function credentialJson(value: unknown): Json {
  const credential = value as CredentialLike;
  if (typeof credential.toJSON === 'function') return credential.toJSON() as Json;
  const r = credential.response;
  const response: Json = { clientDataJSON: toBase64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toBase64url(r.attestationObject);
    response.transports = r.getTransports?.() ?? [];
  } else {
    response.authenticatorData = toBase64url(r.authenticatorData!);
    response.signature = toBase64url(r.signature!);
    if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
  }
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment ?? null,
    clientExtensionResults: credential.getClientExtensionResults?.() ?? {},
    response,
  };
}
