/**
 * Signed out: a form to log in (then, for two-factor users, a second step for the code), and
 * a form of its own to create an account, so that a password manager offers the saved password
 * in one and a new one in the other, and Enter in each does what its button says.
 */
import { EdgeAuthError } from 'edge-auth/client';
import { auth } from '../api';
import { act, alertRegion, announce, field, h, secondFactorForm, statusRegion } from '../dom';
import { passkeySignInButton, passkeySignUpButton, startDemoAutofill } from './passkeys';

export function signedOutView(): { element: HTMLElement; focus: () => void } {
  const login = loginSection();
  const element = h('div', { class: 'grid' }, login.element, registerSection());
  return { element, focus: login.focus };
}

function loginSection(): { element: HTMLElement; focus: () => void } {
  const section = h('section', {});
  const form: HTMLFormElement = h(
    'form',
    { 'aria-labelledby': 'log-in-heading', novalidate: true },
    h('h2', { id: 'log-in-heading' }, 'Log in'),
    // `webauthn`: the browser offers passkeys in this field's autofill (passkeys.ts).
    field('Username', 'username', 'text', 'username webauthn'),
    field('Password', 'password', 'password', 'current-password'),
    alertRegion(),
    h(
      'div',
      { class: 'buttons' },
      h('button', { type: 'submit' }, 'Log in'),
      passkeySignInButton(() => form),
    ),
  );
  startDemoAutofill(form);
  const focus = () => form.querySelector('input')?.focus();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void act(form, async () => {
      const mfaToken = await logIn(credentialsOf(form));
      if (!mfaToken) return announce('Signed in.');
      // Cancel brings the first step back (a new login is then needed).
      const second = codeForm(mfaToken, () => {
        second.replaceWith(form);
        focus();
      });
      form.replaceWith(second);
      second.querySelector('input')?.focus();
    });
  });
  section.append(form);
  return { element: section, focus };
}

function registerSection(): HTMLElement {
  const form: HTMLFormElement = h(
    'form',
    { 'aria-labelledby': 'register-heading', novalidate: true },
    h('h2', { id: 'register-heading' }, 'Create an account'),
    field('Username', 'username', 'text', 'username'),
    field('Password', 'password', 'password', 'new-password'),
    alertRegion(),
    statusRegion(),
    h(
      'div',
      { class: 'buttons' },
      h('button', { type: 'submit' }, 'Register'),
      passkeySignUpButton(() => form),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const credentials = credentialsOf(form);
    void act(form, async () => {
      await auth.register(credentials);
      await auth.login(credentials);
      announce('Account created; you are signed in.');
    });
  });
  return h('section', {}, form);
}

const credentialsOf = (form: HTMLFormElement) => {
  const data = new FormData(form);
  return { username: String(data.get('username')), password: String(data.get('password')) };
};

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
  return secondFactorForm(back, async (code) => {
    // Six digits are a TOTP code; anything else is tried as a recovery code.
    await auth.verifyMfa(
      /^\d{6}$/.test(code) ? { mfa_token: mfaToken, code } : { mfa_token: mfaToken, recovery_code: code },
    );
    announce('Signed in.');
  });
}
