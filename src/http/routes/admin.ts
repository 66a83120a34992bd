/** /admin/users: user management for admins. The first admin is made by `npm run admin:promote`. */
import * as z from 'zod';
import { ROLES } from '../../platform/db/schema';
import { requireRole } from '../middleware/auth';
import { createRouter, defineRoute } from '../routing';
import type { Tag } from '../tags';
import { json, problem, userSchema } from '../schemas';
import { audit } from '../../platform/audit';
import { deleteUser, listUsers, setRole, toPublicUser } from '../../accounts/users';

const tags: Tag[] = ['admin'];
const adminOnly = requireRole('admin');
const idParam = z.object({ id: z.string().min(1).max(64) });
const forbidden = problem('Caller is not an admin (`forbidden`)');
const unauthorized = problem('No or invalid access token');

export const listUsersRoute = defineRoute({
  method: 'get',
  path: '/admin/users',
  operationId: 'listUsers',
  tags,
  summary: 'List users, oldest id first, with cursor pagination',
  description: 'Pages of up to `limit` users; pass `next_cursor` as `cursor` for the next page until it is null.',
  middleware: adminOnly,
  bearer: true,
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(100).default(20),
      cursor: z.string().min(1).max(64).optional().meta({ description: '`next_cursor` of the previous page' }),
    }),
  },
  responses: {
    200: json(z.object({ users: z.array(userSchema), next_cursor: z.string().nullable() }), 'A page of users'),
    400: problem('Bad `limit` or `cursor`'),
    401: unauthorized,
    403: forbidden,
  },
});

export const setRoleRoute = defineRoute({
  method: 'patch',
  path: '/admin/users/{id}',
  operationId: 'setUserRole',
  tags,
  summary: "Change a user's role",
  description:
    'Takes effect on the user’s next request: roles are read from the database, not from the token. The last admin cannot be demoted.',
  middleware: adminOnly,
  bearer: true,
  request: { params: idParam, body: z.object({ role: z.enum(ROLES) }), example: { role: 'admin' } },
  responses: {
    200: json(z.object({ user: userSchema }), 'The updated user'),
    400: problem('Invalid role'),
    401: unauthorized,
    403: forbidden,
    404: problem('No such user'),
    409: problem('Would remove the last admin (`last_admin`)'),
  },
});

export const deleteUserRoute = defineRoute({
  method: 'delete',
  path: '/admin/users/{id}',
  operationId: 'deleteUser',
  tags,
  summary: 'Delete a user; their sessions and tokens stop working at once',
  description: 'Deletes the user and their sessions. The last admin cannot be deleted.',
  middleware: adminOnly,
  bearer: true,
  request: { params: idParam },
  responses: {
    204: { description: 'Deleted' },
    401: unauthorized,
    403: forbidden,
    404: problem('No such user'),
    409: problem('Would remove the last admin (`last_admin`)'),
  },
});

export const adminRouter = createRouter()
  .route(listUsersRoute, async (c) => {
    const page = await listUsers(c.get('db'), c.req.valid('query'));
    return c.json({ users: page.users.map(toPublicUser), next_cursor: page.nextCursor }, 200);
  })
  .route(setRoleRoute, async (c) => {
    const { id } = c.req.valid('param');
    const user = await setRole(c.get('db'), id, c.req.valid('json').role);
    audit('role_changed', {
      requestId: c.get('requestId'),
      userId: c.get('user').id,
      targetUserId: id,
      role: user.role,
    });
    return c.json({ user: toPublicUser(user) }, 200);
  })
  .route(deleteUserRoute, async (c) => {
    const { id } = c.req.valid('param');
    await deleteUser(c.get('db'), id);
    audit('user_deleted', { requestId: c.get('requestId'), userId: c.get('user').id, targetUserId: id });
    return c.body(null, 204);
  });
