/** /admin/users: user management for admins. The first admin is made by `npm run admin:promote`. */
import * as z from 'zod/mini';
import { ROLES } from '../../platform/db/schema';
import { requireAuth, requireRole, withAccessCheck } from '../middleware/auth';
import { createRouter, defineRoute } from '../routing';
import type { Tag } from '../tags';
import { json, problem, userSchema } from '../schemas';
import { audit } from '../../platform/audit';
import { ApiError } from '../../platform/errors';
import { deleteUser, setRole, toPublicUser, userByIdQuery, usersPage, usersPageQuery } from '../../accounts/users';

const tags: Tag[] = ['admin'];
const ADMIN = ['admin'] as const;
const adminOnly = requireRole(...ADMIN);
/**
 * The reads: the role is checked on the primary, as requireRole does, but in one batch with the
 * read itself (withAccessCheck), so a page of users is one round trip.
 */
const adminRead = [requireAuth({ deferred: true, primary: true })];
const idParam = z.object({ id: z.string().check(z.minLength(1), z.maxLength(64)) });
const forbidden = problem('Caller is not an admin (`forbidden`)');
const unauthorized = problem('No or invalid access token');

export const listUsersRoute = defineRoute({
  method: 'get',
  path: '/admin/users',
  middleware: adminRead,
  request: {
    query: z.object({
      limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100)), 20),
      cursor: z
        .optional(z.string().check(z.minLength(1), z.maxLength(64)))
        .check(z.meta({ description: '`next_cursor` of the previous page' })),
    }),
  },
  docs: API_DOCS && {
    operationId: 'listUsers',
    tags,
    summary: 'List users, oldest id first, with cursor pagination',
    description: 'Pages of up to `limit` users; pass `next_cursor` as `cursor` for the next page until it is null.',
    bearer: true,
    responses: {
      200: json(z.object({ users: z.array(userSchema), next_cursor: z.nullable(z.string()) }), 'A page of users'),
      400: problem('Bad `limit` or `cursor`'),
      401: unauthorized,
      403: forbidden,
    },
  },
});

export const getUserRoute = defineRoute({
  method: 'get',
  path: '/admin/users/{id}',
  middleware: adminRead,
  request: { params: idParam },
  docs: API_DOCS && {
    operationId: 'getUser',
    tags,
    summary: 'One user by id',
    description: 'The user as `GET /admin/users` lists them. One round trip to D1, the admin check included.',
    bearer: true,
    responses: {
      200: json(z.object({ user: userSchema }), 'The user'),
      401: unauthorized,
      403: forbidden,
      404: problem('No such user (`not_found`)'),
    },
  },
});

export const setRoleRoute = defineRoute({
  method: 'patch',
  path: '/admin/users/{id}',
  middleware: adminOnly,
  request: { params: idParam, body: z.object({ role: z.enum(ROLES) }) },
  docs: API_DOCS && {
    operationId: 'setUserRole',
    tags,
    summary: "Change a user's role",
    description:
      'Takes effect on the user’s next request: roles are read from the database, not from the token. The last admin cannot be demoted.',
    bearer: true,
    example: { role: 'admin' },
    responses: {
      200: json(z.object({ user: userSchema }), 'The updated user'),
      400: problem('Invalid role'),
      401: unauthorized,
      403: forbidden,
      404: problem('No such user'),
      409: problem('Would remove the last admin (`last_admin`)'),
    },
  },
});

export const deleteUserRoute = defineRoute({
  method: 'delete',
  path: '/admin/users/{id}',
  middleware: adminOnly,
  request: { params: idParam },
  docs: API_DOCS && {
    operationId: 'deleteUser',
    tags,
    summary: 'Delete a user; their sessions and tokens stop working at once',
    description: 'Deletes the user and their sessions. The last admin cannot be deleted.',
    bearer: true,
    responses: {
      204: { description: 'Deleted' },
      401: unauthorized,
      403: forbidden,
      404: problem('No such user'),
      409: problem('Would remove the last admin (`last_admin`)'),
    },
  },
});

export const adminRouter = createRouter()
  .route(listUsersRoute, async (c) => {
    const query = c.req.valid('query');
    const rows = await withAccessCheck(c, (db) => usersPageQuery(db, query), ADMIN);
    const page = usersPage(rows, query.limit);
    return c.json({ users: page.users.map(toPublicUser), next_cursor: page.nextCursor }, 200);
  })
  .route(getUserRoute, async (c) => {
    const { id } = c.req.valid('param');
    const [user] = await withAccessCheck(c, (db) => userByIdQuery(db, id), ADMIN);
    if (!user) throw new ApiError(404, 'not_found', 'No user with that id.');
    return c.json({ user: toPublicUser(user) }, 200);
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
