/** The user's sessions (one per login, i.e. per device), with Revoke on each but this one. */
import { listSessions, revokeSession } from '../api';
import { act, announce, h } from '../dom';

const when = (iso: string) => new Date(iso).toLocaleString();

export function sessionsView(): { element: HTMLElement; reload: () => Promise<void> } {
  const list = h('ul', { class: 'sessions', 'aria-labelledby': 'sessions-heading' });
  const element = h(
    'section',
    { 'aria-labelledby': 'sessions-heading' },
    h('h2', { id: 'sessions-heading' }, 'Sessions'),
    list,
  );

  async function reload(): Promise<void> {
    const sessions = await listSessions();
    list.replaceChildren(
      ...sessions.map((session) => {
        const item = h(
          'li',
          {},
          h(
            'span',
            {},
            session.current
              ? h('strong', {}, 'This device (current session)')
              : (session.user_agent ?? 'Unknown device'),
            h('br'),
            h('small', {}, `Signed in ${when(session.created_at)}, last used ${when(session.last_used_at)}`),
          ),
        );
        if (!session.current) {
          const revoke = async () => {
            await revokeSession(session.id);
            announce('Session revoked: that device is signed out.');
            await reload();
          };
          item.append(h('button', { type: 'button', class: 'secondary', onclick: () => act(item, revoke) }, 'Revoke'));
        }
        return item;
      }),
    );
  }

  void act(element, reload);
  return { element, reload };
}
