/**
 * What the hosted OAuth pages share: their interaction id, the JSON calls to the Worker, and
 * showing a view. The calls are same-origin `fetch`es with a JSON body: the Worker refuses any
 * other origin (src/http/middleware/same-origin.ts), and the cookies they carry (the browser's
 * refresh cookie, the interaction cookie) are SameSite. A refused call throws the problem
 * document as an EdgeAuthError, which the demo app's `act()` shows beside the fields it names.
 */
import { EdgeAuthError, type ProblemDocument } from 'edge-auth/client';
import { h } from '../src/dom';

/**
 * The interaction this page completes: the authorization or logout endpoint put it in the URL;
 * the device page gets one for the code the user enters (useInteraction).
 */
let interaction = new URLSearchParams(location.search).get('interaction') ?? '';
export const useInteraction = (id: string) => (interaction = id);

export async function post<T>(path: string, body: Record<string, unknown>): Promise<T> {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ interaction, ...body }),
  });
  const data: unknown = await response.json().catch(() => null);
  if (response.ok) return data as T;
  if (data && typeof data === 'object' && 'code' in data) throw new EdgeAuthError(data as ProblemDocument);
  throw new EdgeAuthError({
    type: 'about:blank',
    title: response.statusText,
    status: response.status,
    detail: `The service answered ${response.status}. Try again.`,
    code: 'unexpected_response',
  });
}

const root = () => document.getElementById('app')!;

/**
 * Shows a view and moves focus to its heading, so a screen reader announces where the user is
 * now and the keyboard starts from there.
 */
export function show(view: HTMLElement): void {
  root().replaceChildren(view);
  const heading = view.querySelector<HTMLElement>('h2');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

/** A failure with no form left to show it beside (the request expired): the page's alert. */
export function fail(err: unknown): void {
  root().replaceChildren();
  const alert = document.getElementById('alert')!;
  alert.textContent =
    err instanceof EdgeAuthError
      ? err.problem.detail
      : 'The service could not be reached. Reload the page to try again.';
  alert.hidden = false;
}

/** A line naming the client: its logo (https only, checked by the Worker), then `before`, its name, `after`. */
export function clientLine(
  client: { name: string; logo_uri?: string | undefined },
  before: string,
  after: string,
): HTMLElement {
  return h(
    'p',
    { class: 'client' },
    client.logo_uri ? h('img', { src: client.logo_uri, alt: '' }) : null,
    h('span', {}, before, h('strong', { class: 'client-name' }, client.name), after),
  );
}

/** Leaves the page for `url` (back to the application); replace: Back must not return to a spent page. */
export function leave(url: string): void {
  location.replace(url);
}
