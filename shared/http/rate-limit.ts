// Per-user rate limits on the routes that create things (orders, top-ups): a
// token bucket per user and route, in this instance's memory (several
// instances each allow the rate). Over the limit: 429 with Retry-After.
import { AppError } from '../errors'

export type RateLimit = { burst: number; perSecond: number }

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>()

  constructor(private readonly limit: RateLimit) {}

  /** Takes one token for `key`, or throws 429 with the seconds until one is back in Retry-After. */
  take(key: string, set: { headers: Record<string, string | number> }): void {
    const waitSeconds = this.tryTake(key)
    if (waitSeconds === undefined) return
    set.headers['retry-after'] = String(waitSeconds)
    throw new AppError('rate_limited')
  }

  /** Takes one token for `key`; when there is none, the whole seconds until one is back. */
  tryTake(key: string): number | undefined {
    const now = performance.now()
    const bucket = this.buckets.get(key) ?? { tokens: this.limit.burst, at: now }
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.limit.perSecond)
    bucket.at = now
    if (bucket.tokens < 1) {
      this.buckets.set(key, bucket)
      return Math.max(1, Math.ceil((1 - bucket.tokens) / this.limit.perSecond))
    }
    bucket.tokens -= 1
    this.buckets.set(key, bucket)
    // Forget full buckets now and then, so idle users cost no memory.
    if (this.buckets.size > 10_000) for (const [k, b] of this.buckets) if (b.tokens >= this.limit.burst - 1) this.buckets.delete(k)
    return undefined
  }
}
