/**
 * Passkeys in the demo: signing in with one (a button, and the browser's autofill on the
 * Username field), creating an account with one, and the signed-in user's Passkeys section
 * (add, rename, remove; and a first password for an account made with a passkey).
 *
 * The ceremonies run through the client (`auth.passkeys`); the browser's refusals are put into
 * plain words by passkey-ui.ts, which the OAuth provider's hosted sign-in page shares.
 */
import { EdgeAuthError, type Passkey } from 'edge-auth/client';
import { auth, type User } from '../api';
import { act, alertRegion, announce, confirmStep, field, h, say, statusRegion, uniqueId } from '../dom';
import { ceremony, startAutofill, stopAutofill } from '../passkey-ui';

/**
 * Starts the autofill sign-in for `form` (passkey-ui.ts), whose Username field has
 * `autocomplete="username webauthn"`: the browser lists passkeys among the saved usernames.
 */
export function startDemoAutofill(form: HTMLElement): void {
  startAutofill(form, async (signal) => {
    await auth.passkeys.signIn({ mediation: 'conditional', signal });
    announce('Signed in with a passkey.');
  });
}

/** The "Sign in with a passkey" button of the log-in form: no username needed. */
export function passkeySignInButton(form: () => HTMLElement): HTMLButtonElement {
  return h(
    'button',
    {
      type: 'button',
      class: 'secondary',
      onclick: () =>
        act(form(), async () => {
          stopAutofill();
          await ceremony('sign-in', () => auth.passkeys.signIn());
          announce('Signed in with a passkey.');
        }),
    },
    'Sign in with a passkey',
  );
}

/** The "Create account with a passkey" button of the create-account form: its Username, no password. */
export function passkeySignUpButton(form: () => HTMLFormElement): HTMLButtonElement {
  return h(
    'button',
    {
      type: 'button',
      class: 'secondary',
      onclick: () => {
        const username = String(new FormData(form()).get('username') ?? '');
        void act(form(), async () => {
          stopAutofill();
          await ceremony('create', () => auth.passkeys.signUp({ username }));
          announce('Account created with a passkey; you are signed in.');
        });
      },
    },
    'Create account with a passkey',
  );
}

// --- signed in ---

const when = (iso: string) => new Date(iso).toLocaleString();

/**
 * The Passkeys section: the user's passkeys with Rename and Remove, the form to add one (with
 * the current password, and a code when two-factor is on, unless the account has no password),
 * and, for an account without a password, the form to add one.
 */
