/**
 * Admins only: the OAuth clients (apps that sign users in through this service). Register one
 * (its secret is shown once), see each one's redirect URIs, let a first-party client skip the
 * consent page, delete one (its users' grants end with it).
 */
import { deleteOAuthClient, listOAuthClients, registerOAuthClient, setSkipConsent, type OAuthClient } from '../api';
import { act, alertRegion, announce, field, h } from '../dom';

export function oauthClientsView(): HTMLElement {
  const list = h('ul', { class: 'clients' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'More clients');
  let cursor: string | null = null;

  const form = h(
    'form',
    { 'aria-labelledby': 'new-client-heading', novalidate: true },
    h('h3', { id: 'new-client-heading' }, 'Register a client'),
    field('Client name', 'client_name', 'text', 'off'),
    redirectUrisField(),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'client-type' }, 'Client type'),
      h(
        'select',
        { id: 'client-type', name: 'token_endpoint_auth_method' },
        h('option', { value: 'client_secret_basic' }, 'Confidential (a server that keeps a secret)'),
        h('option', { value: 'none' }, 'Public (an SPA or a native app, PKCE only)'),
      ),
    ),
    alertRegion(),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Register client')),
  );
  const secretSlot = h('div', {});

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    void act(form, async () => {
      const created = await registerOAuthClient({
        client_name: String(data.get('client_name')).trim(),
        redirect_uris: String(data.get('redirect_uris')).split(/\s+/).filter(Boolean),
        token_endpoint_auth_method: String(data.get('token_endpoint_auth_method')) as 'none' | 'client_secret_basic',
        grant_types: ['authorization_code', 'refresh_token'],
      });
      form.reset();
      secretSlot.replaceChildren(
        h(
          'div',
          { role: 'note', class: 'secret' },
          h('p', {}, `Registered ${created.client_name ?? created.client_id}. Its client ID:`),
          h('code', { class: 'wrap' }, created.client_id),
          created.client_secret
            ? h(
                'p',
                {},
                'Its client secret, shown this once (only a hash is kept): ',
                h('code', { class: 'wrap' }, created.client_secret),
              )
            : null,
        ),
      );
      announce(`Client ${created.client_name ?? created.client_id} registered.`);
      await reload();
    });
  });

  const element = h(
    'section',
    { 'aria-labelledby': 'clients-heading' },
    h('h2', { id: 'clients-heading' }, 'OAuth clients'),
    list,
    more,
    form,
    secretSlot,
  );

  function row(client: OAuthClient): HTMLLIElement {
    const name = client.client_name ?? client.client_id;
    const skip = h('input', {
      type: 'checkbox',
      id: `skip-${client.client_id}`,
      checked: client.skip_consent === true,
    });
    skip.addEventListener('change', () => {
      const wanted = skip.checked;
      void act(element, async () => {
        try {
          const updated = await setSkipConsent(client.client_id, wanted);
          skip.checked = updated.skip_consent;
          announce(`${name} ${skip.checked ? 'no longer asks' : 'asks'} for consent.`);
        } catch (err) {
          skip.checked = !wanted; // The service did not agree.
          throw err;
        }
      });
    });
    const remove = async () => {
      if (!confirm(`Delete ${name}? Everyone signed in through it is signed out of it.`)) return;
      await deleteOAuthClient(client.client_id);
      announce(`${name} was deleted.`);
      await reload();
    };
    return h(
      'li',
      {},
      h('strong', {}, name),
      h('small', {}, ` ${client.token_endpoint_auth_method === 'none' ? 'public' : 'confidential'}`),
      h('div', {}, h('code', { class: 'wrap' }, client.client_id)),
      h('div', {}, h('small', {}, client.redirect_uris.join(' '))),
      h(
        'div',
        { class: 'buttons' },
        h('label', { for: skip.id }, skip, ' First-party: skip consent'),
        h(
          'button',
          {
            type: 'button',
            class: 'danger',
            'aria-label': `Delete client ${name}`,
            onclick: () => act(element, remove),
          },
          'Delete',
        ),
      ),
    );
  }

  async function load(append: boolean): Promise<void> {
    const page = await listOAuthClients(append ? (cursor ?? undefined) : undefined);
    cursor = page.next_cursor;
    if (append) list.append(...page.clients.map(row));
    else list.replaceChildren(...page.clients.map(row));
    if (!list.childElementCount) list.replaceChildren(h('li', {}, 'No clients yet.'));
    more.hidden = cursor === null;
  }
  const reload = () => load(false);
  more.addEventListener('click', () => void act(element, () => load(true)));
  void act(element, reload);
  return element;
}

function redirectUrisField(): HTMLDivElement {
  const wrapper = field('Redirect URIs (one per line)', 'redirect_uris', 'text', 'off');
  const input = wrapper.querySelector('input')!;
  const textarea = h('textarea', { id: input.id, name: 'redirect_uris', rows: '2', required: true });
  for (const attribute of ['aria-describedby']) textarea.setAttribute(attribute, input.getAttribute(attribute)!);
  input.replaceWith(textarea);
  return wrapper;
}
