/**
 * Signed in: who you are, the protected route, your password, your sessions; for admins, the
 * users. Logging out publishes `null` to `auth.onChange`, which shows the signed-out view.
 */
import { callProtected, changePassword, logOut, type User } from '../api';
import { act, alertRegion, field, h, statusRegion } from '../dom';
import { passkeysView } from './passkeys';
import { sessionsView } from './sessions';
import { twoFactorView } from './two-factor';
import { oauthClientsView } from './oauth-clients';
import { usersView } from './users';

export function accountView(user: User): HTMLElement {
  const sessions = sessionsView();

  const account: HTMLElement = h(
    'section',
    { 'aria-labelledby': 'account-heading' },
    h('h2', { id: 'account-heading' }, 'Your account'),
    h('p', {}, 'Signed in as ', h('strong', {}, user.username)),
    h('p', {}, 'Role: ', h('strong', {}, user.role)),
    h(
      'div',
      { class: 'buttons' },
      h('button', { type: 'button', onclick: () => act(account, callAndShow) }, 'Call the protected route'),
      h('button', { type: 'button', class: 'secondary', onclick: () => act(account, () => logOut(false)) }, 'Log out'),
      h(
        'button',
        { type: 'button', class: 'danger', onclick: () => act(account, () => logOut(true)) },
        'Log out everywhere',
      ),
    ),
    alertRegion(),
    statusRegion(),
  );

  const passwordForm = h(
    'form',
    { 'aria-labelledby': 'password-heading', novalidate: true },
    h('h2', { id: 'password-heading' }, 'Password'),
    field('Current password', 'current_password', 'password', 'current-password'),
    field('New password', 'new_password', 'password', 'new-password'),
    alertRegion(),
    statusRegion(),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Change password')),
  );
  passwordForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(passwordForm);
    void act(passwordForm, async () => {
      await changePassword(String(data.get('current_password')), String(data.get('new_password')));
      passwordForm.reset();
      await sessions.reload();
      return 'Password changed. Your other sessions were signed out.';
    });
  });

  return h(
    'div',
    {},
    account,
    h('div', { class: 'grid' }, sessions.element, h('section', {}, passwordForm)),
    twoFactorView(user),
    passkeysView(user),
    user.role === 'admin' ? usersView(user) : null,
    user.role === 'admin' ? oauthClientsView() : null,
  );
}

async function callAndShow(): Promise<string> {
  const { message } = await callProtected();
  return `/auth/protected answered: ${message}`;
}
