/** Signed out: one form to log in, or to register (which then logs in). */
import { auth } from '../api';
import { act, alertRegion, announce, field, h } from '../dom';

export function signedOutView(): HTMLElement {
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
      await logIn(credentials);
      announce(registering ? 'Account created; you are signed in.' : 'Signed in.');
    });
  });
  return h('section', {}, form);
}

/**
 * The login step. Signing in publishes the user to `auth.onChange`, which shows the account.
 * Two-factor sign-in adds a step here: a `403 mfa_required` EdgeAuthError carries `mfa_token`
 * in `err.problem`; catch it and render a form with a `Code` field in place of this one.
 */
async function logIn(credentials: { username: string; password: string }): Promise<void> {
  await auth.login(credentials);
}
