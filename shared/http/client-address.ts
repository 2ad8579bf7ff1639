// Who is calling: the connecting peer, unless that peer is a proxy we trust
// (HAProxy in front of several gateways, `bun start -- --scale N`), which
// appends the address it accepted the connection from to X-Forwarded-For.
// Only that last entry is believed: the ones before it are whatever the
// client sent.

type Server = { requestIP(request: Request): { address: string } | null } | null

/** The IPv4 address inside an IPv4-mapped IPv6 one ("::ffff:127.0.0.1"), else the address as it is. */
const plain = (address: string) => address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1')

export function clientAddressOf(trustedProxies: readonly string[]) {
  const trusted = new Set(trustedProxies.map(plain))
  return (server: Server, request: Request): string => {
    const peer = server?.requestIP(request)?.address
    if (peer === undefined) return 'unknown'
    if (!trusted.has(plain(peer))) return plain(peer)
    const forwarded = request.headers.get('x-forwarded-for')?.split(',').at(-1)?.trim()
    return forwarded ? plain(forwarded) : plain(peer)
  }
}

export type ClientAddress = ReturnType<typeof clientAddressOf>
