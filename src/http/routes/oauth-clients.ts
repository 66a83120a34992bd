/** /admin/oauth/clients: the client registry for admins (registration itself is RFC 7591's, /oauth/register). */
import * as z from 'zod/mini';
import { audit } from '../../platform/audit';
import { ApiError } from '../../platform/errors';
import {
  clientMetadataResponse,
  clientUpdateSchema,
  deleteClient,
  listClients,
  updateClient,
} from '../../oauth/clients';
import type { OAuthClient } from '../../oauth/clients';
import { OAuthError } from '../../oauth/errors';
import { requireRole } from '../middleware/auth';
import { createRouter, defineRoute } from '../routing';
import { json, problem } from '../schemas';
import type { Tag } from '../tags';

const tags: Tag[] = ['admin'];
const adminOnly = requireRole('admin');
const idParam = z.object({ client_id: z.string().check(z.minLength(1), z.maxLength(64)) });
// Documentation only: compiled out of the Worker (API_DOCS false).
const forbidden = API_DOCS ? problem('Caller is not an admin (`forbidden`)') : (undefined as never);
const unauthorized = API_DOCS ? problem('No or invalid access token') : (undefined as never);

const adminClientSchema = API_DOCS
  ? z.object({
      client_id: z.string(),
      client_name: z.optional(z.string()),
      redirect_uris: z.array(z.string()),
      post_logout_redirect_uris: z.array(z.string()),
      grant_types: z.array(z.string()),
      response_types: z.array(z.string()),
      token_endpoint_auth_method: z.string(),
      scope: z.optional(z.string()),
      id_token_signed_response_alg: z.string(),
      logo_uri: z.optional(z.string()),
      jwks: z.optional(z.looseObject({ keys: z.array(z.looseObject({})) })),
      jwks_uri: z.optional(z.string()),
      token_endpoint_auth_signing_alg: z.optional(z.string()),
      dpop_bound_access_tokens: z.boolean(),
      client_id_issued_at: z.number().check(z.int()),
      skip_consent: z.boolean().check(z.meta({ description: 'Users are not asked for consent (first-party clients)' })),
      registered_by: z.enum(['admin', 'open']),
      updated_at: z.iso.datetime(),
    })
  : (undefined as never);

const toAdminClient = (client: OAuthClient) => ({
  ...clientMetadataResponse(client),
  skip_consent: client.skipConsent,
  registered_by: client.registeredBy,
  updated_at: new Date(client.updatedAt).toISOString(),
});

export const listClientsRoute = defineRoute({
  method: 'get',
  path: '/admin/oauth/clients',
  middleware: adminOnly,
  request: {
    query: z.object({
      limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100)), 20),
      cursor: z
        .optional(z.string().check(z.minLength(1), z.maxLength(64)))
        .check(z.meta({ description: '`next_cursor` of the previous page' })),
    }),
  },
  docs: API_DOCS && {
    operationId: 'listOAuthClients',
    tags,
    summary: 'List OAuth clients, oldest id first, with cursor pagination',
    description: 'Their registered metadata (never a secret). Pass `next_cursor` as `cursor` until it is null.',
    bearer: true,
    responses: {
      200: json(z.object({ clients: z.array(adminClientSchema), next_cursor: z.nullable(z.string()) }), 'A page'),
      401: unauthorized,
      403: forbidden,
    },
  },
});

export const updateClientRoute = defineRoute({
  method: 'patch',
  path: '/admin/oauth/clients/{client_id}',
  middleware: adminOnly,
  request: {
    params: idParam,
    body: clientUpdateSchema,
  },
  docs: API_DOCS && {
    operationId: 'updateOAuthClient',
    tags,
    summary: 'Change an OAuth client’s metadata, or mark it first-party (`skip_consent`)',
    description:
      'Members left out stay as they are; `null` clears `client_name`, `logo_uri`, `scope` or `token_endpoint_auth_signing_alg`. The authentication method is fixed at registration. With `skip_consent`, users are not asked for consent for this client.',
    bearer: true,
    example: { skip_consent: true, client_name: 'Our own app' },
    responses: {
      200: json(z.object({ client: adminClientSchema }), 'The client as changed'),
      401: unauthorized,
      403: forbidden,
      404: problem('No such client'),
    },
  },
});

export const deleteClientRoute = defineRoute({
  method: 'delete',
  path: '/admin/oauth/clients/{client_id}',
  middleware: adminOnly,
  request: { params: idParam },
  docs: API_DOCS && {
    operationId: 'deleteOAuthClient',
    tags,
    summary: 'Delete an OAuth client; its grants end at once',
    description: 'Deletes the client with its codes, consents and grants: its tokens stop working at once.',
    bearer: true,
    responses: {
      204: { description: 'Deleted' },
      401: unauthorized,
      403: forbidden,
      404: problem('No such client'),
    },
  },
});

const notFound = () => new ApiError(404, 'not_found', 'No client with that id.');

export const oauthClientsRouter = createRouter()
  .route(listClientsRoute, async (c) => {
    const page = await listClients(c.get('db'), c.req.valid('query'));
    return c.json({ clients: page.clients.map(toAdminClient), next_cursor: page.nextCursor }, 200);
  })
  .route(updateClientRoute, async (c) => {
    const { client_id } = c.req.valid('param');
    let client;
    try {
      client = await updateClient(c.get('db'), client_id, c.req.valid('json'), {
        apiScopes: c.get('config').oauth.apiScopes,
      });
    } catch (err) {
      // The registry speaks RFC 7591; this admin route answers problem documents like the others.
      if (err instanceof OAuthError) {
        throw new ApiError(400, 'validation_failed', 'The request is invalid.', {
          errors: [{ field: 'body', message: err.description }],
        });
      }
      throw err;
    }
    if (!client) throw notFound();
    audit('oauth_client_updated', { requestId: c.get('requestId'), userId: c.get('user').id, clientId: client_id });
    return c.json({ client: toAdminClient(client) }, 200);
  })
  .route(deleteClientRoute, async (c) => {
    const { client_id } = c.req.valid('param');
    if (!(await deleteClient(c.get('db'), client_id))) throw notFound();
    audit('oauth_client_deleted', { requestId: c.get('requestId'), userId: c.get('user').id, clientId: client_id });
    return c.body(null, 204);
  });
