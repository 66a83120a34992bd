/**
 * /auth/passkeys/*: passkeys (WebAuthn). Three ceremonies, each an options call and a verify
 * call (register to a signed-in account, sign in, sign up), and the caller's list of passkeys.
 * The service lives in src/passkeys/.
 */
import type { Context } from 'hono';
import * as z from 'zod/mini';
import type { AppEnv } from '../../platform/env';
import { requireAuth } from '../middleware/auth';
import { sessionProof } from '../middleware/dpop';
import { notifier, requestLog } from '../middleware/context';
import { createRouter, defineRoute } from '../routing';
import type { Tag } from '../tags';
import { json, newPasswordSchema, passwordSchema, problem, tokenResponseSchema, usernameSchema } from '../schemas';
import { deliverySchema, tokenResponse } from './auth';
import { relyingParty } from '../../passkeys/relying-party';
import { finishRegistration, finishSignUp, startRegistration, startSignUp } from '../../passkeys/registration';
import { finishSignIn, startSignIn } from '../../passkeys/sign-in';
import { addPassword, listPasskeys, removeOwnPasskey, renameOwnPasskey } from '../../passkeys/management';
import { toPublicPasskey } from '../../passkeys/store';

const tags: Tag[] = ['passkeys'];

// --- schemas: the WebAuthn JSON forms (Level 3 §5.1.8-9, toJSON()), as far as the service reads them ---

const base64url = (max: number) =>
  z.string().check(z.minLength(1), z.maxLength(max), z.regex(/^[A-Za-z0-9_-]+$/, 'must be base64url'));
const credentialId = base64url(1400).check(z.meta({ description: 'The credential id, base64url' }));

const registrationResponse = z
  .object({
    id: credentialId,
    rawId: credentialId,
    type: z.literal('public-key'),
    response: z.object({
      clientDataJSON: base64url(4096),
      attestationObject: base64url(12_000),
      transports: z.optional(z.array(z.string().check(z.maxLength(32))).check(z.maxLength(10))),
    }),
  })
  .check(z.meta({ description: 'What `PublicKeyCredential.toJSON()` gives for `navigator.credentials.create()`' }));

export const authenticationResponse = z
  .object({
    id: credentialId,
    rawId: credentialId,
    type: z.literal('public-key'),
    response: z.object({
      clientDataJSON: base64url(4096),
      authenticatorData: base64url(4096),
      signature: base64url(1024),
      userHandle: z.optional(z.nullable(base64url(128))),
    }),
  })
  .check(z.meta({ description: 'What `PublicKeyCredential.toJSON()` gives for `navigator.credentials.get()`' }));

const descriptor = z.object({
  type: z.literal('public-key'),
  id: z.string(),
  transports: z.optional(z.array(z.string())),
});

const creationOptions = z
  .object({
    rp: z.object({ id: z.string(), name: z.string() }),
    user: z.object({
      id: z.string().check(z.meta({ description: 'The user handle, base64url' })),
      name: z.string(),
      displayName: z.string(),
    }),
    challenge: z.string().check(z.meta({ description: 'base64url; usable once, for five minutes' })),
    pubKeyCredParams: z.array(z.object({ type: z.literal('public-key'), alg: z.number().check(z.int()) })),
    timeout: z.number().check(z.int()),
    excludeCredentials: z.array(descriptor),
    authenticatorSelection: z.object({
      residentKey: z.literal('required'),
      requireResidentKey: z.literal(true),
      userVerification: z.literal('required'),
    }),
    attestation: z.literal('none'),
  })
  .check(
    z.meta({
      description:
        '`PublicKeyCredentialCreationOptionsJSON`: pass it to `PublicKeyCredential.parseCreationOptionsFromJSON()`, then to `navigator.credentials.create({ publicKey })`',
    }),
  );

const requestOptions = z
  .object({
    challenge: z.string().check(z.meta({ description: 'base64url; usable once, for five minutes' })),
    rpId: z.string(),
    timeout: z.number().check(z.int()),
    userVerification: z.literal('required'),
    allowCredentials: z
      .optional(z.array(descriptor))
      .check(z.meta({ description: 'The named user’s passkeys; absent for a sign-in without a username' })),
  })
  .check(
    z.meta({
      description:
        '`PublicKeyCredentialRequestOptionsJSON`: pass it to `PublicKeyCredential.parseRequestOptionsFromJSON()`, then to `navigator.credentials.get({ publicKey })`',
    }),
  );

