/** Signed out: one form to log in, or to register (which then logs in). */
import { EdgeAuthError } from 'edge-auth/client';
import { auth } from '../api';
import { act, alertRegion, announce, field, h } from '../dom';

export function signedOutView(): HTMLElement {
  const section = h('section', {});
  const form = h(
    'form',
    { 'aria-labelledby': 'sign-in-heading', novalidate: true },
    h('h2', { id: 'sign-in-heading' }, 'Log in or create an account'),
    field('Username', 'username', 'text', 'username'),
    field('Password', 'password', 'password', 'current-password'),
    alertRegion(),
    h(
      'div',
      { class: 'buttons' },
      // The first submit button is the one Enter presses.
      h('button', { type: 'submit', value: 'login' }, 'Log in'),
      h('button', { type: 'submit', value: 'register', class: 'secondary' }, 'Register'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const registering = (event.submitter as HTMLButtonElement | null)?.value === 'register';
    const data = new FormData(form);
    const credentials = { username: String(data.get('username')), password: String(data.get('password')) };
    void act(form, async () => {
      if (registering) await auth.register(credentials);
      const mfaToken = await logIn(credentials);
      if (mfaToken) {
        // Cancel brings the first step back (a new login is then needed).
        const second: HTMLFormElement = codeForm(mfaToken, () => second.replaceWith(form));
        form.replaceWith(second);
        return;
      }
      announce(registering ? 'Account created; you are signed in.' : 'Signed in.');
    });
  });
  section.append(form);
  return section;
}

/**
 * The login step. Signing in publishes the user to `auth.onChange`, which shows the account.
 * A user with two-factor sign-in gets `403 mfa_required` instead: its `mfa_token` is returned
 * for the second step.
 */
async function logIn(credentials: { username: string; password: string }): Promise<string | null> {
  try {
    await auth.login(credentials);
    return null;
  } catch (err) {
    if (err instanceof EdgeAuthError && err.problem.code === 'mfa_required') return err.problem.mfa_token;
    throw err;
  }
}

/** The second step: a code from the authenticator app, or a recovery code. */
function codeForm(mfaToken: string, back: () => void): HTMLFormElement {
  const form = h(
    'form',
    { 'aria-labelledby': 'second-step-heading', novalidate: true },
    h('h2', { id: 'second-step-heading' }, 'Two-factor authentication'),
    h('p', {}, 'Enter the 6-digit code from your authenticator app, or one of your recovery codes.'),
    field('Code', 'code', 'text', 'one-time-code'),
    alertRegion(),
    h(
      'div',
      { class: 'buttons' },
      h('button', { type: 'submit' }, 'Verify'),
      h('button', { type: 'button', class: 'secondary', onclick: back }, 'Cancel'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const code = String(new FormData(form).get('code')).trim();
    void act(form, async () => {
      // Six digits are a TOTP code; anything else is tried as a recovery code.
      await auth.verifyMfa(
        /^\d{6}$/.test(code) ? { mfa_token: mfaToken, code } : { mfa_token: mfaToken, recovery_code: code },
      );
      announce('Signed in.');
    });
  });
  return form;
}
