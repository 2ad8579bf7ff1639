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

/**
 * The group a limit should count an address in: an IPv4 address alone, an
 * IPv6 address by its /64 ("2001:db8:0:1::/64"), since one host is commonly
 * given a whole /64 and could otherwise take a fresh address per attempt.
 * Anything that is not an IP address ("unknown") is its own group.
 */
export function addressGroup(address: string): string {
  const text = plain(address.trim().toLowerCase().replace(/%.*$/, ''))
  if (!text.includes(':')) return text
  const hextets = expandIpv6(text)
  if (!hextets) return text
  // An IPv4 address in IPv6 clothes (::ffff:a.b.c.d written in hex, or NAT64's 64:ff9b::/96) is that IPv4 address.
  const mapped = hextets.slice(0, 6).join(':') === '0:0:0:0:0:65535'
  const nat64 = hextets[0] === 0x64 && hextets[1] === 0xff9b && hextets.slice(2, 6).every((h) => h === 0)
  if (mapped || nat64) return [hextets[6]! >> 8, hextets[6]! & 255, hextets[7]! >> 8, hextets[7]! & 255].join('.')
  return `${hextets
    .slice(0, 4)
    .map((h) => h.toString(16))
    .join(':')}::/64`
}

/** The eight 16-bit groups of an IPv6 address (a dotted IPv4 tail counts as two), or undefined. */
function expandIpv6(text: string): number[] | undefined {
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const parse = (part: string): number[] | undefined => {
    if (part === '') return []
    const groups: number[] = []
    const pieces = part.split(':')
    for (const [index, piece] of pieces.entries()) {
      if (index === pieces.length - 1 && piece.includes('.')) {
        const octets = piece.split('.').map(Number)
        if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return undefined
        groups.push(octets[0]! * 256 + octets[1]!, octets[2]! * 256 + octets[3]!)
      } else if (/^[0-9a-f]{1,4}$/.test(piece)) groups.push(Number.parseInt(piece, 16))
      else return undefined
    }
    return groups
  }
  const head = parse(halves[0]!)
  const tail = halves.length === 2 ? parse(halves[1]!) : []
  if (!head || !tail) return undefined
  const missing = 8 - head.length - tail.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined
  return [...head, ...Array<number>(missing).fill(0), ...tail]
}
