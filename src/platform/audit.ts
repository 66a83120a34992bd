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
  | 'refresh_dpop_refused'
  | 'logout'
  | 'logout_all'
  | 'session_revoked'
  | 'password_changed'
  | 'password_change_failure'
  | 'reauthentication_failure'
  | 'role_changed'
  | 'user_deleted'
  | 'login_mfa_required'
  | 'mfa_failure'
  | 'mfa_locked'
  | 'mfa_enrolment_started'
  | 'mfa_enabled'
  | 'mfa_disabled'
  | 'mfa_reset_by_admin'
  | 'mfa_recovery_codes_regenerated'
  | 'password_reset_issued'
  | 'password_reset_used'
  | 'password_reset_failure'
  | 'email_verification_sent'
  | 'email_verified'
  | 'mail_throttled'
  | 'passkey_registered'
  | 'passkey_renamed'
  | 'passkey_removed'
  | 'passkey_failure'
  | 'passkey_counter_regressed'
  | 'password_added'
  | 'oauth_client_registered'
  | 'oauth_client_updated'
  | 'oauth_client_deleted'
  | 'oauth_consent_given'
  | 'oauth_consent_denied'
  | 'oauth_code_exchanged'
  | 'oauth_code_replayed'
  | 'oauth_refresh'
  | 'oauth_refresh_reused'
  | 'oauth_token_revoked'
  | 'oauth_device_approved'
  | 'oauth_device_denied'
  | 'oauth_device_token_issued'
  | 'oauth_device_code_replayed'
  | 'oauth_client_credentials'
  | 'api_key_created'
  | 'api_key_revoked';

export type AuditFields = {
  requestId?: string | undefined;
  userId?: string | undefined;
  sessionId?: string | undefined;
  targetUserId?: string | undefined;
  role?: string | undefined;
  ip?: string | undefined;
  reason?: string | undefined;
  /** How a step was done: `totp`, `recovery_code`, `admin`, `email`, `passkey`. */
  method?: string | undefined;
  /** The passkey (its credential id, which is public) an event is about. */
  passkeyId?: string | undefined;
  /** The OAuth client concerned. */
  clientId?: string | undefined;
  /** The OAuth scope concerned (space-separated). */
  scope?: string | undefined;
};

/** Who asked: what a service function that audits needs from the request. */
export type RequestLog = { requestId?: string | undefined; ip?: string | undefined };

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
      method: fields.method,
      passkey_id: fields.passkeyId,
      client_id: fields.clientId,
      scope: fields.scope,
    }),
  );
}
