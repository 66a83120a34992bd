/** Admins only: every user, a page at a time, with a role to change and a Delete button. */
import { deleteUser, listUsers, setRole, type User } from '../api';
import { act, announce, h } from '../dom';

export function usersView(me: User): HTMLElement {
  const rows = h('tbody');
  const previous = h('button', { type: 'button', class: 'secondary' }, 'Previous page');
  const next = h('button', { type: 'button', class: 'secondary' }, 'Next page');
  const table = h(
    'table',
    { 'aria-labelledby': 'users-heading' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Username'), h('th', {}, 'Role'), h('th', {}, 'Created'), h('th', {}))),
    rows,
  );
  const element = h(
    'section',
    { 'aria-labelledby': 'users-heading' },
    h('h2', { id: 'users-heading' }, 'Users'),
    table,
    h('div', { class: 'buttons' }, previous, next),
  );

  // The API pages forward with a cursor; the cursors of the pages seen so far lead back.
  const cursors: (string | undefined)[] = [undefined];
  let nextCursor: string | null = null;

  /** Shows the page of the last cursor. The paging buttons are set with the rows, never apart. */
  async function show(): Promise<void> {
    previous.disabled = next.disabled = true;
    try {
      const page = await listUsers(cursors.at(-1));
      nextCursor = page.next_cursor;
      rows.replaceChildren(...page.users.map(row));
    } finally {
      previous.disabled = cursors.length === 1;
      next.disabled = nextCursor === null;
    }
  }
  // The table is the scope, so act() leaves the paging buttons to show().
  const load = () => act(table, show);

  function row(user: User): HTMLTableRowElement {
    const cells = h('tr', {}, h('td', {}, user.username));
    if (user.id === me.id) {
      // Demoting or deleting yourself here would lock you out mid-click; another admin can.
      cells.append(h('td', {}, user.role), h('td', {}, created(user)), h('td', {}, '(you)'));
      return cells;
    }
    const role = h(
      'select',
      { 'aria-label': `Role of ${user.username}` },
      ...(['user', 'admin'] as const).map((value) => h('option', { value, selected: value === user.role }, value)),
    );
    role.addEventListener('change', () => {
      const wanted = role.value as User['role'];
      role.value = user.role; // Until the service agrees.
      void act(table, async () => {
        const { user: updated } = await setRole(user.id, wanted);
        user.role = updated.role;
        role.value = updated.role;
        announce(`${updated.username} is now ${updated.role}.`);
      });
    });
    const remove = async () => {
      if (!confirm(`Delete ${user.username}? Their sessions end at once.`)) return;
      await deleteUser(user.id);
      announce(`${user.username} was deleted.`);
      await show();
    };
    const deleteButton = h(
      'button',
      { type: 'button', class: 'danger', 'aria-label': `Delete ${user.username}`, onclick: () => act(table, remove) },
      'Delete',
    );
    cells.append(h('td', {}, role), h('td', {}, created(user)), h('td', {}, deleteButton));
    return cells;
  }

  previous.addEventListener('click', () => {
    cursors.pop();
    void load();
  });
  next.addEventListener('click', () => {
    if (nextCursor) cursors.push(nextCursor);
    void load();
  });

  void load();
  return element;
}

const created = (user: User) => new Date(user.created_at).toLocaleDateString();
