/** /auth/mfa/*: TOTP enrolment, the second step of a login, recovery codes. */
import * as z from 'zod/mini';
import { requireAuth } from '../middleware/auth';
import { sessionProof } from '../middleware/dpop';
import { notifier, requestLog } from '../middleware/context';
import type { Tag } from '../tags';
import { createRouter, defineRoute } from '../routing';
import { currentPasswordSchema, json, problem, tokenResponseSchema } from '../schemas';
import {
  confirmTotpEnrolment,
  disableTotp,
  regenerateRecoveryCodes,
  startTotpEnrolment,
  verifyLoginChallenge,
} from '../../two-factor/mfa';
import { tokenResponse } from './auth';

const tags: Tag[] = ['two-factor'];
const code = z
  .string()
  .check(z.minLength(1), z.maxLength(64), z.meta({ example: '123456', description: 'A TOTP code' }));
const codeOrRecovery = z
  .string()
  .check(
    z.minLength(1),
    z.maxLength(64),
    z.meta({ example: '123456', description: 'A current TOTP code, or one of the recovery codes' }),
  );
const recoveryCodes = z.object({
  recovery_codes: z.array(z.string()).check(z.meta({ description: 'Shown this once; each works once' })),
});
const misconfigured = problem(
  'DATA_ENCRYPTION_KEY is not set (`misconfigured`; the detail names it on loopback only, the log always)',
);
const unauthorized = problem('No or invalid access token');
const tooMany = problem('Too many wrong codes for this user (`too_many_attempts`), see Retry-After');
const legacyHashUnavailable = problem(
  'The user was imported from Flask with a hash only the companion Worker can check, and it is not configured or failed (`legacy_hash_unavailable`); docs/flask.md',
);
/** Changing a second factor: the current password, then a code. */
const reauthentication = z.object({ current_password: currentPasswordSchema, code: codeOrRecovery });
const reauthenticationExample = { current_password: 'correct horse battery staple', code: '123456' };
const reauthenticationRefused = problem(
  'Wrong current password (`invalid_credentials`), wrong code (`invalid_mfa_code`), or no or invalid access token',
);
const reauthenticationTooMany = problem(
  'Too many wrong passwords (the login throttle) or wrong codes for this user (`too_many_attempts`), see Retry-After',
);
const mfaLocked = problem(
  'After MFA_MAX_CONSECUTIVE_FAILURES wrong codes in a row, TOTP codes are refused (`mfa_locked`) until a recovery code is used or an admin resets two-factor; the owner is told by mail',
);

export const enrolTotpRoute = defineRoute({
  method: 'post',
  path: '/auth/mfa/totp',
  middleware: [requireAuth()],
  request: {
    body: z.object({ current_password: currentPasswordSchema }),
  },
  docs: API_DOCS && {
    operationId: 'enrolTotp',
    tags,
    summary: 'Start TOTP enrolment: a new secret, pending until confirmed (calling again replaces it)',
    description:
      'Needs the current password. Returns a new TOTP secret and its otpauth URI (show it as a QR code). Two-factor is not on until POST /auth/mfa/totp/confirm proves the app has it.',
    bearer: true,
    example: { current_password: 'correct horse battery staple' },
    responses: {
      200: json(
        z.object({
          secret: z.string().check(z.meta({ description: 'Base32, for typing into an authenticator app' })),
          otpauth_uri: z
            .string()
            .check(z.meta({ description: 'otpauth://totp/<ISSUER>:<username>?secret=…&issuer=…, for a QR code' })),
        }),
        'The pending secret',
      ),
      400: problem('Invalid input (`validation_failed`): `current_password` is required'),
      401: problem('Wrong current password (`invalid_credentials`), or no or invalid access token'),
      409: problem('TOTP is already enabled (`mfa_already_enabled`)'),
      429: problem('Too many wrong passwords (`too_many_attempts`, the login throttle), see Retry-After'),
      500: misconfigured,
      503: legacyHashUnavailable,
    },
  },
});

export const confirmTotpRoute = defineRoute({
  method: 'post',
  path: '/auth/mfa/totp/confirm',
  middleware: [requireAuth()],
  request: { body: z.object({ code }) },
  docs: API_DOCS && {
    operationId: 'confirmTotp',
    tags,
    summary: 'Confirm enrolment with a first code: TOTP is on, and the recovery codes are returned once',
    description:
      'Checks a first code from the app, turns two-factor on, and returns ten single-use recovery codes: show them once, they are stored only as hashes. Every other session of the user ends; the caller’s continues.',
    bearer: true,
    example: { code: '123456' },
    responses: {
      200: json(recoveryCodes, 'Ten recovery codes'),
      400: problem('Wrong code (`invalid_mfa_code`) or invalid input'),
      401: unauthorized,
      409: problem('Already enabled (`mfa_already_enabled`) or no enrolment pending (`mfa_not_enabled`)'),
      429: tooMany,
      500: misconfigured,
    },
  },
});

