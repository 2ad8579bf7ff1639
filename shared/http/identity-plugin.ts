// The identity proof as an Elysia plugin for the services' controllers. Kept
// apart from shared/identity.ts (the proof itself), so that modules that need
// only the proof or the user-id rule (the message contracts) do not pull in
// the HTTP framework.
import { Elysia } from 'elysia'
import { AppError } from '../errors'
import { type Audience, boundRequestOf, callerOf, type IdentitySettings, type ProofReplayCache } from '../identity'

/**
 * Derives `userId` for every route of the controller that uses it, or answers
 * 401, before the body and query are validated: a caller without a valid
 * proof learns nothing about the schema.
 */
export function identity(settings: IdentitySettings, audience: Audience, replays: ProofReplayCache) {
  return new Elysia({ name: 'gozon.identity', seed: audience }).derive({ as: 'scoped' }, async ({ request }) => {
    const caller = callerOf(settings, audience, request.headers, await boundRequestOf(request), replays)
    if (caller === undefined) throw new AppError('identity_proof_required')
    // The proof goes along for the writes that move money: they claim its nonce for every instance (shared/http/proof-nonces.ts).
    return { userId: caller.userId, proof: caller.proof }
  })
}
