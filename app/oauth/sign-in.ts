/**
 * The hosted sign-in page of the OAuth provider (/oauth/sign-in?interaction=…), where the
 * authorization endpoint sends the browser: sign in, the second factor, consent (flow.ts).
 */
import { render, type Step } from './flow';
import { fail, post } from './page';

post<Step>('/oauth/interaction/next', {}).then(render, fail);
