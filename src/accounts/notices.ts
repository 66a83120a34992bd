/**
 * Security notices: a mail to the owner's verified address when something that guards the
 * account changed, so that a change the owner did not make does not pass unseen (a stolen
 * access token once replaced the address without a word to it). A notice says what changed
 * and when, and carries no token and no link that acts: a mailbox someone else reads gains
 * nothing from it. Notices go out after the answer and never fail the request that caused
 * them (a failed mail is logged); they do not count against EMAIL_USER_MAX, since the owner
 * must hear of every change. Without email configured, or without a verified address,
 * nothing is sent.
 */
import type { RequestLog } from '../platform/audit';
import type { Config } from '../platform/config';
import type { AccessUser } from '../platform/db/schema';
import { getMailer, greeting, plainMail } from '../platform/email';
import type { Bindings } from '../platform/env';
import { ConfigError } from '../platform/errors';

/** What each notice tells the owner happened (its subject, and the first line of its body). */
const NOTICES = {
  email_replaced: 'The email address of your account was changed',
  password_changed: 'Your password was changed',
  password_reset: 'Your password was reset',
  mfa_disabled: 'Two-factor authentication was turned off',
  mfa_reset_by_admin: 'An administrator turned off your two-factor authentication',
  mfa_locked: 'Authenticator codes were locked after too many wrong ones in a row',
  passkey_added: 'A passkey was added to your account',
  password_added: 'A password was added to your account',
} as const;

/** What the owner can do, where the general advice is not enough. */
const ADVICE: Partial<Record<keyof typeof NOTICES, string>> = {
  mfa_locked:
    'Someone who knows your password may be guessing your codes. Sign in with a recovery code (that unlocks the codes), then change your password; or ask the administrator to reset two-factor authentication.',
};

export type NoticeKind = keyof typeof NOTICES;

/** Whom a notice goes to: the address it goes to must be verified. */
export type NoticeRecipient = Pick<AccessUser, 'username' | 'email' | 'emailVerifiedAt'>;

/** Sends a notice (in the background); service functions take one of these. */
export type Notify = (kind: NoticeKind, to: NoticeRecipient) => void;

export function noticeMail(config: Config, kind: NoticeKind, to: string, username: string, at: number) {
  const what = NOTICES[kind];
  return plainMail(to, `${config.issuer}: ${what.toLowerCase()}`, [
    greeting(username),
    `${what} (${config.issuer} account, ${new Date(at).toISOString().replace('T', ' ').slice(0, 16)} UTC).`,
    ...(ADVICE[kind] ? [ADVICE[kind]] : []),
    'If this was you, there is nothing to do.',
    'If it was not, someone else may have access to your account: contact the administrator of the service now.',
    'This message holds no link; nothing in it needs to be clicked.',
  ]);
}

/**
 * The request's Notify. `defer` keeps the request's Worker alive until the mail is handed
 * over (ExecutionContext.waitUntil), without making the caller wait for it.
 */
export function notices(
  env: Pick<Bindings, 'EMAIL'>,
  config: Config,
  log: RequestLog,
  defer: (work: Promise<unknown>) => void,
): Notify {
  return (kind, to) => {
    if (!to.email || to.emailVerifiedAt === null) return;
    const address = to.email;
    const send = async () => {
      const mailer = getMailer(env, config);
      if (mailer) await mailer.send(noticeMail(config, kind, address, to.username, Date.now()));
    };
    defer(
      send().catch((err: unknown) =>
        // No address and no mail text: the request id finds the rest. A ConfigError names
        // the variable to set, which is for the operator's eyes and no secret.
        console.error(
          JSON.stringify({
            type: 'error',
            kind: 'notice',
            notice: kind,
            request_id: log.requestId,
            name: err instanceof Error ? err.name : typeof err,
            ...(err instanceof ConfigError ? { message: err.message } : {}),
          }),
        ),
      ),
    );
  };
}
