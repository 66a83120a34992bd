/**
 * What every page that offers passkeys shares (the demo app, the OAuth provider's hosted
 * sign-in page): the browser's refusals in plain words, and the sign-in offered in a Username
 * field's autofill (conditional mediation).
 *
 * A refusal by the service arrives as an EdgeAuthError, whose detail the pages show; the
 * browser's own failures (a cancelled or timed-out prompt, an authenticator that already holds
 * a passkey) arrive as DOMExceptions, put into words here.
 */
import { EdgeAuthError, webauthn } from 'edge-auth/client';
import { showFailure } from './dom';

export type Ceremony = 'sign-in' | 'create';

/** What the browser's WebAuthn errors mean to the person in front of it. */
function inPlainWords(err: DOMException, ceremony: Ceremony): string {
  switch (err.name) {
    case 'NotAllowedError':
      return ceremony === 'sign-in'
        ? 'No passkey was used: the prompt was closed, timed out, or this device has no passkey for this site.'
        : 'No passkey was made: the prompt was closed or timed out.';
    case 'InvalidStateError':
      return 'This device already holds a passkey for this account.';
    case 'SecurityError':
      return `Passkeys do not work at ${location.hostname}: open this page at http://localhost${location.port ? `:${location.port}` : ''} or at its https:// address.`;
    case 'NotSupportedError':
      return 'This browser or device cannot make a passkey the service accepts.';
    default:
      return `The passkey could not be used (${err.name}).`;
  }
}

/** A browser's DOMException as a failure the pages show (in plain words); anything else as it is. */
export function asFailure(err: unknown, ceremony: Ceremony): unknown {
  if (!(err instanceof DOMException)) return err;
  return new EdgeAuthError({
    type: 'about:blank',
    title: 'Passkey prompt',
    status: 0,
    detail: inPlainWords(err, ceremony),
    code: 'unexpected_response',
  });
}

/** Runs a ceremony; a failure of the browser's leaves in plain words. */
export async function ceremony<T>(kind: Ceremony, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw asFailure(err, kind);
  }
}

/** The autofill sign-in of the page, while its sign-in form is shown. */
let autofill: AbortController | null = null;

/** Stops the autofill sign-in: a browser runs one WebAuthn request at a time. */
export function stopAutofill(): void {
  autofill?.abort();
  autofill = null;
}

/** Browsers refuse IP addresses as the relying party: passkeys are offered by name only. */
const onIpAddress = () => /^[\d.]+$|^\[/.test(location.hostname);

/**
 * Offers passkeys in the autofill of `form`'s Username field (`autocomplete="username
 * webauthn"`): `signIn(signal)` runs a sign-in with `mediation: 'conditional'`, which the
 * browser answers when the user picks a passkey there. It runs until used, or until another
 * ceremony or view stops it. A refusal is shown and not retried on its own (the page's button
 * is there for another try): a device that answers at once would otherwise try again and again.
 */
export function startAutofill(form: HTMLElement, signIn: (signal: AbortSignal) => Promise<void>): void {
  stopAutofill();
  if (onIpAddress()) return;
  const controller = new AbortController();
  autofill = controller;
  void (async () => {
    if (!(await webauthn.conditionalMediationAvailable()) || controller.signal.aborted) return;
    try {
      await signIn(controller.signal);
    } catch (err) {
      if (controller.signal.aborted || (err instanceof DOMException && err.name === 'AbortError')) return;
      if (form.isConnected) showFailure(form, asFailure(err, 'sign-in'));
    }
  })();
}
