// The nonces of the identity proofs (shared/identity.ts) that moved money, in
// the database of the service that accepted them, so that every instance of
// that service refuses a second use, not only the one that saw the first
// (shared/http/proof-nonces.ts). A row is worthless once the proof it names
// has expired. Logged: its insert rides in the commit of the write it
// guards, which flushes the WAL anyway.
// No index but the key: the table holds some 20 s of writes, and the
// minute's cleanup reads it whole.
import { pgTable, text, timestamp } from 'drizzle-orm/pg-core'

export const proofNonces = pgTable('identity_proof_nonces', {
  nonce: text('nonce').primaryKey(),
  /** When the proof stops being accepted anyway: from then on the row may be deleted. */
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
})