const passkeyName = z.string().check(z.trim(), z.minLength(1), z.maxLength(64));

const passkeySchema = z.object({
  id: z.string().check(z.meta({ description: 'The credential id, base64url' })),
  name: z.string(),
  created_at: z.iso.datetime(),
  last_used_at: z.nullable(z.iso.datetime()),
  backed_up: z
    .boolean()
    .check(z.meta({ description: 'Whether the passkey is backed up (synced), as of its last use' })),
  device_type: z.enum(['multi_device', 'single_device']).check(
    z.meta({
      description:
        '`multi_device`: a synced passkey (a password manager, a platform account); `single_device`: bound to one authenticator',
    }),
  ),
  transports: z.array(z.string()),
});

const idParam = z.object({ id: credentialId });

const ceremonyProblems = {
  400: problem(
    'Refused: `invalid_passkey_challenge` (unknown, expired or used), `passkey_origin_mismatch`, `passkey_rp_id_mismatch`, `passkey_user_not_verified` (no PIN or biometric), `invalid_passkey` (malformed, wrong ceremony, bad signature or key), `validation_failed`',
  ),
  500: problem('WEBAUTHN_RP_ID is not set, or a loopback address other than localhost (`misconfigured`)'),
};

const unauthorized = problem('No or invalid access token');

// --- routes ---

export const registerOptionsRoute = defineRoute({
  method: 'post',
  path: '/auth/passkeys/register/options',
  middleware: [requireAuth()],
  request: {
    body: z.object({
      current_password: z
        .optional(passwordSchema)
        .check(z.meta({ description: 'Required when the account has a password' })),
      code: z
        .optional(z.string().check(z.minLength(1), z.maxLength(64)))
        .check(z.meta({ description: 'Required when two-factor is on' })),
    }),
    bodyOptional: true,
  },
  docs: API_DOCS && {
    operationId: 'passkeyRegisterOptions',
    tags,
    summary: 'Start adding a passkey to the caller’s account: the options for navigator.credentials.create()',
    description:
      'Needs the same proof as other credential changes: `current_password`, plus `code` (TOTP or recovery code) when two-factor is on. An account without a password (made with a passkey) sends neither: it needs a passkey sign-in in the last five minutes. The challenge is bound to the caller and works once, for five minutes.',
    bearer: true,
    example: { current_password: 'correct horse battery staple' },
    responses: {
      200: json(creationOptions, 'The options'),
      400: problem('A missing `current_password` or `code` (`validation_failed`)'),
      401: problem(
        'Wrong current password (`invalid_credentials`), wrong code (`invalid_mfa_code`), or no or invalid access token',
      ),
      403: problem(
        'An account without a password and no passkey sign-in in the last five minutes (`reauthentication_required`)',
      ),
      409: problem('The account holds ten passkeys (`passkey_limit_reached`)'),
      429: problem('Too many wrong passwords or codes (`too_many_attempts`)'),
      500: ceremonyProblems[500],
    },
  },
});

export const registerVerifyRoute = defineRoute({
  method: 'post',
  path: '/auth/passkeys/register/verify',
  middleware: [requireAuth()],
  request: {
    body: z.object({ credential: registrationResponse, name: z.optional(passkeyName) }),
  },
  docs: API_DOCS && {
    operationId: 'passkeyRegisterVerify',
    tags,
    summary: 'Finish adding a passkey: verify the browser’s response and store the passkey',
    description:
      'Send what `navigator.credentials.create()` gave, as JSON (`credential.toJSON()`), and optionally a `name` (default “Passkey”). The passkey must verify the user (PIN or biometric).',
    bearer: true,
    example: {
      credential: {
        id: 'AQIDBA',
        rawId: 'AQIDBA',
        type: 'public-key',
        response: { clientDataJSON: 'eyJ0eXBlIjoi', attestationObject: 'o2NmbXRk', transports: ['internal'] },
      },
      name: 'Laptop',
    },
    responses: {
      201: json(z.object({ passkey: passkeySchema }), 'The new passkey'),
      400: ceremonyProblems[400],
      401: unauthorized,
      409: problem('Registered already (`passkey_already_registered`), or ten passkeys (`passkey_limit_reached`)'),
      500: ceremonyProblems[500],
    },
  },
});

