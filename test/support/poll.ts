// Waiting for a condition instead of sleeping: a test that sleeps and then
// asserts passes or fails with the machine's speed; one that polls for the
// condition waits exactly as long as needed and, past its deadline, fails
// saying what it was waiting for and what it last saw.

export type PollOptions = { timeoutMs?: number; intervalMs?: number }

/**
 * Reads `read()` until `done(value)` holds and returns that value; throws
 * after `timeoutMs` with `what` and the last value read.
 */
export async function pollUntil<T>(
  what: string,
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  { timeoutMs = 10_000, intervalMs = 20 }: PollOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (done(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${describeValue(value)}`)
    await Bun.sleep(intervalMs)
  }
}

/** Waits until `condition()` is true; throws after `timeoutMs` naming `what`. */
export async function eventually(what: string, condition: () => boolean | Promise<boolean>, options: PollOptions = {}): Promise<void> {
  await pollUntil(what, condition, (ok) => ok, options)
}

function describeValue(value: unknown): string {
  try {
    const text = typeof value === 'string' ? value : JSON.stringify(value)
    return text === undefined ? String(value) : text.length > 500 ? `${text.slice(0, 500)}…` : text
  } catch {
    return String(value)
  }
}
