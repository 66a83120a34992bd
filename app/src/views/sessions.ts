/**
 * The user's sessions (one per login, i.e. per device), with Revoke on each but this one. The
 * list is read again whenever the page comes back into view, so a device signed in or revoked
 * meanwhile shows up without a reload (and a session ended elsewhere is noticed then).
 */
import { listSessions, revokeSession } from '../api';
import { act, alertRegion, h, showFailure, statusRegion } from '../dom';
import { deviceName } from '../format';

const when = (iso: string) => new Date(iso).toLocaleString();

export function sessionsView(): { element: HTMLElement; reload: () => Promise<void> } {
  const list = h('ul', { class: 'sessions', 'aria-labelledby': 'sessions-heading' });
  const status = statusRegion();
  status.tabIndex = -1; // Focus lands here after a Revoke, whose button is then gone.
  const element = h(
    'section',
    { 'aria-labelledby': 'sessions-heading' },
    h('h2', { id: 'sessions-heading' }, 'Sessions'),
    list,
    alertRegion(),
    status,
  );

  async function reload(): Promise<void> {
    const sessions = await listSessions();
    list.replaceChildren(
      ...sessions.map((session) => {
        const device = deviceName(session.user_agent);
        const item = h(
          'li',
          {},
          h(
            'span',
            {},
            h('strong', {}, device),
            session.current ? ' (this device)' : '',
            h('br'),
            h('small', {}, `Signed in ${when(session.created_at)}, last used ${when(session.last_used_at)}`),
          ),
        );
        if (session.user_agent) item.title = session.user_agent;
        if (!session.current) {
          const revoke = async () => {
            await revokeSession(session.id);
            await reload();
            status.focus();
            return `Session revoked: ${device} is signed out.`;
          };
          const button = h(
            'button',
            { type: 'button', class: 'secondary', 'aria-label': `Revoke ${device}` },
            'Revoke',
          );
          button.addEventListener('click', () => act(element, revoke));
          item.append(button);
        }
        return item;
      }),
    );
  }

  // Focus and visibility changes come in pairs: one reading of the list answers both.
  let reading: Promise<void> | null = null;
  const refresh = () => {
    if (!element.isConnected) {
      // Signed out, or signed in again: this view is gone; stop listening.
      document.removeEventListener('visibilitychange', refresh);
      window.removeEventListener('focus', refresh);
      return;
    }
    if (document.visibilityState !== 'visible' || reading) return;
    // Quietly, not through act(): a background reading leaves the messages on the page alone.
    reading = reload()
      .catch((err: unknown) => {
        if (element.isConnected) showFailure(element, err);
      })
      .finally(() => (reading = null));
  };
  document.addEventListener('visibilitychange', refresh);
  window.addEventListener('focus', refresh);

  void act(element, reload);
  return { element, reload };
}