export function passkeysView(user: User): HTMLElement {
  stopAutofill();
  const list = h('ul', { class: 'passkeys', 'aria-labelledby': 'passkeys-heading' });
  const forms = h('div', {});
  const element = h(
    'section',
    { 'aria-labelledby': 'passkeys-heading' },
    h('h2', { id: 'passkeys-heading' }, 'Passkeys'),
    list,
    forms,
    alertRegion(),
    statusRegion(),
  );

  async function reload(): Promise<void> {
    const { passkeys, password } = await auth.passkeys.list();
    list.replaceChildren(
      ...(passkeys.length ? passkeys.map((p) => item(p, password)) : [h('li', {}, 'No passkeys yet.')]),
    );
    forms.replaceChildren(addForm(password), ...(password ? [] : [passwordForm()]));
  }

  function item(passkey: Passkey, password: boolean): HTMLLIElement {
    const kind = passkey.device_type === 'multi_device' ? 'synced' : 'on one device';
    const used = passkey.last_used_at ? `last used ${when(passkey.last_used_at)}` : 'not used yet';
    const li: HTMLLIElement = h(
      'li',
      {},
      h(
        'span',
        {},
        h('strong', {}, passkey.name),
        ` (${kind})`,
        h('br'),
        h('small', {}, `Added ${when(passkey.created_at)}, ${used}`),
      ),
      h(
        'span',
        { class: 'buttons' },
        h(
          'button',
          { type: 'button', class: 'secondary', 'aria-label': `Rename ${passkey.name}`, onclick: () => rename() },
          'Rename',
        ),
        h(
          'button',
          { type: 'button', class: 'danger', 'aria-label': `Remove ${passkey.name}`, onclick: (e) => remove(e) },
          'Remove',
        ),
      ),
    );

    function rename() {
      const form = h(
        'form',
        { novalidate: true, 'aria-label': `Rename ${passkey.name}` },
        field('Name', 'name', 'text', 'off'),
        alertRegion(),
        h(
          'div',
          { class: 'buttons' },
          h('button', { type: 'submit' }, 'Save'),
          h('button', { type: 'button', class: 'secondary', onclick: () => form.replaceWith(li) }, 'Cancel'),
        ),
      );
      const input = form.querySelector('input')!;
      input.value = passkey.name;
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        void act(form, async () => {
          await auth.passkeys.rename(passkey.id, input.value);
          await reload();
          say(element, 'Passkey renamed.');
        });
      });
      li.replaceChildren(form);
      input.select();
    }

    async function remove(event: Event) {
      const button = event.currentTarget as HTMLElement;
      const sure = await confirmStep(
        button,
        `Remove the passkey “${passkey.name}”? It will no longer sign you in.`,
        'Remove',
        {
          danger: true,
        },
      );
      if (!sure) return;
      await act(element, async () => {
        try {
          await auth.passkeys.remove(passkey.id);
        } catch (err) {
          // Not signed in recently: a password account may confirm with its password instead.
          if (!(password && err instanceof EdgeAuthError && err.problem.code === 'reauthentication_required'))
            throw err;
          li.replaceChildren(confirmWithPassword());
          return;
        }
        await reload();
        return 'Passkey removed.';
      });
    }

    function confirmWithPassword(): HTMLFormElement {
      const form = h(
        'form',
        { novalidate: true, 'aria-label': `Remove ${passkey.name}` },
        h('p', {}, `To remove “${passkey.name}”, enter your current password.`),
        field('Current password', 'current_password', 'password', 'current-password'),
        alertRegion(),
        h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'danger' }, 'Remove')),
      );
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        const currentPassword = String(new FormData(form).get('current_password'));
        void act(form, async () => {
          await auth.passkeys.remove(passkey.id, { currentPassword });
          await reload();
          say(element, 'Passkey removed.');
        });
      });
      queueMicrotask(() => form.querySelector('input')?.focus());
      return form;
    }

    return li;
  }

  function addForm(password: boolean): HTMLFormElement {
    const headingId = uniqueId('add-passkey');
    const form = h(
      'form',
      { novalidate: true, 'aria-labelledby': headingId },
      h('h3', { id: headingId }, 'Add a passkey'),
      password
        ? field('Current password', 'current_password', 'password', 'current-password')
        : h('p', {}, 'Your account has no password: a passkey sign-in in the last five minutes is the proof.'),
      password && user.mfa_enabled ? field('Code', 'code', 'text', 'one-time-code') : null,
      alertRegion(),
      h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Add a passkey')),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const currentPassword = data.get('current_password');
      const code = data.get('code');
      void act(form, async () => {
        const passkey = await ceremony('create', () =>
          auth.passkeys.register({
            ...(currentPassword !== null ? { currentPassword: String(currentPassword) } : {}),
            ...(code !== null ? { code: String(code).trim() } : {}),
          }),
        );
        await reload();
        say(element, `Passkey added: “${passkey.name}”. You can sign in with it now.`);
      });
    });
    return form;
  }

  function passwordForm(): HTMLFormElement {
    const headingId = uniqueId('add-password');
    const form = h(
      'form',
      { novalidate: true, 'aria-labelledby': headingId },
      h('h3', { id: headingId }, 'Add a password'),
      h('p', {}, 'Your account was made with a passkey and has no password.'),
      field('New password', 'new_password', 'password', 'new-password'),
      alertRegion(),
      h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Add a password')),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const newPassword = String(new FormData(form).get('new_password'));
      void act(form, async () => {
        await auth.passkeys.addPassword(newPassword);
        await reload();
        say(element, 'Password added: you can sign in with it too.');
      });
    });
    return form;
  }

  void act(element, reload);
  return element;
}
