/** Every router of the Worker, in the order the app mounts them; the OpenAPI document lists the same. */
import { adminRouter } from './routes/admin';
import { apiKeysRouter } from './routes/api-keys';
import { authRouter } from './routes/auth';
import { compatRouter } from './routes/compat';
import { metaRouter } from './routes/meta';
import { mfaRouter } from './routes/mfa';
import { oauthAuthorizeRouter } from './routes/oauth-authorize';
import { oauthClientsRouter } from './routes/oauth-clients';
import { oauthDeviceRouter } from './routes/oauth-device';
import { oauthLogoutRouter } from './routes/oauth-logout';
import { oauthRouter } from './routes/oauth';
import { passkeysRouter } from './routes/passkeys';
import { recoveryRouter } from './routes/recovery';
import { sessionsRouter } from './routes/sessions';
import type { Router } from './routing';

export const routers: Router[] = [
  metaRouter,
  authRouter,
  mfaRouter,
  passkeysRouter,
  recoveryRouter,
  sessionsRouter,
  apiKeysRouter,
  adminRouter,
  oauthRouter,
  oauthClientsRouter,
  compatRouter,
  oauthAuthorizeRouter,
  oauthLogoutRouter,
  oauthDeviceRouter,
];
