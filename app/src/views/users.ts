/**
 * Admins only: every user, sorted by creation time or by username and searched by name, ten to
 * a page, each with a role to change and a Delete button, both asked for confirmation first.
 * The API lists users by id and cannot search, so the view fetches them all and sorts and
 * searches here (api.ts `listAllUsers`). Feedback appears in the row of the user acted on.
 */
import { deleteUser, listAllUsers, setRole, type User } from '../api';
import { act, alertRegion, confirmStep, h, statusRegion, uniqueId } from '../dom';

const PAGE_SIZE = 10;

const ORDERS = {
  newest: { label: 'Newest first', compare: (a: User, b: User) => b.created_at.localeCompare(a.created_at) },
  oldest: { label: 'Oldest first', compare: (a: User, b: User) => a.created_at.localeCompare(b.created_at) },
  username: {
    label: 'Username (A to Z)',
    // Case-insensitive, as the service compares usernames; user2 before user10.
    compare: (a: User, b: User) => a.username.localeCompare(b.username, 'en', { sensitivity: 'base', numeric: true }),
  },
} as const;
type Order = keyof typeof ORDERS;

const created = (user: User) =>
  new Date(user.created_at).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function usersView(me: User): HTMLElement {
  let all: User[] = [];
  let page = 0;

  const searchId = uniqueId('search');
  const sortId = uniqueId('sort');
  const search = h('input', { id: searchId, type: 'search', autocomplete: 'off', spellcheck: 'false' });
  const sort = h(
    'select',
    { id: sortId },
    ...Object.entries(ORDERS).map(([value, { label }]) => h('option', { value }, label)),
  );
  const count = h('p', { class: 'count', 'aria-live': 'polite' });
  const rows = h('tbody');
  const previous = h('button', { type: 'button', class: 'secondary' }, 'Previous page');
  const next = h('button', { type: 'button', class: 'secondary' }, 'Next page');
  const table = h(
    'table',
    { 'aria-labelledby': 'users-heading', class: 'users' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', {}, 'User'),
        h('th', {}, 'Role'),
        h('th', {}, h('span', { class: 'visually-hidden' }, 'Actions')),
      ),
    ),
    rows,
  );
  const element = h(
    'section',
    { 'aria-labelledby': 'users-heading' },
    h('h2', { id: 'users-heading' }, 'Users'),
    h(
      'div',
      { class: 'controls' },
      h('div', { class: 'field' }, h('label', { for: searchId }, 'Search users'), search),
      h('div', { class: 'field' }, h('label', { for: sortId }, 'Sort by'), sort),
    ),
    alertRegion(),
    statusRegion(),
    count,
    table,
    h('div', { class: 'buttons' }, previous, next),
  );

  /** Draws the current page of the users that match the search, in the chosen order. */
  function draw(): void {
    const query = search.value.trim().toLowerCase();
    const matching = all
      .filter((user) => user.username.toLowerCase().includes(query))
      .sort(ORDERS[sort.value as Order].compare);
    const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
    page = Math.min(page, pages - 1);
    rows.replaceChildren(...matching.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE).map(row));
    const users = (n: number) => `${n} ${n === 1 ? 'user' : 'users'}`;
    count.textContent =
      (query ? `${users(matching.length)} of ${all.length} match “${search.value.trim()}”` : users(all.length)) +
      (pages > 1 ? `, page ${page + 1} of ${pages}` : '');
    previous.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }

  function row(user: User): HTMLTableRowElement {
    const status = statusRegion();
    status.tabIndex = -1; // Focus lands here after a Delete, whose button is then gone.
    const who = h(
      'td',
      { class: 'user' },
      h('span', { class: 'username' }, user.username),
      user.id === me.id ? ' (you)' : '',
      h('small', {}, `Created ${created(user)}`),
      alertRegion(),
      status,
    );
    const cells = h('tr', {}, who);
    if (user.id === me.id) {
      // Demoting or deleting yourself here would lock you out mid-click; another admin can.
      cells.append(h('td', {}, user.role), h('td', {}));
      return cells;
    }

    const role = h(
      'select',
      { 'aria-label': `Role of ${user.username}` },
      ...(['user', 'admin'] as const).map((value) => h('option', { value, selected: value === user.role }, value)),
    );
    role.addEventListener('change', async () => {
      const wanted = role.value as User['role'];
      role.value = user.role; // Until confirmed, and the service agrees.
      const confirmed = await confirmStep(
        role,
        wanted === 'admin'
          ? `Make ${user.username} an admin? Admins can change roles and delete users.`
          : `Make ${user.username} a user? They lose access to this list.`,
        wanted === 'admin' ? 'Make admin' : 'Make user',
      );
      if (!confirmed) return;
      await act(cells, async () => {
        const { user: updated } = await setRole(user.id, wanted);
        user.role = updated.role;
        role.value = updated.role;
        return `${updated.username} is now ${updated.role}.`;
      });
    });

    const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${user.username}` }, 'Delete');
    remove.addEventListener('click', async () => {
      const confirmed = await confirmStep(remove, `Delete ${user.username}? Their sessions end at once.`, 'Delete', {
        danger: true,
      });
      if (!confirmed) return;
      await act(cells, async () => {
        await deleteUser(user.id);
        all = all.filter((other) => other.id !== user.id);
        // The row stays, saying so, until the list is drawn again.
        cells.classList.add('deleted');
        role.remove();
        remove.remove();
        return `${user.username} was deleted.`;
      });
      if (cells.classList.contains('deleted')) status.focus();
    });

    cells.append(h('td', {}, role), h('td', {}, remove));
    return cells;
  }

  search.addEventListener('input', () => {
    page = 0;
    draw();
  });
  sort.addEventListener('change', () => {
    page = 0;
    draw();
  });
  previous.addEventListener('click', () => {
    page -= 1;
    draw();
  });
  next.addEventListener('click', () => {
    page += 1;
    draw();
  });

  previous.disabled = next.disabled = true;
  void act(element, async () => {
    all = await listAllUsers();
    draw();
  });
  return element;
}
