/**
 * Two-factor sign-in for the signed-in user. Off: set it up, with the current password (the
 * otpauth URI as a QR code and as text, confirmed with a first code; then the recovery codes,
 * shown once). On: new recovery codes, or turn it off, each with the current password and a
 * current code or a recovery code.
 */
import { confirmTotp, disableTotp, newRecoveryCodes, startTotp, type User } from '../api';
import { act, alertRegion, field, h, statusRegion } from '../dom';
import { groupsOfFour } from '../format';
import { qrCode } from '../qr';

export function twoFactorView(user: User): HTMLElement {
  const content = h('div', {});
  const section = h(
    'section',
    { 'aria-labelledby': 'two-factor-heading' },
    h('h2', { id: 'two-factor-heading' }, 'Two-factor authentication'),
    content,
    statusRegion(),
  );
  /**
   * Replaces what the section shows, and moves focus to `focus` (the next thing to do) if given.
   * Every action acts on the whole section, whose status region outlives the forms it replaces.
   */
  const show = (focus: HTMLElement | null, ...nodes: (Node | string)[]) => {
    content.replaceChildren(...nodes);
    focus?.focus();
  };

  function off(focus = false) {
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
      void act(section, async () => setUp(await startTotp(password)));
    });
    show(focus ? form.querySelector('input') : null, form);
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
      void act(section, async () => {
        showCodes(await confirmTotp(code));
        return 'Two-factor authentication is on.';
      });
    });
    show(
      form.querySelector('input'),
      h('p', {}, 'Scan this QR code with your authenticator app, or type the secret in, then enter the code it shows.'),
      qrCode(otpauth_uri, 'QR code for your authenticator app'),
      h('p', {}, 'Secret: ', h('code', { class: 'secret' }, groupsOfFour(secret))),
      h('details', {}, h('summary', {}, 'otpauth URI'), h('code', { class: 'wrap' }, otpauth_uri)),
      form,
    );
  }

  function showCodes(codes: string[]) {
    const intro = h(
      'p',
      { tabindex: '-1' },
      'Store these recovery codes somewhere safe. Each works once, and they are shown only now.',
    );
    show(
      intro,
      intro,
      h('ul', { class: 'recovery-codes', 'aria-label': 'Recovery codes' }, ...codes.map((c) => h('li', {}, c))),
      h('div', { class: 'buttons' }, h('button', { type: 'button', onclick: () => on(true) }, 'Done')),
    );
  }

  function on(focus = false) {
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
      void act(section, async () => {
        if (turningOff) {
          await disableTotp(code, password);
          off(true);
          return 'Two-factor authentication is off.';
        }
        showCodes(await newRecoveryCodes(code, password));
        return 'New recovery codes; the old ones no longer work.';
      });
    });
    show(focus ? form.querySelector('input') : null, form);
  }

  if (user.mfa_enabled) on();
  else off();
  return section;
}
