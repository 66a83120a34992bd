/**
 * The few DOM helpers the views share. Text always goes in as text nodes (never innerHTML), so
 * a username or a problem's detail can never become markup.
 *
 * Feedback is local: every scope a user acts in (a form, a section, a table row) carries its
 * own alert and status regions, so the answer to a click appears beside what was clicked.
 */
import { EdgeAuthError } from 'edge-auth/client';

type Child = Node | string | null | undefined | false;
type Props = Record<string, string | boolean | ((event: Event) => void) | undefined>;

/** `h('button', { type: 'button', onclick }, 'Log out')`: an element with attributes, handlers and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) element.setAttribute(name, '');
    else if (typeof value === 'string') element.setAttribute(name, value);
  }
  element.append(...children.filter((child): child is Node | string => Boolean(child)));
  return element;
}

let ids = 0;
export const uniqueId = (prefix: string) => `${prefix}-${++ids}`;

/**
 * A labelled input with a place for its field error, tied to it by aria-describedby so a screen
 * reader reads the error with the field (outside the label, which stays the field's name).
 * `name` is the request field it fills, e.g. `new_password`; `alsoFills` names other request
 * fields whose errors belong here (the code field sends `code` or `recovery_code`).
 */
export function field(
  label: string,
  name: string,
  type: string,
  autocomplete: string,
  alsoFills: string[] = [],
): HTMLDivElement {
  const id = uniqueId('field');
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    h('input', { id, name, type, autocomplete, required: true, 'aria-describedby': `${id}-error` }),
    h('p', { id: `${id}-error`, class: 'field-error', 'data-error-for': [name, ...alsoFills].join(' '), hidden: true }),
  );
}

/** An empty alert region; shown only when it has something to say. */
export const alertRegion = () => h('p', { role: 'alert', hidden: true });

/** A status region for the outcome of an action in its scope, announced politely. */
export const statusRegion = () => h('p', { role: 'status', class: 'feedback' });

/** The scope's own regions: the first of each inside it, else the page's. */
const alertOf = (scope: ParentNode) =>
  scope.querySelector<HTMLElement>('[role="alert"]') ?? document.getElementById('alert')!;
const statusOf = (scope: ParentNode) =>
  scope.querySelector<HTMLElement>('[role="status"]') ?? document.getElementById('status')!;

/** A page-wide status message: for changes of the whole view (signed in, signed out). */
export function announce(message: string): void {
  document.getElementById('status')!.textContent = message;
}

/** A status message in `scope`'s own status region, next to the control that caused it. */
export function say(scope: ParentNode, message: string): void {
  statusOf(scope).textContent = message;
}

function clearFeedback(scope: ParentNode) {
  for (const alert of [alertOf(scope), document.getElementById('alert')!]) {
    alert.textContent = '';
    alert.hidden = true;
  }
  statusOf(scope).textContent = '';
  announce('');
  for (const input of scope.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  for (const message of scope.querySelectorAll<HTMLElement>('[data-error-for]')) {
    message.textContent = '';
    message.hidden = true;
  }
}

/**
 * Shows a failure: the problem's `detail` in the scope's alert region, and each entry of its
 * `errors` next to the field it names, marked invalid; focus moves to the first invalid field.
 * Errors for no field of the scope join the alert. Anything else (the network is down) gets a
 * plain message.
 */
export function showFailure(scope: HTMLElement, err: unknown): void {
  const alert = alertOf(scope);
  if (!(err instanceof EdgeAuthError)) {
    console.error(err);
    alert.textContent = 'The service could not be reached. Try again.';
    alert.hidden = false;
    return;
  }
  const unplaced: string[] = [];
  for (const { field: name, message } of err.problem.errors ?? []) {
    const slot = scope.querySelector<HTMLElement>(`[data-error-for~="${CSS.escape(name)}"]`);
    const input = slot?.closest('.field')?.querySelector('input, select');
    if (!slot || !input) {
      unplaced.push(message);
      continue;
    }
    // Two errors of one field (too short and too common) are read as one description.
    slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
    slot.hidden = false;
    input.setAttribute('aria-invalid', 'true');
  }
  alert.textContent = [err.problem.detail, ...unplaced].join(' ');
  alert.hidden = false;
  scope.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
}

/**
 * Runs a user's action: clears the feedback of its scope (a form, a section, a row), keeps the
 * scope's buttons disabled meanwhile, and shows the outcome there: the message the action
 * returns in the scope's status region, or what went wrong in its alert region. A scope the
 * action removed from the page (the session ended and the view changed) shows nothing.
 */
export async function act(scope: HTMLElement, action: () => Promise<string | void>): Promise<void> {
  clearFeedback(scope);
  const buttons = [...scope.querySelectorAll('button')].filter((b) => !b.disabled);
  for (const button of buttons) button.disabled = true;
  try {
    const message = await action();
    if (message && scope.isConnected) say(scope, message);
  } catch (err) {
    if (scope.isConnected) showFailure(scope, err);
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}

/**
 * Asks before a consequential change: a modal dialog (the browser's own <dialog>: focus moves
 * into it and stays there, Escape cancels) with `question` and two buttons. Resolves to whether
 * the user confirmed; focus then returns to `from`, the control that asked.
 */
export function confirmStep(
  from: HTMLElement,
  question: string,
  confirmLabel: string,
  options: { danger?: boolean } = {},
): Promise<boolean> {
  const id = uniqueId('confirm');
  // A destructive confirmation starts on Cancel, so a stray Enter does not destroy.
  const dialog = h(
    'dialog',
    { 'aria-labelledby': id, class: 'confirm' },
    h('p', { id }, question),
    h(
      'form',
      { method: 'dialog', class: 'buttons' },
      h('button', { value: 'confirm', class: options.danger ? 'danger' : undefined }, confirmLabel),
      h('button', { value: 'cancel', class: 'secondary', autofocus: options.danger }, 'Cancel'),
    ),
  );
  document.body.append(dialog);
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      dialog.remove();
      from.focus();
      resolve(dialog.returnValue === 'confirm');
    });
  });
}

/**
 * The second step of a sign-in with two-factor on, in the demo and on the hosted sign-in page
 * alike: a TOTP code or a recovery code, handed to `verify`; Cancel goes `back`.
 */
export function secondFactorForm(back: () => void, verify: (code: string) => Promise<void>): HTMLFormElement {
  const heading = uniqueId('second-step');
  const form = h(
    'form',
    { 'aria-labelledby': heading, novalidate: true },
    h('h2', { id: heading }, 'Two-factor authentication'),
    h('p', {}, 'Enter the 6-digit code from your authenticator app, or one of your recovery codes.'),
    field('Code', 'code', 'text', 'one-time-code', ['recovery_code']),
    alertRegion(),
    h(
      'div',
      { class: 'buttons' },
      h('button', { type: 'submit' }, 'Verify'),
      h('button', { type: 'button', class: 'secondary', onclick: back }, 'Cancel'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const code = String(new FormData(form).get('code')).trim();
    void act(form, () => verify(code));
  });
  return form;
}
