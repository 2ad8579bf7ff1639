// One use of an identity proof across every instance of a service, for the
// requests that move money (creating an order, a top-up). Each instance
// already refuses a proof it has seen (ProofReplayCache, in memory); this
// closes the rest: the exact same request, captured between the gateway and
// the services and replayed through the balancer to another instance within
// the proof's 15 s, would otherwise be a second order or a second top-up when
// it carries no Idempotency-Key. The claim commits whatever the request does
// next, with no commit of its own where it can: in the order's statement
// (keyless orders), in the limit's take (top-ups), or on its own before the
// idempotency claim (orders with a key, whose work runs in a transaction that
// a refusal rolls back). A nonce already taken is a 401, and nothing else of
// the request is done.
import { type SQL, sql } from 'drizzle-orm'
import { type Executor, runPrepared } from '../db/client'
import { proofNonces } from '../db/proof-nonce-table'
import { AppError } from '../errors'
import { proofExpiresAt, type VerifiedProof } from '../identity'

/** The claim as a statement to embed in the write's own (a CTE); it returns one row when the nonce was fresh. */
export function claimProofNonceWithin(proof: VerifiedProof): SQL {
  return sql`insert into ${proofNonces} (nonce, expires_at)
    values (${proof.nonce}, to_timestamp(${proofExpiresAt(proof) / 1000}))
    on conflict (nonce) do nothing
    returning 1`
}

/** Claims the nonce in a statement of its own; a nonce already used is a 401. */
export async function claimProofNonce(db: Executor, proof: VerifiedProof): Promise<void> {
  const rows = await runPrepared(db, 'proof-nonce.claim', claimProofNonceWithin(proof))
  if (rows.length === 0) throw new AppError('identity_proof_required')
}

/** Deletes the nonces of proofs that have expired (every minute, shared/backend-service.ts). */
export async function forgetExpiredProofNonces(db: Executor): Promise<void> {
  await db.delete(proofNonces).where(sql`${proofNonces.expiresAt} < now()`)
}
