/**
 * The few DOM helpers the views share. Text always goes in as text nodes (never innerHTML), so
 * a username or a problem's detail can never become markup.
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

/**
 * A labelled input with a place for its field error, tied to it by aria-describedby so a screen
 * reader reads the error with the field (outside the label, which stays the field's name).
 * `name` is the request field it fills, e.g. `new_password`.
 */
export function field(label: string, name: string, type: string, autocomplete: string): HTMLDivElement {
  const id = `field-${++ids}`;
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    h('input', { id, name, type, autocomplete, required: true, 'aria-describedby': `${id}-error` }),
    h('p', { id: `${id}-error`, class: 'field-error', 'data-error-for': name, hidden: true }),
  );
}

/** An empty alert region; shown only when it has something to say. */
export const alertRegion = () => h('p', { role: 'alert', hidden: true });

const statusRegion = () => document.getElementById('status')!;

/** A status message (role="status"), announced politely by screen readers. */
export function announce(message: string): void {
  statusRegion().textContent = message;
}

function clearErrors(scope: ParentNode) {
  for (const alert of scope.querySelectorAll<HTMLElement>('[role="alert"]')) {
    alert.textContent = '';
    alert.hidden = true;
  }
  for (const input of scope.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  for (const message of scope.querySelectorAll<HTMLElement>('[data-error-for]')) {
    message.textContent = '';
    message.hidden = true;
  }
}

/**
 * Shows a failure: the problem's `detail` in the scope's alert region, and each entry of its
 * `errors` next to the field it names. Anything else (the network is down) gets a plain message.
 */
function showError(scope: ParentNode, err: unknown) {
  const alert = scope.querySelector<HTMLElement>('[role="alert"]') ?? document.getElementById('alert')!;
  alert.textContent =
    err instanceof EdgeAuthError ? err.problem.detail : 'The service could not be reached. Try again.';
  alert.hidden = false;
  if (!(err instanceof EdgeAuthError)) {
    console.error(err);
    return;
  }
  for (const { field: name, message } of err.problem.errors ?? []) {
    const slot = scope.querySelector<HTMLElement>(`[data-error-for="${CSS.escape(name)}"]`);
    if (!slot) continue;
    slot.textContent = message;
    slot.hidden = false;
    scope.querySelector(`[name="${CSS.escape(name)}"]`)?.setAttribute('aria-invalid', 'true');
  }
}

/**
 * Runs a user's action: clears the errors of its scope (a form, or the whole page), keeps the
 * buttons of the scope disabled meanwhile, and shows what went wrong if it fails.
 */
export async function act(scope: HTMLElement, action: () => Promise<void>): Promise<void> {
  clearErrors(scope);
  const pageAlert = document.getElementById('alert')!;
  pageAlert.textContent = '';
  pageAlert.hidden = true;
  announce('');
  const buttons = [...scope.querySelectorAll('button')].filter((b) => !b.disabled);
  for (const button of buttons) button.disabled = true;
  try {
    await action();
  } catch (err) {
    showError(scope, err);
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}
