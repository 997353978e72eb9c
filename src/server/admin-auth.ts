// Who may do what on the admin surface (/api, /metrics, POST /events): the admin token may do
// everything, the read-only token may only read. Compared in constant time.
import type { MiddlewareHandler } from 'hono';
import { timingSafeEqual } from 'node:crypto';

export type Scope = 'admin' | 'read';

export interface AdminTokens {
  /** Undefined only with `server.auth: false` (loopback): everyone is an admin then. */
  admin?: string;
  read?: string;
}

/** The scope a request's `Authorization` header grants; undefined when it grants none. */
export function scopeOf(header: string | undefined, tokens: AdminTokens): Scope | undefined {
  if (tokens.admin === undefined) return 'admin';
  if (bearerMatches(header, tokens.admin)) return 'admin';
  if (tokens.read !== undefined && bearerMatches(header, tokens.read)) return 'read';
  return undefined;
}

/** Lets a request through with at least `needed`: 401 without a valid token, 403 when read-only. */
export function requireScope(tokens: AdminTokens, needed: Scope): MiddlewareHandler {
  return async (c, next) => {
    const scope = scopeOf(c.req.header('authorization'), tokens);
    if (scope === undefined)
      return c.json(
        { error: 'missing or invalid bearer token (Authorization: Bearer <token>)' },
        401,
      );
    if (needed === 'admin' && scope !== 'admin')
      return c.json(
        { error: 'the read-only token cannot change anything: use the admin token' },
        403,
      );
    c.set('scope' as never, scope as never);
    await next();
  };
}

/** Constant-time comparison of a bearer token, so response timing says nothing about it. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice('Bearer '.length));
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