export const disableTotpRoute = defineRoute({
  method: 'delete',
  path: '/auth/mfa/totp',
  middleware: [requireAuth()],
  request: { body: reauthentication },
  docs: API_DOCS && {
    operationId: 'disableTotp',
    tags,
    summary:
      'Turn TOTP off, with the current password and a current code or a recovery code; the recovery codes go too',
    description:
      'Needs the current password and a current TOTP code or an unused recovery code. Wrong passwords count against the login throttle, code checks against the per-user limit. The user’s verified address gets a notice.',
    bearer: true,
    example: reauthenticationExample,
    responses: {
      204: { description: 'Two-factor is off' },
      400: problem('Invalid input (`validation_failed`)'),
      401: reauthenticationRefused,
      403: mfaLocked,
      409: problem('TOTP is not enabled (`mfa_not_enabled`)'),
      429: reauthenticationTooMany,
      500: misconfigured,
      503: legacyHashUnavailable,
    },
  },
});

export const recoveryCodesRoute = defineRoute({
  method: 'post',
  path: '/auth/mfa/recovery-codes',
  middleware: [requireAuth()],
  request: { body: reauthentication },
  docs: API_DOCS && {
    operationId: 'regenerateRecoveryCodes',
    tags,
    summary:
      'A fresh set of recovery codes, with the current password and a current code or a recovery code; the old set stops working',
    description:
      'Needs the current password and a current TOTP code or an unused recovery code; the previous recovery codes stop working.',
    bearer: true,
    example: reauthenticationExample,
    responses: {
      200: json(recoveryCodes, 'Ten new recovery codes'),
      400: problem('Invalid input (`validation_failed`)'),
      401: reauthenticationRefused,
      403: mfaLocked,
      409: problem('TOTP is not enabled (`mfa_not_enabled`)'),
      429: reauthenticationTooMany,
      500: misconfigured,
      503: legacyHashUnavailable,
    },
  },
});

export const verifyMfaRoute = defineRoute({
  method: 'post',
  path: '/auth/mfa/verify',
  request: {
    body: z
      .object({
        mfa_token: z.string().check(z.minLength(1), z.maxLength(512)),
        code: z.optional(code),
        recovery_code: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
      })
      .check(
        z.refine((body) => (body.code === undefined) !== (body.recovery_code === undefined), {
          message: 'send either code or recovery_code',
          path: ['code'],
        }),
      ),
  },
  docs: API_DOCS && {
    operationId: 'verifyMfa',
    tags,
    summary: "Complete a login that answered 403 `mfa_required`: the login's tokens, delivered as it asked",
    description:
      'Send the `mfa_token` of that answer with either `code` (TOTP) or `recovery_code`. The token works once, for five minutes, and dies after five wrong codes. A `DPoP` proof binds the session, as at login.',
    example: { mfa_token: 'Qm9vb2…', code: '123456' },
    responses: {
      200: json(tokenResponseSchema, 'Tokens and the user, as from login'),
      400: problem('Invalid input (`validation_failed`), `invalid_dpop_proof` or `use_dpop_nonce`'),
      401: problem(
        'Wrong code (`invalid_mfa_code`), or the token is unknown, expired, used or dead (`invalid_mfa_token`)',
      ),
      403: mfaLocked,
      429: tooMany,
      500: misconfigured,
    },
  },
});

export const mfaRouter = createRouter()
  .route(enrolTotpRoute, async (c) => {
    const proof = { currentPassword: c.req.valid('json').current_password, legacyHashes: c.env.LEGACY_HASHES };
    const enrolment = await startTotpEnrolment(c.get('db'), c.get('config'), c.get('user'), proof, requestLog(c));
    return c.json({ secret: enrolment.secret, otpauth_uri: enrolment.otpauthUri }, 200);
  })
  .route(confirmTotpRoute, async (c) => {
    const codes = await confirmTotpEnrolment(
      c.get('db'),
      c.get('config'),
      c.get('user'),
      c.req.valid('json').code,
      c.get('claims').sid,
      requestLog(c),
    );
    return c.json({ recovery_codes: codes }, 200);
  })
  .route(disableTotpRoute, async (c) => {
    const { code, current_password } = c.req.valid('json');
    const proof = { code, currentPassword: current_password, legacyHashes: c.env.LEGACY_HASHES, notify: notifier(c) };
    await disableTotp(c.get('db'), c.get('config'), c.get('user'), proof, requestLog(c));
    return c.body(null, 204);
  })
  .route(recoveryCodesRoute, async (c) => {
    const { code, current_password } = c.req.valid('json');
    const proof = { code, currentPassword: current_password, legacyHashes: c.env.LEGACY_HASHES, notify: notifier(c) };
    const codes = await regenerateRecoveryCodes(c.get('db'), c.get('config'), c.get('user'), proof, requestLog(c));
    return c.json({ recovery_codes: codes }, 200);
  })
  .route(verifyMfaRoute, async (c) => {
    const body = c.req.valid('json');
    const factor = body.code !== undefined ? { code: body.code } : { recoveryCode: body.recovery_code! };
    const log = requestLog(c);
    const result = await verifyLoginChallenge(
      c.get('db'),
      c.get('config'),
      { mfaToken: body.mfa_token, factor, userAgent: c.req.header('User-Agent'), dpop: await sessionProof(c) },
      log,
      notifier(c),
    );
    return c.json(await tokenResponse(c, result.user, result.session, result.delivery), 200);
  });
