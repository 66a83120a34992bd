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
const publicKeyCredential = () => globalThis.PublicKeyCredential;
/** The browser's credentials container, or an error that says passkeys are not available here. */
export function browserCredentials() {
    const container = globalThis.navigator?.credentials;
    if (!container || !publicKeyCredential()) {
        throw new Error('Passkeys need a browser with WebAuthn (navigator.credentials and PublicKeyCredential).');
    }
    return container;
}
/** Whether the browser can offer passkeys in a field's autofill (`mediation: 'conditional'`). */
export async function conditionalMediationAvailable() {
    try {
        return (await publicKeyCredential()?.isConditionalMediationAvailable?.()) === true;
    }
    catch {
        return false;
    }
}
function toBuffer(base64url) {
    const binary = atob(base64url.replace(/-/g, '+').replace(/_/g, '/'));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++)
        bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
}
function toBase64url(buffer) {
    const bytes = buffer instanceof ArrayBuffer
        ? new Uint8Array(buffer)
        : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    let binary = '';
    for (const byte of bytes)
        binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
const descriptors = (list) => list?.map((d) => ({ ...d, id: toBuffer(d.id) }));
/** PublicKeyCredentialCreationOptionsJSON -> the options navigator.credentials.create() takes. */
export function creationOptions(json) {
    const native = publicKeyCredential()?.parseCreationOptionsFromJSON;
    if (native)
        return native(json);
    const user = json.user;
    return {
        ...json,
        challenge: toBuffer(json.challenge),
        user: { ...user, id: toBuffer(user.id) },
        ...(json.excludeCredentials ? { excludeCredentials: descriptors(json.excludeCredentials) } : {}),
    };
}
/** PublicKeyCredentialRequestOptionsJSON -> the options navigator.credentials.get() takes. */
export function requestOptions(json) {
    const native = publicKeyCredential()?.parseRequestOptionsFromJSON;
    if (native)
        return native(json);
    return {
        ...json,
        challenge: toBuffer(json.challenge),
        ...(json.allowCredentials ? { allowCredentials: descriptors(json.allowCredentials) } : {}),
    };
}
/** A PublicKeyCredential as the JSON the service takes (RegistrationResponseJSON / AuthenticationResponseJSON). */
export function credentialJson(value) {
    const credential = value;
    if (typeof credential.toJSON === 'function')
        return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
        response.attestationObject = toBase64url(r.attestationObject);
        response.transports = r.getTransports?.() ?? [];
    }
    else {
        response.authenticatorData = toBase64url(r.authenticatorData);
        response.signature = toBase64url(r.signature);
        if (r.userHandle)
            response.userHandle = toBase64url(r.userHandle);
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
