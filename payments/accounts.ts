// Accounts business logic: open, read, top up, statement. Plain functions.
import { and, desc, eq, lt, sql } from 'drizzle-orm'
import type { Database, Executor } from '../shared/db/client'
import { AppError } from '../shared/errors'
import { MAX_BALANCE } from '../shared/money'
import type { AccountView, LedgerEntryView } from './model'
import { accounts, ledgerEntries, type schema } from './schema'

type PaymentsDb = Database<typeof schema>
type AccountRow = typeof accounts.$inferSelect

const toAccountView = (row: AccountRow): AccountView => ({
  userId: row.userId,
  balance: row.balance,
  createdAt: row.createdAt.toISOString(),
})

/** Creates the caller's account, or returns the existing one: never two, even when called concurrently. */
export async function openAccount(db: PaymentsDb, userId: string): Promise<{ account: AccountView; created: boolean }> {
  const [created] = await db.insert(accounts).values({ userId }).onConflictDoNothing().returning()
  if (created) return { account: toAccountView(created), created: true }
  return { account: await getAccount(db, userId), created: false }
}

export async function getAccount(db: PaymentsDb, userId: string): Promise<AccountView> {
  const [row] = await db.select().from(accounts).where(eq(accounts.userId, userId))
  if (!row) throw new AppError('account_not_found')
  return toAccountView(row)
}

/** Adds money in one conditional UPDATE (capped at MAX_BALANCE) plus its ledger entry. */
export async function topUp(db: Executor, userId: string, amount: number): Promise<{ userId: string; balance: number }> {
  return db.transaction(async (tx) => {
    const [updated] = await tx
      .update(accounts)
      .set({ balance: sql`${accounts.balance} + ${amount}` })
      .where(and(eq(accounts.userId, userId), sql`${accounts.balance} + ${amount} <= ${MAX_BALANCE}`))
      .returning({ balance: accounts.balance })
    if (!updated) {
      const [exists] = await tx.select({ userId: accounts.userId }).from(accounts).where(eq(accounts.userId, userId))
      throw new AppError(exists ? 'balance_limit_exceeded' : 'account_not_found')
    }
    await tx.insert(ledgerEntries).values({ userId, kind: 'top_up', amount, balanceAfter: updated.balance })
    return { userId, balance: updated.balance }
  })
}

/** The statement, newest first. */
export async function listTransactions(db: PaymentsDb, userId: string, page: { limit: number; before?: number }): Promise<LedgerEntryView[]> {
  await getAccount(db, userId)
  const rows = await db
    .select()
    .from(ledgerEntries)
    .where(and(eq(ledgerEntries.userId, userId), page.before ? lt(ledgerEntries.id, page.before) : undefined))
    .orderBy(desc(ledgerEntries.id))
    .limit(page.limit)
  return rows.map((row) => ({
    id: row.id,
    kind: row.kind,
    amount: row.amount,
    ...(row.orderId ? { orderId: row.orderId } : {}),
    balanceAfter: row.balanceAfter,
    createdAt: row.createdAt.toISOString(),
  }))
}
