/**
 * The steps of the hosted OAuth pages: sign in, the second factor, consent, and the end (back to
 * the application, or on the device page, back to the device). The Worker decides every step
 * (src/oauth/authorize-flow.ts, src/oauth/device-flow.ts); a page renders the one it is given
 * and sends back what the user did. The sign-in page (sign-in.ts) and the device page
 * (device.ts) share them.
 *
 * The sign-in view offers a password (then the second factor) and passkeys: a button, and the
 * Username field's autofill (conditional mediation). A passkey verifies its user, so it needs
 * no second step.
 */
import { EdgeAuthError, webauthn } from 'edge-auth/client';
import { act, alertRegion, announce, field, h, secondFactorForm } from '../src/dom';
import { ceremony, startAutofill, stopAutofill } from '../src/passkey-ui';
import { clientLine, leave, post, show } from './page';

type Client = { name: string; logo_uri?: string; self_registered?: true };
export type Step =
  | { step: 'sign_in'; client: Client; login_hint?: string }
  | { step: 'consent'; client: Client; user: { username: string }; scopes: { scope: string; description: string }[] }
  | { step: 'redirect'; redirect_to: string }
  | { step: 'device_done'; approved: boolean };

/** On the device page: the code the user entered, shown again where they allow the device. */
let deviceCode: string | undefined;
export const forDevice = (code: string) => (deviceCode = code);

export function render(step: Step): void {
  if (step.step !== 'sign_in') stopAutofill();
  if (step.step === 'sign_in') show(signInView(step.client, step.login_hint));
  else if (step.step === 'consent') show(consentView(step));
  else if (step.step === 'device_done') show(deviceDone(step.approved));
  else {
    announce('Taking you back to the application…');
    leave(step.redirect_to);
  }
}

function signInView(client: Client, loginHint?: string): HTMLElement {
  const methods: HTMLElement[] = [passwordForm(client, loginHint)];
  startAutofill(methods[0]!, async (signal) => render(await passkeySignIn({ mediation: 'conditional', signal })));
  return h(
    'section',
    { 'aria-labelledby': 'sign-in-heading' },
    h('h2', { id: 'sign-in-heading' }, 'Sign in'),
    clientLine(client, 'to continue to ', '.'),
    ...methods,
  );
}

/** Username and password, answered as /auth/login answers: the same errors, throttling and lockout. */
function passwordForm(client: Client, loginHint?: string): HTMLFormElement {
  const form: HTMLFormElement = h(
    'form',
    { novalidate: true },
    // `webauthn`: the browser offers passkeys in this field's autofill.
    field('Username', 'username', 'text', 'username webauthn'),
    field('Password', 'password', 'password', 'current-password'),
    alertRegion(),
    h(
      'div',
      { class: 'buttons' },
      h('button', { type: 'submit' }, 'Log in'),
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          onclick: () =>
            act(form, async () => {
              stopAutofill();
              render(await ceremony('sign-in', () => passkeySignIn({})));
            }),
        },
        'Sign in with a passkey',
      ),
    ),
  );
  if (loginHint) form.querySelector<HTMLInputElement>('input[name="username"]')!.value = loginHint;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const credentials = { username: String(data.get('username')), password: String(data.get('password')) };
    void act(form, async () => {
      try {
        render(await post<Step>('/oauth/interaction/sign-in', credentials));
      } catch (err) {
        if (!(err instanceof EdgeAuthError && err.code === 'mfa_required')) throw err;
        show(codeView(client, String(err.problem.mfa_token), () => show(signInView(client, credentials.username))));
      }
    });
  });
  return form;
}

/**
 * A passkey sign-in without a username: the service's options, the browser's prompt (or its
 * autofill), and the answer checked by the Worker for this interaction, which answers the next step.
 */
async function passkeySignIn(options: { mediation?: 'conditional'; signal?: AbortSignal }): Promise<Step> {
  const json = await post<Record<string, unknown>>('/auth/passkeys/sign-in/options', {});
  const credential = await navigator.credentials.get({
    publicKey: webauthn.requestOptions(json) as PublicKeyCredentialRequestOptions,
    ...options,
  });
  if (!credential) throw new DOMException('No passkey was chosen.', 'NotAllowedError');
  return post<Step>('/oauth/interaction/passkey', { credential: webauthn.credentialJson(credential) });
}

/** The second step of a sign-in with two-factor on: a TOTP code or a recovery code. */
function codeView(client: Client, mfaToken: string, back: () => void): HTMLElement {
  const form = secondFactorForm(back, async (code) =>
    render(await post<Step>('/oauth/interaction/verify', { mfa_token: mfaToken, code })),
  );
  return h('section', { 'aria-label': `Sign in to continue to ${client.name}` }, form);
}

function consentView(step: Extract<Step, { step: 'consent' }>): HTMLElement {
  const decide = (decision: 'allow' | 'deny') => () =>
    act(section, async () => render(await post<Step>('/oauth/interaction/consent', { decision })));
  const section: HTMLElement = h(
    'section',
    { 'aria-labelledby': 'consent-heading' },
    h('h2', { id: 'consent-heading' }, `Allow ${step.client.name} access?`),
    clientLine(step.client, '', ' asks to:'),
    h('ul', { class: 'scopes' }, ...step.scopes.map((s) => h('li', {}, s.description))),
    step.client.self_registered
      ? h(
          'p',
          { class: 'note' },
          'This application registered itself: its name is its own claim. Allow only if you started this sign-in from it.',
        )
      : null,
    h(
      'p',
      {},
      'You are signed in as ',
      h('strong', {}, step.user.username),
      '. ',
      h(
        'button',
        { type: 'button', class: 'link-button', onclick: () => show(signInView(step.client)) },
        'Use another account',
      ),
    ),
    // RFC 8628 §5.4: a device code can be started by anyone and its link sent to you.
    deviceCode
      ? h(
          'p',
          { class: 'note' },
          'Allow only if you started this on a device in front of you and it shows the code ',
          h('strong', { class: 'user-code' }, deviceCode),
          '.',
        )
      : null,
    alertRegion(),
    h(
      'div',
      { class: 'buttons' },
      h('button', { type: 'button', onclick: decide('allow') }, 'Allow'),
      h('button', { type: 'button', class: 'secondary', onclick: decide('deny') }, 'Deny'),
    ),
  );
  return section;
}

const deviceDone = (approved: boolean) =>
  h(
    'section',
    { 'aria-labelledby': 'done-heading' },
    h('h2', { id: 'done-heading' }, approved ? 'Device allowed' : 'Device denied'),
    h(
      'p',
      {},
      approved
        ? 'You can go back to your device: it is signing in now. You can close this page.'
        : 'The device was not given access. You can close this page.',
    ),
  );
