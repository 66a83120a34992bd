/**
 * Passkeys on the OAuth provider's hosted sign-in page (POST /oauth/interaction/passkey): the
 * same sign-in as POST /auth/passkeys/sign-in/verify, tied to the pending authorization, and
 * recorded as such in the ID token (`amr: ["hwk", "user"]`).
 */
import { describe, expect, it } from 'vitest';
import { enrolTotp, expectProblem, PASSWORD, signedIn } from './helpers';
import { Browser, authorizeParams, callbackParams, newClient, CALLBACK } from './oauth-browser';
import { exchange, jwtPart, pkce, provider, type RegisteredClient } from './oauth-helpers';
import { addPasskey, signInResponse } from './passkey-support';
import { newCredential } from './webauthn';

const p = await provider();

async function pending() {
  const { clientId, clientSecret } = await newClient({}, { skipConsent: true });
  const browser = new Browser();
  const { verifier, challenge } = await pkce();
  const interaction = await browser.authorize(authorizeParams(clientId, { code_challenge: challenge }));
  const client = { client_id: clientId, client_secret: clientSecret, redirect_uris: [CALLBACK] } as RegisteredClient;
  return { browser, interaction, client, verifier };
}

describe('a passkey on the hosted sign-in page', () => {
  it('signs in, goes back to the client with a code, and the ID token says how: hwk user', async () => {
    const { user, token } = await signedIn('pkoauth');
    const held = await addPasskey(p.api, token);
    const { browser, interaction, client, verifier } = await pending();
    const step = await browser.step('/oauth/interaction/passkey', {
      interaction,
      credential: await signInResponse(p.api, held),
    });
    const code = callbackParams(step).get('code')!;
    const res = await exchange(p, client, code, verifier);
    expect(res.status, await res.clone().text()).toBe(200);
    const { id_token } = (await res.json()) as { id_token: string };
    expect(jwtPart(id_token, 1)).toMatchObject({ sub: user.id, amr: ['hwk', 'user'] });

    // The browser is signed in now: a second request goes through without a sign-in.
    const again = await browser.authorize(authorizeParams(client.client_id, { state: 'again' }));
    expect((await browser.next(again)).step).toBe('redirect');
  });

  it('asks a user with two-factor on for no code', async () => {
    const { token } = await signedIn('pkoauth');
    const { recoveryCodes } = await enrolTotp(token);
    const held = await addPasskey(p.api, token, { body: { current_password: PASSWORD, code: recoveryCodes[0] } });
    const { browser, interaction } = await pending();
    const step = await browser.step('/oauth/interaction/passkey', {
      interaction,
      credential: await signInResponse(p.api, held),
    });
    expect(step.step).toBe('redirect');
  });

  it('refuses what the passkey sign-in refuses, a request that is not pending, and other sites', async () => {
    const { browser, interaction } = await pending();
    const stranger = { ...(await newCredential()), userHandle: 'dXNlcg', counter: 0 };
    const unknown = await browser.page('/oauth/interaction/passkey', {
      interaction,
      credential: await signInResponse(p.api, stranger),
    });
    await expectProblem(unknown, 401, 'unknown_passkey');

    const { token } = await signedIn('pkoauth');
    const held = await addPasskey(p.api, token);
    const credential = await signInResponse(p.api, held);
    const elsewhere = await browser.page(
      '/oauth/interaction/passkey',
      { interaction, credential },
      { Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site' },
    );
    await expectProblem(elsewhere, 403, 'csrf_rejected');
    const notPending = await new Browser().page('/oauth/interaction/passkey', { interaction, credential });
    await expectProblem(notPending, 400, 'interaction_expired');
  });
});
