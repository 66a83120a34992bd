/**
 * Account recovery: password reset with a token (admin-issued or mailed), forgot-password,
 * the email address it is mailed to, and the operator's two-factor reset.
 */
import * as z from 'zod/mini';
import { requireAuth, requireRole } from '../middleware/auth';
import { notifier, requestLog } from '../middleware/context';
import { createRouter, defineRoute } from '../routing';
import { currentPasswordSchema, json, newPasswordSchema, problem, userSchema, usernameSchema } from '../schemas';
import { requestEmailVerification, verifyEmail } from '../../accounts/email-addresses';
import { requireMailer } from '../../platform/email';
import { resetMfaByAdmin } from '../../two-factor/mfa';
import { issueResetByAdmin, mailResetToken, recoveryIpLimit, resetPassword } from '../../recovery/password-reset';
import { consumeAttempt } from '../../throttle/rate-limit';
import { addressKey } from '../../platform/address';
import { toPublicUser } from '../../accounts/users';

const adminOnly = requireRole('admin');
const idParam = z.object({ id: z.string().check(z.minLength(1), z.maxLength(64)) });
const email = z.email().check(z.maxLength(254), z.meta({ example: 'alice@example.com' }));
const unauthorized = problem('No or invalid access token');
const forbidden = problem('Caller is not an admin (`forbidden`)');
const emailDisabled = problem('This deployment sends no mail (`email_disabled`)');
const FORGOT_ANSWER = {
  message: 'If this account has a verified email address, a reset token is on its way to it.',
} as const;

export const adminPasswordResetRoute = defineRoute({
  method: 'post',
  path: '/admin/users/{id}/password-reset',
  middleware: adminOnly,
  request: { params: idParam },
  docs: API_DOCS && {
    operationId: 'issuePasswordReset',
    tags: ['admin'],
    summary: 'Issue a single-use password reset token for a user, to hand over out of band',
    description:
      'The token is single use, valid PASSWORD_RESET_TTL seconds, stored only as SHA-256. Hand it to the user out of band; they send it to POST /auth/password/reset.',
    bearer: true,
    responses: {
      201: json(
        z.object({
          reset_token: z.string(),
          expires_in: z.number().check(z.int(), z.meta({ description: 'Seconds (PASSWORD_RESET_TTL)' })),
        }),
        'The token; any older unused one stops working',
      ),
      401: unauthorized,
      403: forbidden,
      404: problem('No such user'),
    },
  },
});

export const adminMfaResetRoute = defineRoute({
  method: 'delete',
  path: '/admin/users/{id}/mfa',
  middleware: adminOnly,
  request: { params: idParam },
  docs: API_DOCS && {
    operationId: 'resetUserMfa',
    tags: ['admin'],
    summary: "Turn off a user's two-factor authentication (lost phone and recovery codes); audited",
    description:
      'For a user who lost both the authenticator and the recovery codes: deletes the TOTP secret, the recovery codes, open challenges and any outstanding password reset token. Audited as mfa_reset_by_admin; the user’s verified address gets a notice.',
    bearer: true,
    responses: {
      204: { description: 'Two-factor is off' },
      401: unauthorized,
      403: forbidden,
      404: problem('No such user'),
    },
  },
});

export const passwordResetRoute = defineRoute({
  method: 'post',
  path: '/auth/password/reset',
  request: {
    body: z.object({
      reset_token: z.string().check(z.minLength(1), z.maxLength(512)),
      new_password: newPasswordSchema,
    }),
    newPasswords: ['new_password'],
  },
  docs: API_DOCS && {
    operationId: 'resetPassword',
    tags: ['recovery'],
    summary: 'Set a new password with a reset token; every session is revoked (TOTP stays on)',
    description:
      'The new password follows the registration rules. Every session is revoked, every access token and every other reset token stops working, and the user’s verified address gets a notice. Limited per address.',
    example: { reset_token: 'x2Vb…', new_password: 'a new long passphrase' },
    responses: {
      204: { description: 'Password set' },
      400: problem('Unknown, used or expired token (`invalid_reset_token`), or invalid new password'),
      429: problem('Too many attempts from this address (`too_many_attempts`)'),
    },
  },
});

export const forgotPasswordRoute = defineRoute({
  method: 'post',
  path: '/auth/password/forgot',
  request: {
    body: z.object({ username: z.optional(usernameSchema), email: z.optional(email) }).check(
      z.refine((b) => (b.username === undefined) !== (b.email === undefined), {
        message: 'send either username or email',
        path: ['username'],
      }),
    ),
  },
  docs: API_DOCS && {
    operationId: 'forgotPassword',
    tags: ['recovery'],
    summary: 'Mail a reset token to the verified address of a user; the answer is the same whether or not one exists',
    description:
      'Always 202 with the same body, at the same speed: the lookup and the mail happen after the answer. A user with a verified address gets a reset token by mail: at most EMAIL_USER_MAX an hour per requesting address, and EMAIL_RESET_USER_MAX a day from addresses the user has not logged in from, together. Needs email configured.',
    example: { username: 'alice' },
    responses: {
      202: json(z.object({ message: z.string() }), 'Accepted (always the same answer)'),
      400: problem('Invalid input'),
      404: emailDisabled,
      429: problem('Too many requests from this address (`too_many_attempts`)'),
    },
  },
});

