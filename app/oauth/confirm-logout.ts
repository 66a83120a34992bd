/**
 * The logout confirmation page of the OAuth provider (/oauth/confirm-logout?interaction=…), where
 * RP-initiated logout (src/http/routes/oauth-logout.ts) sends the browser. Asking first keeps
 * a link on another site from signing the user out unasked.
 */
import { act, alertRegion, announce, h } from '../src/dom';
import { clientLine, fail, leave, post, show } from './page';

type Info = { client?: { name: string; logo_uri?: string }; username?: string };
type Outcome = { redirect_to?: string };

function view(info: Info): HTMLElement {
  const decide = (decision: 'logout' | 'stay') => () =>
    act(section, async () => {
      const outcome = await post<Outcome>('/oauth/interaction/logout', { decision });
      if (outcome.redirect_to) {
        announce(decision === 'logout' ? 'You are logged out. Taking you back…' : 'Taking you back…');
        leave(outcome.redirect_to);
        return;
      }
      show(done(decision === 'logout' ? 'You are logged out.' : 'You are still signed in.'));
    });
  const section: HTMLElement = h(
    'section',
    { 'aria-labelledby': 'logout-heading' },
    h('h2', { id: 'logout-heading' }, 'Log out?'),
    info.client ? clientLine(info.client, '', ' asks to log you out of this service.') : null,
    info.username
      ? h('p', {}, 'You are signed in as ', h('strong', {}, info.username), '.')
      : h('p', {}, 'This browser is not signed in.'),
    alertRegion(),
    h(
      'div',
      { class: 'buttons' },
      h('button', { type: 'button', onclick: decide('logout') }, 'Log out'),
      h('button', { type: 'button', class: 'secondary', onclick: decide('stay') }, 'Stay signed in'),
    ),
  );
  return section;
}

const done = (message: string) =>
  h(
    'section',
    { 'aria-labelledby': 'done-heading' },
    h('h2', { id: 'done-heading' }, message),
    h('p', {}, 'You can close this page.'),
  );

post<Info>('/oauth/interaction/logout/next', {}).then((info) => show(view(info)), fail);
