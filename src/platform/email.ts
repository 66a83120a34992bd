/**
 * Outgoing mail through Cloudflare Email Sending (the `[[send_email]]` binding `EMAIL`, sender
 * in EMAIL_FROM). Optional: with neither configured, the email routes answer 404
 * `email_disabled`; with only one of them, the service is misconfigured and says which.
 * Locally, `wrangler dev` does not send: it logs each mail and writes it to a file (README).
 */
import type { Config } from './config';
import type { Bindings } from './env';
import { ApiError, ConfigError } from './errors';

export type Mail = { to: string; subject: string; text: string; html: string };
export type Mailer = { send(mail: Mail): Promise<void> };

export function getMailer(env: Pick<Bindings, 'EMAIL'>, config: Config): Mailer | null {
  const binding = env.EMAIL;
  const from = config.emailFrom;
  if (!binding && !from) return null;
  if (!binding) {
    throw new ConfigError('EMAIL_FROM is set but the send_email binding EMAIL is missing from wrangler.toml');
  }
  if (!from) throw new ConfigError('the send_email binding EMAIL is configured but EMAIL_FROM is not set');
  return {
    async send(mail) {
      await binding.send({ from, ...mail });
    },
  };
}

/** The mailer, or 404 `email_disabled` when this deployment sends no mail. */
export function requireMailer(env: Pick<Bindings, 'EMAIL'>, config: Config): Mailer {
  const mailer = getMailer(env, config);
  if (!mailer) {
    throw new ApiError(404, 'email_disabled', 'This service does not send email (EMAIL and EMAIL_FROM are not set).');
  }
  return mailer;
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

/** A mail of plain sentences only (no secret, no link), as text and as escaped HTML. */
export function plainMail(to: string, subject: string, lines: string[]): Mail {
  return { to, subject, text: lines.join('\n'), html: lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('') };
}

/**
 * The greeting, naming the user only if the name is one registration allows (ASCII letters,
 * digits, `_ . -`: src/http/schemas.ts). Verification mails go to any address a caller names,
 * so a mail carries no text a caller chose beyond such a name; a row written outside the API
 * with another name is greeted without it.
 */
export function greeting(username: string): string {
  return /^[A-Za-z0-9_.-]{3,32}$/.test(username) ? `Hello ${username},` : 'Hello,';
}

function compose(to: string, subject: string, lines: string[], secret: string): Mail {
  const text = [...lines, '', secret, '', 'If you did not ask for this, ignore this message.'].join('\n');
  const html = `${lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('')}<p><code>${escapeHtml(secret)}</code></p><p>If you did not ask for this, ignore this message.</p>`;
  return { to, subject, text, html };
}

export function verificationMail(config: Config, to: string, username: string, code: string, ttlMinutes: number) {
  return compose(
    to,
    `${config.issuer}: your verification code`,
    [greeting(username), `your code to confirm this address for ${config.issuer} (valid ${ttlMinutes} minutes):`],
    code,
  );
}

export function resetMail(config: Config, to: string, username: string, token: string, ttlMinutes: number) {
  return compose(
    to,
    `${config.issuer}: reset your password`,
    [
      greeting(username),
      `someone asked to reset the password of your ${config.issuer} account.`,
      `Your reset token (valid ${ttlMinutes} minutes, single use; send it with POST /auth/password/reset):`,
    ],
    token,
  );
}
