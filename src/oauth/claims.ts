/** The user claims each granted scope releases (OIDC Core §5.4), for ID tokens and userinfo. */
import { users, type User } from '../platform/db/schema';

export type ClaimsUser = Pick<User, 'id' | 'username' | 'role' | 'updatedAt' | 'email' | 'emailVerifiedAt'>;

/** The columns of a ClaimsUser, for the reads that issue or answer claims (in this order). */
export const claimsUserColumns = {
  id: users.id,
  username: users.username,
  role: users.role,
  updatedAt: users.updatedAt,
  email: users.email,
  emailVerifiedAt: users.emailVerifiedAt,
} satisfies Record<keyof ClaimsUser, unknown>;

/**
 * `profile`: preferred_username and updated_at; `email`: email and email_verified (only when
 * the user has a verified address: the service keeps no unverified one); `roles`: role. A
 * claim without a value is left out, as OIDC Core §5.3.2 asks.
 */
export function userClaims(user: ClaimsUser, scope: string): Record<string, unknown> {
  const scopes = new Set(scope.split(' '));
  return {
    ...(scopes.has('profile')
      ? { preferred_username: user.username, updated_at: Math.floor(user.updatedAt / 1000) }
      : {}),
    ...(scopes.has('email') && user.email ? { email: user.email, email_verified: user.emailVerifiedAt !== null } : {}),
    ...(scopes.has('roles') ? { role: user.role } : {}),
  };
}
