/**
 * The device page of the OAuth provider (/oauth/device, RFC 8628's `verification_uri`): the
 * user types the code their device shows, then signs in and answers Allow or Deny as on the
 * sign-in page (flow.ts). Followed from `verification_uri_complete`, the code is filled in from
 * `?user_code=`, and the user still confirms it with Continue (RFC 8628 §3.3.1): a link alone
 * must not connect a device.
 */
import { act, alertRegion, field, h } from '../src/dom';
import { forDevice, render, type Step } from './flow';
import { post, show, useInteraction } from './page';

/** As the device shows it: letters only, upper case, `XXXX-XXXX` once complete. */
function shown(input: string): string {
  const letters = input.replace(/[^a-z]/gi, '').toUpperCase();
  return letters.length === 8 ? `${letters.slice(0, 4)}-${letters.slice(4)}` : input.trim();
}

function codeEntry(prefill: string): HTMLElement {
  const form = h(
    'form',
    { 'aria-labelledby': 'device-heading', novalidate: true },
    field('Code', 'user_code', 'text', 'off'),
    alertRegion(),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Continue')),
  );
  const input = form.querySelector('input')!;
  input.value = shown(prefill);
  input.setAttribute('autocapitalize', 'characters');
  input.spellcheck = false;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const code = shown(input.value);
    void act(form, async () => {
      const { interaction } = await post<{ interaction: string }>('/oauth/interaction/device', { user_code: code });
      useInteraction(interaction);
      forDevice(code);
      render(await post<Step>('/oauth/interaction/next', {}));
    });
  });
  return h(
    'section',
    { 'aria-labelledby': 'device-heading' },
    h('h2', { id: 'device-heading' }, 'Connect a device'),
    h('p', {}, 'Enter the code your device shows. It is 8 letters, like BCDF-GHJK.'),
    form,
  );
}

show(codeEntry(new URLSearchParams(location.search).get('user_code') ?? ''));