export const addEmailRoute = defineRoute({
  method: 'post',
  path: '/auth/email',
  middleware: [requireAuth()],
  request: {
    body: z.object({
      email,
      current_password: currentPasswordSchema,
      code: z
        .optional(z.string().check(z.minLength(1), z.maxLength(64)))
        .check(
          z.meta({ description: 'Required when two-factor is on: a current TOTP code, or one of the recovery codes' }),
        ),
    }),
  },
  docs: API_DOCS && {
    operationId: 'addEmail',
    tags: ['recovery'],
    summary: 'Add or replace the email address: a 6-digit code is mailed to it (valid 15 minutes)',
    description:
      'Needs the current password, and a current TOTP code or a recovery code (`code`) when two-factor is on: the address receives password reset tokens, so it is worth as much as the password. Mails a 6-digit code to the address (valid 15 minutes, five tries); POST /auth/email/verify stores the address on the user, ends every outstanding reset token, and sends the replaced address a notice. At most EMAIL_USER_MAX mails an hour per account and three a day per address, whichever accounts ask. Needs email configured.',
    bearer: true,
    example: { email: 'alice@example.com', current_password: 'correct horse battery staple' },
    responses: {
      202: json(z.object({ message: z.string(), expires_in: z.number().check(z.int()) }), 'Code sent'),
      400: problem(
        'Invalid input (`validation_failed`): an invalid address, no `current_password`, or no `code` while two-factor is on',
      ),
      401: problem(
        'Wrong current password (`invalid_credentials`), wrong code (`invalid_mfa_code`), or no or invalid access token',
      ),
      403: problem(
        'TOTP codes are locked after MFA_MAX_CONSECUTIVE_FAILURES wrong ones in a row (`mfa_locked`): send a recovery code',
      ),
      404: emailDisabled,
      429: problem(
        'Too many mails from this account (EMAIL_USER_MAX an hour) or to this address (three a day), wrong passwords (the login throttle) or wrong codes (`too_many_attempts`), see Retry-After',
      ),
      500: problem('DATA_ENCRYPTION_KEY is not set (`misconfigured`): verification codes are keyed with it'),
      503: problem(
        'The user was imported from Flask with a hash only the companion Worker can check, and it is not configured or failed (`legacy_hash_unavailable`); docs/flask.md',
      ),
    },
  },
});

export const verifyEmailRoute = defineRoute({
  method: 'post',
  path: '/auth/email/verify',
  middleware: [requireAuth()],
  request: { body: z.object({ code: z.string().check(z.minLength(1), z.maxLength(16)) }) },
  docs: API_DOCS && {
    operationId: 'verifyEmail',
    tags: ['recovery'],
    summary: 'Confirm the address with the mailed code',
    description:
      'A verified address belongs to one user only. Every outstanding password reset token ends, and an address this one replaces gets a notice.',
    bearer: true,
    example: { code: '123456' },
    responses: {
      200: json(z.object({ user: userSchema }), 'The user, with `email` and `email_verified`'),
      400: problem('Wrong or expired code (`invalid_email_code`)'),
      401: unauthorized,
      409: problem('Another account has verified this address (`email_taken`)'),
      500: problem('DATA_ENCRYPTION_KEY is not set (`misconfigured`)'),
    },
  },
});

export const recoveryRouter = createRouter()
  .route(adminPasswordResetRoute, async (c) => {
    const log = { ...requestLog(c), adminId: c.get('user').id };
    const issued = await issueResetByAdmin(c.get('db'), c.get('config'), c.req.valid('param').id, log);
    return c.json({ reset_token: issued.resetToken, expires_in: issued.expiresIn }, 201);
  })
  .route(adminMfaResetRoute, async (c) => {
    const log = { ...requestLog(c), adminId: c.get('user').id };
    await resetMfaByAdmin(c.get('db'), c.req.valid('param').id, log, notifier(c));
    return c.body(null, 204);
  })
  .route(passwordResetRoute, async (c) => {
    const { reset_token, new_password } = c.req.valid('json');
    const log = requestLog(c);
    const input = { resetToken: reset_token, newPassword: new_password, notify: notifier(c) };
    await resetPassword(c.get('db'), c.get('config'), input, log);
    return c.body(null, 204);
  })
  .route(forgotPasswordRoute, async (c) => {
    const [db, config, clientIp] = [c.get('db'), c.get('config'), c.get('clientIp')];
    const mailer = requireMailer(c.env, config);
    const body = c.req.valid('json');
    // Depends on the address only, never on the account asked about.
    const address = addressKey(clientIp);
    if (address) await consumeAttempt(db, recoveryIpLimit(config, address), Date.now());
    const who = body.username !== undefined ? { username: body.username } : { email: body.email! };
    const log = requestLog(c);
    // The lookup, the token and the mail happen after the answer has gone: its body and its
    // timing are the same whether or not the account exists and has a verified address.
    c.executionCtx.waitUntil(
      mailResetToken(db, config, mailer, who, log).catch((err: unknown) =>
        console.error(
          JSON.stringify({
            type: 'error',
            kind: 'forgot_password',
            name: err instanceof Error ? err.name : typeof err,
          }),
        ),
      ),
    );
    return c.json(FORGOT_ANSWER, 202);
  })
  .route(addEmailRoute, async (c) => {
    const mailer = requireMailer(c.env, c.get('config'));
    const log = requestLog(c);
    const { email: address, current_password, code } = c.req.valid('json');
    const input = {
      email: address,
      currentPassword: current_password,
      code,
      legacyHashes: c.env.LEGACY_HASHES,
      notify: notifier(c),
    };
    const sent = await requestEmailVerification(c.get('db'), c.get('config'), mailer, c.get('user'), input, log);
    return c.json({ message: `A 6-digit code is on its way to ${address}.`, expires_in: sent.expiresIn }, 202);
  })
  .route(verifyEmailRoute, async (c) => {
    const log = requestLog(c);
    const code = c.req.valid('json').code;
    const user = await verifyEmail(c.get('db'), c.get('config'), c.get('user'), code, log, notifier(c));
    return c.json({ user: toPublicUser(user) }, 200);
  });
