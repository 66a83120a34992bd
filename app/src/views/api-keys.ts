/**
 * The API keys section: the user's personal API keys (name, scope, when made, last used,
 * expiry) with Revoke on each, and the form to make one, with the current password (and a code
 * when two-factor is on). A new key's secret is shown once, beside its client ID, and never
 * again: the service keeps only its hash.
 */
import type { ApiKey } from 'edge-auth/client';
import { auth, type User } from '../api';
import { act, alertRegion, confirmStep, field, h, say, statusRegion, uniqueId } from '../dom';

const when = (iso: string) => new Date(iso).toLocaleString();
const DAY = 86_400;

export function apiKeysView(user: User): HTMLElement {
  const list = h('ul', { class: 'api-keys', 'aria-labelledby': 'api-keys-heading' });
  const secretSlot = h('div', {});
  const form = createForm();
  const element = h(
    'section',
    { 'aria-labelledby': 'api-keys-heading' },
    h('h2', { id: 'api-keys-heading' }, 'API keys'),
    h(
      'p',
      {},
      'For scripts that act as you: a script trades a key for short-lived access tokens at /oauth/token. Logging out everywhere or changing your password ends every key.',
    ),
    list,
    alertRegion(),
    statusRegion(),
    form,
    secretSlot,
  );

  async function reload(): Promise<void> {
    const keys = await auth.apiKeys.list();
    list.replaceChildren(...(keys.length ? keys.map(item) : [h('li', {}, 'No API keys yet.')]));
  }

  function item(key: ApiKey): HTMLLIElement {
    const used = key.last_used_at ? `last used ${when(key.last_used_at)}` : 'not used yet';
    const expiry = key.expires_at ? `expires ${when(key.expires_at)}` : 'does not expire';
    const revoke = async (event: Event) => {
      const button = event.currentTarget as HTMLElement;
      const sure = await confirmStep(
        button,
        `Revoke the API key “${key.name}”? Scripts using it stop working.`,
        'Revoke',
        { danger: true },
      );
      if (!sure) return;
      await act(element, async () => {
        await auth.apiKeys.revoke(key.id);
        await reload();
        return `API key “${key.name}” revoked.`;
      });
    };
    return h(
      'li',
      {},
      h(
        'span',
        {},
        h('strong', {}, key.name),
        ` (${key.scope})`,
        h('br'),
        h('small', {}, `Made ${when(key.created_at)}, ${used}, ${expiry}`),
      ),
      h(
        'button',
        { type: 'button', class: 'danger', 'aria-label': `Revoke ${key.name}`, onclick: (e) => void revoke(e) },
        'Revoke',
      ),
    );
  }

  function createForm(): HTMLFormElement {
    const headingId = uniqueId('new-api-key');
    const expiryId = uniqueId('expiry');
    const created = h(
      'form',
      { novalidate: true, 'aria-labelledby': headingId },
      h('h3', { id: headingId }, 'Create an API key'),
      field('Name', 'name', 'text', 'off'),
      field('Scope', 'scope', 'text', 'off'),
      h(
        'div',
        { class: 'field' },
        h('label', { for: expiryId }, 'Expires'),
        h(
          'select',
          { id: expiryId, name: 'expires_in' },
          h('option', { value: String(30 * DAY) }, 'In 30 days'),
          h('option', { value: String(365 * DAY) }, 'In a year'),
          h('option', { value: '' }, 'Never'),
        ),
      ),
      field('Current password', 'current_password', 'password', 'current-password'),
      user.mfa_enabled ? field('Code', 'code', 'text', 'one-time-code') : null,
      alertRegion(),
      h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Create API key')),
    );
    const scope = created.querySelector<HTMLInputElement>('input[name="scope"]')!;
    scope.value = 'api';
    // An account made with a passkey has no password: its recent passkey sign-in is the proof.
    created.querySelector('input[name="current_password"]')!.removeAttribute('required');
    created.addEventListener('submit', (event) => {
      event.preventDefault();
      const data = new FormData(created);
      const text = (name: string) => String(data.get(name) ?? '').trim();
      void act(created, async () => {
        const key = await auth.apiKeys.create({
          name: text('name'),
          scope: text('scope'),
          ...(text('expires_in') ? { expiresIn: Number(text('expires_in')) } : {}),
          ...(data.get('current_password') ? { currentPassword: String(data.get('current_password')) } : {}),
          ...(text('code') ? { code: text('code') } : {}),
        });
        created.reset();
        scope.value = 'api';
        secretSlot.replaceChildren(
          h(
            'div',
            { role: 'note', class: 'secret', 'aria-label': `The new API key ${key.name}` },
            h('p', {}, `API key “${key.name}” created. Its client ID:`),
            h('code', { class: 'wrap' }, key.client_id),
            h('p', {}, 'Its secret, shown this once (only a hash is kept): copy it now.'),
            h('code', { class: 'wrap' }, key.client_secret),
          ),
        );
        await reload();
        say(element, `API key “${key.name}” created.`);
      });
    });
    return created;
  }

  void act(element, reload);
  return element;
}
