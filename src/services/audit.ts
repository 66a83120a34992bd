/**
 * Security audit events: one JSON line each on stdout (Workers Logs / `wrangler tail`
 * collect it). Callers pass ids only; the field list is closed so a password, token,
 * secret or hash cannot be logged by accident.
 */
export type AuditEvent =
  | 'register'
  | 'login_success'
  | 'login_failure'
  | 'login_locked'
  | 'refresh'
  | 'refresh_reuse_detected'
  | 'logout'
  | 'logout_all'
  | 'session_revoked'
  | 'password_changed'
  | 'password_change_failure'
  | 'role_changed'
  | 'user_deleted';

export type AuditFields = {
  requestId?: string | undefined;
  userId?: string | undefined;
  sessionId?: string | undefined;
  targetUserId?: string | undefined;
  role?: string | undefined;
  ip?: string | undefined;
  reason?: string | undefined;
};

export function audit(event: AuditEvent, fields: AuditFields): void {
  console.log(
    JSON.stringify({
      type: 'audit',
      event,
      time: new Date().toISOString(),
      request_id: fields.requestId,
      user_id: fields.userId,
      session_id: fields.sessionId,
      target_user_id: fields.targetUserId,
      role: fields.role,
      ip: fields.ip,
      reason: fields.reason,
    }),
  );
}
