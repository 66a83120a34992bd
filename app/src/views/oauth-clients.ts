/**
 * Admins only: the OAuth clients (apps that sign users in through this service, and machines).
 * Register one of three kinds (its secret is shown once), see each one's kind and redirect
 * URIs, let a first-party client skip the consent page, delete one (its users' grants end with it).
 */
import {
  DEVICE_CODE_GRANT,
  deleteOAuthClient,
  listOAuthClients,
  machineScopes,
  registerOAuthClient,
  setSkipConsent,
  type ClientRegistration,
  type OAuthClient,
} from '../api';
import { act, alertRegion, announce, field, h, uniqueId } from '../dom';

/**
 * The kinds of client the form registers, each by the grant types it is given: a user signs in
 * in the browser (the code flow), on another screen (the device flow), or nobody does (a machine
 * acting as itself, which must keep a secret: RFC 6749 §4.4).
 */
const KINDS = {
  browser: {
    option: 'Web or mobile app: users sign in in the browser',
    grants: ['authorization_code', 'refresh_token'],
  },
  device: {
    option: 'Device or CLI: users sign in on another screen (device code)',
    grants: [DEVICE_CODE_GRANT, 'refresh_token'],
  },
  machine: {
    option: 'Machine: a service acting as itself (client credentials)',
    grants: ['client_credentials'],
  },
} as const satisfies Record<string, { option: string; grants: ClientRegistration['grant_types'] }>;
type Kind = keyof typeof KINDS;

/** A registered client's kinds in the list's words, from its grant types (one client may have several). */
function kindsOf(client: OAuthClient): string {
  const grants = client.grant_types;
  const names = [
    grants.includes('authorization_code') && 'web or mobile app',
    grants.includes(DEVICE_CODE_GRANT) && 'device or CLI',
    grants.includes('client_credentials') && 'machine',
  ].filter(Boolean);
  return names.join(' and ') || 'no sign-in';
}

export function oauthClientsView(): HTMLElement {
  const list = h('ul', { class: 'clients' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'More clients');
  let cursor: string | null = null;

  const kindId = uniqueId('client-kind');
  const kind = h(
    'select',
    { id: kindId, name: 'kind' },
    ...Object.entries(KINDS).map(([value, { option }]) => h('option', { value }, option)),
  );
  const redirectUris = redirectUrisField();
  const clientType = h(
    'div',
    { class: 'field' },
    h('label', { for: 'client-type' }, 'Client type'),
    h(
      'select',
      { id: 'client-type', name: 'token_endpoint_auth_method' },
      h('option', { value: 'client_secret_basic' }, 'Confidential (runs on a server that keeps a secret)'),
      h('option', { value: 'none' }, 'Public (an SPA, a native app or a CLI: no secret)'),
    ),
  );
  const scope = scopeField();
  /** Which fields each kind shows; the others are hidden and disabled, so never sent nor checked. */
  const shownFor: [HTMLElement, Kind[]][] = [
    [redirectUris, ['browser']],
    [clientType, ['browser', 'device']],
    [scope, ['machine']],
  ];
  const showFieldsOf = (chosen: Kind) => {
    for (const [wrapper, kinds] of shownFor) {
      const shown = kinds.includes(chosen);
      wrapper.hidden = !shown;
      for (const control of wrapper.querySelectorAll('input, select, textarea')) {
        (control as HTMLInputElement).disabled = !shown;
      }
    }
  };
  kind.addEventListener('change', () => showFieldsOf(kind.value as Kind));
  showFieldsOf('browser');

  const form = h(
    'form',
    { 'aria-labelledby': 'new-client-heading', novalidate: true },
    h('h3', { id: 'new-client-heading' }, 'Register a client'),
    h('div', { class: 'field' }, h('label', { for: kindId }, 'Kind'), kind),
    field('Client name', 'client_name', 'text', 'off'),
    redirectUris,
    clientType,
    scope,
    alertRegion(),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Register client')),
  );
  const secretSlot = h('div', {});

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const text = (name: string) => String(data.get(name) ?? '').trim();
    const chosen = kind.value as Kind;
    const metadata: ClientRegistration = {
      client_name: text('client_name'),
      grant_types: [...KINDS[chosen].grants],
      // A machine keeps a secret (client credentials are for confidential clients only).
      token_endpoint_auth_method:
        chosen === 'machine'
          ? 'client_secret_basic'
          : (text('token_endpoint_auth_method') as ClientRegistration['token_endpoint_auth_method']),
    };
    if (chosen === 'browser') metadata.redirect_uris = text('redirect_uris').split(/\s+/).filter(Boolean);
    // An empty scope is sent as none: the service then names the scopes a machine needs.
    if (chosen === 'machine' && text('scope')) metadata.scope = text('scope');
    void act(form, async () => {
      const created = await registerOAuthClient(metadata);
      form.reset();
      // The next client is likely of the same kind.
      kind.value = chosen;
      showFieldsOf(chosen);
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
      h(
        'small',
        {},
        ` (${kindsOf(client)}, ${client.token_endpoint_auth_method === 'none' ? 'public' : 'confidential'})`,
      ),
      h('div', {}, h('code', { class: 'wrap' }, client.client_id)),
      client.redirect_uris.length ? h('div', {}, h('small', {}, client.redirect_uris.join(' '))) : null,
      h(
        'div',
        { class: 'buttons' },
        // Only the code flow asks for consent that can be skipped: the device page always asks, machines never.
        client.grant_types.includes('authorization_code')
          ? h('label', { for: skip.id }, skip, ' First-party: skip consent')
          : null,
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

/**
 * A machine's scopes: those of the service's APIs by default, read from its discovery document
 * (the demo's config: `api`), with the accepted ones named below the field.
 */
function scopeField(): HTMLDivElement {
  const wrapper = field('Scope', 'scope', 'text', 'off');
  const input = wrapper.querySelector('input')!;
  const hint = h('p', { id: `${input.id}-hint`, class: 'hint' }, 'Space-separated.');
  input.setAttribute('aria-describedby', `${input.id}-hint ${input.getAttribute('aria-describedby')}`);
  input.after(hint);
  // The default value, not the value: a scope the admin already typed stays (and reset keeps it).
  input.defaultValue = 'api';
  void machineScopes()
    .then((scopes) => {
      const apiScopes = scopes.filter((s) => s !== 'admin');
      if (apiScopes.length) input.defaultValue = apiScopes.join(' ');
      if (scopes.length) hint.textContent = `Space-separated. This service accepts: ${scopes.join(', ')}.`;
    })
    // Without discovery the config's default stays, and the service still judges what is sent.
    .catch(() => {});
  return wrapper;
}