const signInProblems = {
  401: problem(
    'Refused: `unknown_passkey` (not registered, removed, or another account’s), `invalid_passkey_challenge`, `passkey_origin_mismatch`, `passkey_rp_id_mismatch`, `passkey_user_not_verified`, `passkey_counter_regressed` (a cloned authenticator?), `invalid_passkey`',
  ),
  429: problem('Too many attempts from this address (`too_many_attempts`), see Retry-After'),
};

export const signInOptionsRoute = defineRoute({
  method: 'post',
  path: '/auth/passkeys/sign-in/options',
  request: {
    body: z.object({ username: z.optional(usernameSchema) }),
    bodyOptional: true,
  },
  docs: API_DOCS && {
    operationId: 'passkeySignInOptions',
    tags,
    summary: 'Start a passkey sign-in: the options for navigator.credentials.get()',
    description:
      'Without a body (or a `username`), a sign-in without a username: the browser offers every passkey of this service on the device, or, with `mediation: "conditional"`, in the username field’s autofill. With a `username`, the options list that user’s passkeys and only they are accepted.',
    example: { username: 'alice' },
    responses: {
      200: json(requestOptions, 'The options'),
      429: problem('Too many sign-ins started from this address (`too_many_attempts`), see Retry-After'),
      500: ceremonyProblems[500],
    },
  },
});

export const signInVerifyRoute = defineRoute({
  method: 'post',
  path: '/auth/passkeys/sign-in/verify',
  request: {
    body: z.object({ credential: authenticationResponse, refresh_token_delivery: deliverySchema }),
  },
  docs: API_DOCS && {
    operationId: 'passkeySignInVerify',
    tags,
    summary: 'Finish a passkey sign-in: the same tokens as login',
    description:
      'Send what `navigator.credentials.get()` gave, as JSON. The answer is the login’s, in the delivery asked for. A passkey verifies the user, so it counts as two factors: a user with two-factor on is not asked for a code. Attempts are throttled per address like logins. A `DPoP` proof binds the session, as at login.',
    example: {
      credential: {
        id: 'AQIDBA',
        rawId: 'AQIDBA',
        type: 'public-key',
        response: {
          clientDataJSON: 'eyJ0eXBlIjoi',
          authenticatorData: 'SZYN5YgO',
          signature: 'MEUCIQ',
          userHandle: 'dXNlcg',
        },
      },
      refresh_token_delivery: 'cookie',
    },
    responses: {
      200: json(tokenResponseSchema, 'Tokens and the user, as from login'),
      400: problem('`invalid_dpop_proof` or `use_dpop_nonce`'),
      ...signInProblems,
      500: ceremonyProblems[500],
    },
  },
});

export const signUpOptionsRoute = defineRoute({
  method: 'post',
  path: '/auth/passkeys/sign-up/options',
  request: { body: z.object({ username: usernameSchema }) },
  docs: API_DOCS && {
    operationId: 'passkeySignUpOptions',
    tags,
    summary: 'Start creating an account with a passkey and no password: the options for navigator.credentials.create()',
    description:
      'The username must be free. Counts against the address’s registrations like `register`. The account exists only once the response verifies.',
    example: { username: 'alice' },
    responses: {
      200: json(creationOptions, 'The options'),
      409: problem('Username taken (`username_taken`)'),
      429: problem('Too many registrations from this address (`too_many_registrations`), see Retry-After'),
      500: ceremonyProblems[500],
    },
  },
});

