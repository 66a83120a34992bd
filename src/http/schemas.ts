/** Request and response schemas: they validate requests and generate /openapi.json. */
import * as z from 'zod/mini';
import { MAX_PASSWORD_LENGTH } from '../platform/config';
import { ERROR_CODES } from '../platform/errors';

/**
 * NFKC first, so full-width `ａｄｍｉｎ` is `admin`; then ASCII only, so look-alikes from
 * other scripts (Cyrillic `а`) are refused instead of becoming confusable twins.
 */
export const usernameSchema = z
  .pipe(
    z.pipe(
      z.string().check(z.maxLength(256)),
      z.transform((s) => s.normalize('NFKC')),
    ),
    z
      .string()
      .check(
        z.minLength(3),
        z.maxLength(32),
        z.regex(/^[A-Za-z0-9_.-]+$/, 'may contain only letters A-Z a-z, digits, "_", "." and "-"'),
      ),
  )
  .check(
    z.meta({
      example: 'alice',
      description: '3-32 characters from A-Z a-z 0-9 _ . - after NFKC normalisation; unique case-insensitively',
      minLength: 3,
      maxLength: 32,
      pattern: '^[A-Za-z0-9_.-]+$',
    }),
  );

/** Length beyond the maximum is refused here; the configurable minimum is checked in services/auth.ts. */
export const newPasswordSchema = z.string().check(
  z.minLength(1),
  z.maxLength(MAX_PASSWORD_LENGTH * 4),
  z.meta({
    example: 'correct horse battery staple',
    description: `PASSWORD_MIN_LENGTH (default 8) to ${MAX_PASSWORD_LENGTH} characters after NFKC; not one of the 3,000 most common passwords nor a word the operator listed (\`password_too_common\`)`,
  }),
);
export const passwordSchema = z.string().check(z.minLength(1), z.maxLength(MAX_PASSWORD_LENGTH * 4));

/** The re-authentication a credential or recovery detail change asks for, beside the access token. */
export const currentPasswordSchema = passwordSchema.check(
  z.meta({
    description:
      'The current password: an access token alone changes no credential or recovery detail. A wrong one is `401 invalid_credentials` and counts against the login throttle, as a failed login does',
  }),
);

export const credentialsSchema = z.object({ username: usernameSchema, password: passwordSchema });

export const userSchema = z.object({
  id: z.string(),
  username: z.string(),
  role: z.enum(['user', 'admin']),
  created_at: z.iso.datetime(),
  mfa_enabled: z.boolean().check(z.meta({ description: 'Whether sign-in asks for a TOTP code' })),
  email: z.nullable(z.string()).check(z.meta({ description: 'The verified address, if any' })),
  email_verified: z.boolean(),
});

export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().check(z.int()),
  detail: z.string(),
  code: z.enum(Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES]),
  request_id: z.optional(z.string()),
  errors: z.optional(z.array(z.object({ field: z.string(), message: z.string() }))),
  mfa_token: z
    .optional(z.string())
    .check(z.meta({ description: '`mfa_required` from a login: the token for POST /auth/mfa/verify' })),
  mfa_token_expires_in: z
    .optional(z.number().check(z.int()))
    .check(z.meta({ description: 'Seconds the `mfa_token` stays valid' })),
});

export const tokenResponseSchema = z.object({
  access_token: z.string(),
  token_type: z.enum(['Bearer', 'DPoP']).check(z.meta({ description: '`DPoP`: a DPoP-bound session (RFC 9449)' })),
  expires_in: z.number().check(z.int()),
  refresh_token: z.optional(z.string()).check(z.meta({ description: 'Absent when delivered as a cookie' })),
  refresh_expires_in: z.optional(z.number().check(z.int())),
  user: userSchema,
});

/** Every request body is limited to this (app.ts), and the document says so (openapi.ts). */
export const MAX_BODY_BYTES = 16 * 1024;

/** A JSON response of a route declaration (see routing.ts). */
export const json = (schema: z.ZodMiniType, description: string) => ({ description, schema });

/** An RFC 9457 problem response of a route declaration. */
export const problem = (description: string) => ({ description, problem: true as const });
