/**
 * The edge-auth demo app: a browser SPA in cookie mode, in plain TypeScript and the DOM.
 *
 *   api.ts         the client (edge-auth/client) and every call the app makes
 *   dom.ts         h() to build elements, labelled fields, local feedback, the confirm step
 *   views/         one render function per view: signed-out (log in + the two-factor step,
 *                  create an account), account (+ sessions, two-factor, users)
 *   qr.ts          the otpauth URI as a QR code (SVG built from DOM nodes)
 *   format.ts      how values read: a session's device ("Chrome on Linux"), the TOTP secret
 *   main.ts        this file: which view to show, and the silent restore on load
 *
 * The only state is the client's: who is signed in. Every change of it (login, logout, a
 * session ended elsewhere, a role changed by an admin) reaches `auth.onChange`, which renders.
 */
import { auth, signedOutByUser, type User } from './api';
import { announce } from './dom';
import { accountView } from './views/account';
import { signedOutView } from './views/signed-out';

const root = document.getElementById('app')!;
let shown: string | undefined;

function render(user: User | null): void {
  // Re-render only when the view would change, so a refresh does not wipe a half-filled form.
  const key = user ? `${user.id} ${user.username} ${user.role}` : 'signed out';
  if (key === shown) return;
  const wasSignedIn = shown !== undefined && shown !== 'signed out';
  shown = key;
  if (user) {
    root.replaceChildren(accountView(user));
    return;
  }
  const view = signedOutView();
  root.replaceChildren(view.element);
  if (!wasSignedIn) return;
  // Signed out while the account was shown: by the user's own Log out, or by the service
  // (another device revoked this session, or logged out everywhere). Either way, to sign-in.
  announce(signedOutByUser() ? 'You are signed out.' : 'This device was signed out.');
  view.focus();
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