export const signUpVerifyRoute = defineRoute({
  method: 'post',
  path: '/auth/passkeys/sign-up/verify',
  request: {
    body: z.object({
      credential: registrationResponse,
      name: z.optional(passkeyName),
      refresh_token_delivery: deliverySchema,
    }),
  },
  docs: API_DOCS && {
    operationId: 'passkeySignUpVerify',
    tags,
    summary: 'Finish creating an account with a passkey: the user, the passkey and a session, as from login',
    description:
      'Creates the user (role `user`, no password), stores the passkey and signs in, all or nothing. The account can add a password later (POST /auth/password/add) and more passkeys. A `DPoP` proof binds the session, as at login.',
    example: {
      credential: {
        id: 'AQIDBA',
        rawId: 'AQIDBA',
        type: 'public-key',
        response: { clientDataJSON: 'eyJ0eXBlIjoi', attestationObject: 'o2NmbXRk', transports: ['internal'] },
      },
      refresh_token_delivery: 'cookie',
    },
    responses: {
      201: json(tokenResponseSchema, 'Tokens and the new user, as from login'),
      400: problem(`${ceremonyProblems[400].description}, \`invalid_dpop_proof\` or \`use_dpop_nonce\``),
      409: problem(
        'Username taken meanwhile (`username_taken`), or the passkey is registered already (`passkey_already_registered`)',
      ),
      500: ceremonyProblems[500],
    },
  },
});

export const listPasskeysRoute = defineRoute({
  method: 'get',
  path: '/auth/passkeys',
  middleware: [requireAuth()],
  docs: API_DOCS && {
    operationId: 'listPasskeys',
    tags,
    summary: 'The caller’s passkeys',
    description:
      'Oldest first, with whether the account has a password (an account made with a passkey has none until it adds one; it then cannot remove its last passkey).',
    bearer: true,
    responses: {
      200: json(
        z.object({
          passkeys: z.array(passkeySchema),
          password: z.boolean().check(z.meta({ description: 'Whether the account has a password' })),
        }),
        'The passkeys',
      ),
      401: unauthorized,
    },
  },
});

export const renamePasskeyRoute = defineRoute({
  method: 'patch',
  path: '/auth/passkeys/{id}',
  middleware: [requireAuth()],
  request: { params: idParam, body: z.object({ name: passkeyName }) },
  docs: API_DOCS && {
    operationId: 'renamePasskey',
    tags,
    summary: 'Rename one of the caller’s passkeys',
    description: 'The name is the caller’s label for it (“Work laptop”); 1 to 64 characters.',
    bearer: true,
    example: { name: 'Work laptop' },
    responses: {
      200: json(z.object({ passkey: passkeySchema }), 'The renamed passkey'),
      401: unauthorized,
      404: problem('The caller has no passkey with that id'),
    },
  },
});

export const removePasskeyRoute = defineRoute({
  method: 'delete',
  path: '/auth/passkeys/{id}',
  middleware: [requireAuth()],
  request: {
    params: idParam,
    body: z.object({ current_password: z.optional(passwordSchema) }),
    bodyOptional: true,
  },
  docs: API_DOCS && {
    operationId: 'removePasskey',
    tags,
    summary: 'Remove one of the caller’s passkeys; it no longer signs in',
    description:
      'Needs a sign-in in the last five minutes, or `current_password`. An account without a password cannot remove its last passkey.',
    bearer: true,
    example: { current_password: 'correct horse battery staple' },
    responses: {
      204: { description: 'Removed' },
      401: problem('Wrong current password (`invalid_credentials`), or no or invalid access token'),
      403: problem('No sign-in in the last five minutes and no `current_password` (`reauthentication_required`)'),
      404: problem('The caller has no passkey with that id'),
      409: problem('The last passkey of an account without a password (`last_passkey`)'),
      429: problem('Too many wrong passwords (`too_many_attempts`)'),
    },
  },
});

export const addPasswordRoute = defineRoute({
  method: 'post',
  path: '/auth/password/add',
  middleware: [requireAuth()],
  request: {
    body: z.object({ new_password: newPasswordSchema }),
    newPasswords: ['new_password'],
  },
  docs: API_DOCS && {
    operationId: 'addPassword',
    tags,
    summary: 'Give an account made with a passkey its first password',
    description:
      'For an account without a password only, after a passkey sign-in in the last five minutes. An account with a password changes it with POST /auth/password.',
    bearer: true,
    example: { new_password: 'a-new-and-unusual-passphrase' },
    responses: {
      204: { description: 'The account has a password now' },
      400: problem('Invalid new password (`validation_failed`, `password_too_common`)'),
      401: unauthorized,
      403: problem('No passkey sign-in in the last five minutes (`reauthentication_required`)'),
      409: problem('The account has a password already (`password_already_set`)'),
    },
  },
});

