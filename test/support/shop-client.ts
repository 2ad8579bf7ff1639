// A client of a running shop's public API (`bun start`, through the gateway),
// as the tests that drive whole systems use it: shoppers with a bearer token
// and a funded account, and orders placed the careful way (one
// Idempotency-Key per order, sent again with it until there is an answer).
const json = { 'content-type': 'application/json' }

export type ApiShopper = { name: string; token: string; userId: string }

/** A bearer token for an existing user. */
export async function tokenFor(base: string, username: string, password: string): Promise<string> {
  const response = await fetch(`${base}/api/auth/token`, { method: 'POST', headers: json, body: JSON.stringify({ username, password }) })
  return ((await response.json()) as { accessToken: string }).accessToken
}

/** Opens the user's account and tops it up by `amount` minor units. */
export async function fund(base: string, token: string, amount: number): Promise<void> {
  const auth = { ...json, authorization: `Bearer ${token}` }
  await fetch(`${base}/api/payments/account`, { method: 'POST', headers: auth })
  await fetch(`${base}/api/payments/account/top-up`, { method: 'POST', headers: auth, body: JSON.stringify({ amount }) })
}

/** Signs a new user up, gets a token and funds the account. */
export async function apiShopper(base: string, name: string, topUp: number, password = 'correct horse battery'): Promise<ApiShopper> {
  const user = await fetch(`${base}/api/auth/users`, { method: 'POST', headers: json, body: JSON.stringify({ username: name, password }) })
  const { id } = (await user.json()) as { id: string }
  const token = await tokenFor(base, name, password)
  await fund(base, token, topUp)
  return { name, token, userId: id }
}

/** Places an order with its own Idempotency-Key, sending it again with that key until it is created; `retried` counts the extra sends. */
export async function placeOrder(base: string, token: string, amount: number, retried: () => void = () => {}): Promise<string> {
  const key = crypto.randomUUID()
  for (;;) {
    try {
      const response = await fetch(`${base}/api/orders`, {
        method: 'POST',
        headers: { ...json, authorization: `Bearer ${token}`, 'idempotency-key': key },
        body: JSON.stringify({ amount }),
        signal: AbortSignal.timeout(15_000),
      })
      if (response.status === 201) return ((await response.json()) as { id: string }).id
    } catch {}
    retried()
    await Bun.sleep(100)
  }
}
