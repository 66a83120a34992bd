/**
 * The owner's notice that TOTP codes were locked for their account (MFA_MAX_CONSECUTIVE_FAILURES
 * wrong codes in a row): someone who has the password is guessing the second factor. Sent
 * after the answer and never failing the request that caused it (a failed mail is logged);
 * without email configured, or without a verified address, nothing is sent.
 */
import type { RequestLog } from '../platform/audit';
import type { Config } from '../platform/config';
import type { AccessUser } from '../platform/db/schema';
import { getMailer, noticeMail } from '../platform/email';
import type { Bindings } from '../platform/env';
import { ConfigError } from '../platform/errors';

export type NoticeRecipient = Pick<AccessUser, 'username' | 'email' | 'emailVerifiedAt'>;

/** Sends a notice in the background; the two-factor flows take one of these. */
export type Notify = (kind: 'mfa_locked', to: NoticeRecipient) => void;

export const notifyNobody: Notify = () => {};

/** The request's Notify; `defer` is ExecutionContext.waitUntil. */
export function lockNotices(
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
      if (!mailer) return;
      await mailer.send(
        noticeMail(config, address, to.username, 'Two-factor codes were locked', [
          `Authenticator codes were refused after ${config.mfaMaxConsecutiveFailures} wrong ones in a row: someone who knows your password may be guessing them.`,
          'Sign in with a recovery code (that unlocks the codes), then change your password; or ask the administrator to reset two-factor authentication.',
          'This message holds no link; nothing in it needs to be clicked.',
        ]),
      );
    };
    defer(
      send().catch((err: unknown) =>
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
