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
    create(options: {
        publicKey: unknown;
        signal?: AbortSignal;
    }): Promise<unknown>;
    get(options: {
        publicKey: unknown;
        mediation?: string;
        signal?: AbortSignal;
    }): Promise<unknown>;
};
/** The browser's credentials container, or an error that says passkeys are not available here. */
export declare function browserCredentials(): CredentialsContainerLike;
/** Whether the browser can offer passkeys in a field's autofill (`mediation: 'conditional'`). */
export declare function conditionalMediationAvailable(): Promise<boolean>;
/** PublicKeyCredentialCreationOptionsJSON -> the options navigator.credentials.create() takes. */
export declare function creationOptions(json: Json): unknown;
/** PublicKeyCredentialRequestOptionsJSON -> the options navigator.credentials.get() takes. */
export declare function requestOptions(json: Json): unknown;
/** A PublicKeyCredential as the JSON the service takes (RegistrationResponseJSON / AuthenticationResponseJSON). */
export declare function credentialJson(value: unknown): Json;
export {};
