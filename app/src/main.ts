/**
 * The edge-auth demo app: a browser SPA in cookie mode, in plain TypeScript and the DOM.
 *
 *   api.ts     the client (edge-auth/client) and every call the app makes
 *   dom.ts     h() to build elements, labelled fields, alerts, status messages
 *   views/     one render function per view: signed-out, account (+ sessions, users)
 *   main.ts    this file: which view to show, and the silent restore on load
 *
 * The only state is the client's: who is signed in. Every change of it (login, logout, a
 * session ended elsewhere, a role changed by an admin) reaches `auth.onChange`, which renders.
 */
import { auth, type User } from './api';
import { announce } from './dom';
import { accountView } from './views/account';
import { signedOutView } from './views/signed-out';

const root = document.getElementById('app')!;
let shown: string | undefined;

function render(user: User | null): void {
  // Re-render only when the view would change, so a refresh does not wipe a half-filled form.
  const key = user ? `${user.id} ${user.username} ${user.role}` : 'signed out';
  if (key === shown) return;
  if (shown && shown !== 'signed out' && !user) announce('You are signed out.');
  shown = key;
  root.replaceChildren(user ? accountView(user) : signedOutView());
}

auth.onChange(render);

// Silent restore: the HttpOnly refresh cookie (invisible to this script) is the session. No
// cookie, or a dead session, resolves to null: show the login form.
auth.refresh().then(render, (err: unknown) => {
  render(null);
  const alert = document.getElementById('alert')!;
  alert.textContent = `Your session could not be restored: ${err instanceof Error ? err.message : String(err)}`;
  alert.hidden = false;
});
