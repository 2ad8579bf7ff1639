// `Authorization: Bearer <token>`, read one way everywhere (the gateway's API
// callers, every /metrics scrape).

/**
 * The token of `Authorization: Bearer <token>`. The scheme's name is
 * case-insensitive (RFC 9110 §11.1: `bearer` and `BEARER` are Bearer too),
 * with one or more spaces before the token.
 */
export function bearerToken(request: Request): string | undefined {
  return /^bearer +(\S+)$/i.exec(request.headers.get('authorization') ?? '')?.[1]
}
