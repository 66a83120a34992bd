/**
 * Two-factor sign-in for the signed-in user. Off: set it up, with the current password (the
 * otpauth URI as a QR code and as text, confirmed with a first code; then the recovery codes,
 * shown once). On: new recovery codes, or turn it off, each with the current password and a
 * current code or a recovery code.
 */
import { confirmTotp, disableTotp, newRecoveryCodes, startTotp, type User } from '../api';
import { act, alertRegion, announce, field, h } from '../dom';
import { qrCode } from '../qr';

export function twoFactorView(user: User): HTMLElement {
  const section = h('section', { 'aria-labelledby': 'two-factor-heading' });
  const show = (...content: (Node | string)[]) =>
    section.replaceChildren(h('h2', { id: 'two-factor-heading' }, 'Two-factor authentication'), ...content);

  function off() {
    const form = h(
      'form',
      { novalidate: true },
      h('p', {}, 'Off: a password alone signs you in.'),
      field('Current password', 'current_password', 'password', 'current-password'),
      alertRegion(),
      h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Set up two-factor authentication')),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const password = String(new FormData(form).get('current_password'));
      void act(form, async () => setUp(await startTotp(password)));
    });
    show(form);
  }

  function setUp({ secret, otpauth_uri }: { secret: string; otpauth_uri: string }) {
    const form = h(
      'form',
      { novalidate: true },
      field('Code', 'code', 'text', 'one-time-code'),
      alertRegion(),
      h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Turn on two-factor authentication')),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const code = String(new FormData(form).get('code')).trim();
      void act(form, async () => {
        const codes = await confirmTotp(code);
        announce('Two-factor authentication is on.');
        showCodes(codes);
      });
    });
    show(
      h('p', {}, 'Scan this QR code with your authenticator app, or type the secret in, then enter the code it shows.'),
      qrCode(otpauth_uri, 'QR code for your authenticator app'),
      h('p', {}, 'Secret: ', h('code', {}, secret)),
      h('details', {}, h('summary', {}, 'otpauth URI'), h('code', { class: 'wrap' }, otpauth_uri)),
      form,
    );
  }

  function showCodes(codes: string[]) {
    show(
      h('p', {}, 'Store these recovery codes somewhere safe. Each works once, and they are shown only now.'),
      h('ul', { class: 'recovery-codes', 'aria-label': 'Recovery codes' }, ...codes.map((c) => h('li', {}, c))),
      h('div', { class: 'buttons' }, h('button', { type: 'button', onclick: on }, 'Done')),
    );
  }

  function on() {
    const form = h(
      'form',
      { novalidate: true },
      h('p', {}, 'On: signing in asks for a code from your authenticator app.'),
      field('Code or recovery code', 'code', 'text', 'one-time-code'),
      field('Current password', 'current_password', 'password', 'current-password'),
      alertRegion(),
      h(
        'div',
        { class: 'buttons' },
        h('button', { type: 'submit', value: 'codes', class: 'secondary' }, 'New recovery codes'),
        h('button', { type: 'submit', value: 'off', class: 'danger' }, 'Turn off two-factor authentication'),
      ),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const turningOff = (event.submitter as HTMLButtonElement | null)?.value === 'off';
      const data = new FormData(form);
      const code = String(data.get('code')).trim();
      const password = String(data.get('current_password'));
      void act(form, async () => {
        if (turningOff) {
          await disableTotp(code, password);
          announce('Two-factor authentication is off.');
          off();
        } else {
          showCodes(await newRecoveryCodes(code, password));
          announce('New recovery codes; the old ones no longer work.');
        }
      });
    });
    show(form);
  }

  if (user.mfa_enabled) on();
  else off();
  return section;
}
