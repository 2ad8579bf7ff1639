// Writing to the outbox: the only way a service sends a JetStream message.
// The row is inserted in the caller's transaction, so the message exists if
// and only if the state change it announces was committed. A trigger on the
// table (see the migrations) NOTIFYs the relays on commit.
import type { Executor } from '../db/client'
import { outbox } from '../db/messaging-tables'
import type { MessageOf, Subject } from './contracts'

/** The LISTEN/NOTIFY channel the outbox trigger signals on commit. */
export const OUTBOX_CHANNEL = 'gozon_outbox'

export async function enqueueMessage<S extends Subject>(
  tx: Executor,
  message: { id: string; subject: S; payload: MessageOf<S>; requestId?: string | null },
): Promise<void> {
  await tx.insert(outbox).values({
    id: message.id,
    subject: message.subject,
    payload: message.payload,
    requestId: message.requestId ?? null,
  })
}
