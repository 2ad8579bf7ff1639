// Refuses requests a browser sent on behalf of another site: the defence
// against cross-site request forgery for forms (with the CSRF token and the
// SameSite cookie) and against cross-site WebSocket hijacking, where cookies
// go along and nothing else would stop it.
//
// As in Go's http.CrossOriginProtection: browsers send Sec-Fetch-Site, and
// Origin on every cross-origin request and WebSocket handshake; a request
// with neither did not come from a browser page of another site.

/** True when a browser says the request comes from a page of another origin. */
export function isCrossOrigin(request: Request): boolean {
  const site = request.headers.get('sec-fetch-site')
  if (site !== null) return site !== 'same-origin' && site !== 'none'
  const origin = request.headers.get('origin')
  if (origin === null) return false
  const host = request.headers.get('host')
  try {
    // The host only: a TLS-terminating proxy in front makes the schemes differ.
    return host === null || new URL(origin).host !== host
  } catch {
    return true
  }
}