/** The caller as the proof and the audit lines need them. */
const caller = (c: Context<AppEnv>) => ({
  user: c.get('user'),
  sessionId: c.get('claims').sid,
  log: requestLog(c),
  notify: notifier(c),
});
const rp = (c: Context<AppEnv>) => relyingParty(c.get('config'), c.req.url);

export const passkeysRouter = createRouter()
  .route(registerOptionsRoute, async (c) => {
    const body = c.req.valid('json');
    const options = await startRegistration(
      c.get('db'),
      c.get('config'),
      rp(c),
      caller(c),
      {
        currentPassword: body.current_password,
        code: body.code,
        legacyHashes: c.env.LEGACY_HASHES,
        notify: notifier(c),
      },
      Date.now(),
    );
    return c.json(options, 200);
  })
  .route(registerVerifyRoute, async (c) => {
    const { credential, name } = c.req.valid('json');
    const passkey = await finishRegistration(c.get('db'), rp(c), caller(c), { response: credential, name }, Date.now());
    return c.json({ passkey: toPublicPasskey(passkey) }, 201);
  })
  .route(signInOptionsRoute, async (c) => {
    const username = c.req.valid('json').username;
    const options = await startSignIn(
      c.get('db'),
      c.get('config'),
      rp(c),
      { username, ip: c.get('clientIp') },
      Date.now(),
    );
    return c.json(options, 200);
  })
  .route(signInVerifyRoute, async (c) => {
    const { credential, refresh_token_delivery } = c.req.valid('json');
    const result = await finishSignIn(
      c.get('db'),
      c.get('config'),
      rp(c),
      { response: credential, userAgent: c.req.header('User-Agent'), dpop: await sessionProof(c) },
      requestLog(c),
      Date.now(),
    );
    return c.json(await tokenResponse(c, result.user, result.session, refresh_token_delivery), 200);
  })
  .route(signUpOptionsRoute, async (c) => {
    const { username } = c.req.valid('json');
    const options = await startSignUp(
      c.get('db'),
      c.get('config'),
      rp(c),
      { username, ip: c.get('clientIp') },
      Date.now(),
    );
    return c.json(options, 200);
  })
  .route(signUpVerifyRoute, async (c) => {
    const { credential, name, refresh_token_delivery } = c.req.valid('json');
    const result = await finishSignUp(
      c.get('db'),
      c.get('config'),
      rp(c),
      { response: credential, name, userAgent: c.req.header('User-Agent'), dpop: await sessionProof(c) },
      requestLog(c),
      Date.now(),
    );
    return c.json(await tokenResponse(c, result.user, result.session, refresh_token_delivery), 201);
  })
  .route(listPasskeysRoute, async (c) => {
    const { passkeys, password } = await listPasskeys(c.get('db'), c.get('user').id);
    return c.json({ passkeys: passkeys.map(toPublicPasskey), password }, 200);
  })
  .route(renamePasskeyRoute, async (c) => {
    const passkey = await renameOwnPasskey(c.get('db'), caller(c), c.req.valid('param').id, c.req.valid('json').name);
    return c.json({ passkey: toPublicPasskey(passkey) }, 200);
  })
  .route(removePasskeyRoute, async (c) => {
    const body = c.req.valid('json');
    await removeOwnPasskey(
      c.get('db'),
      c.get('config'),
      caller(c),
      c.req.valid('param').id,
      { currentPassword: body.current_password, legacyHashes: c.env.LEGACY_HASHES, notify: notifier(c) },
      Date.now(),
    );
    return c.body(null, 204);
  })
  .route(addPasswordRoute, async (c) => {
    await addPassword(c.get('db'), c.get('config'), caller(c), c.req.valid('json').new_password, Date.now());
    return c.body(null, 204);
  });
