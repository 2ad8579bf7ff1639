// The gateway's own table (database gozon_identity): who can sign in. No
// service reads it; services learn the caller's id from the gateway's proof.
import { sql } from 'drizzle-orm'
import { check, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { rateLimitBuckets } from '../../shared/db/rate-limit-table'

export const users = pgTable(
  'users',
  {
    /** The user id the services see (X-User-Id in dev mode, the proof otherwise). */
    id: uuid('id').primaryKey(),
    /** Lower-cased at sign-up, so "Ann" and "ann" are one user. */
    username: text('username').notNull().unique(),
    /** Bun.password argon2id, PHC string format (algorithm and parameters included). */
    passwordHash: text('password_hash').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('users_username_format', sql`${t.username} ~ '^[a-z0-9_.-]{3,32}$'`),
    check('users_password_hash_argon2id', sql`${t.passwordHash} like '$argon2id$%'`),
  ],
)

/**
 * Page sessions that are signed in (gateway/auth/sessions.ts): the cookie
 * carries the id, signed; a session is live while its row is here and not
 * expired. Signing out deletes the row, "sign out everywhere" all of a
 * user's. No foreign key to users: a row is only ever looked up by its id.
 */
export const sessions = pgTable(
  'sessions',
  {
    id: uuid('id').primaryKey(),
    userId: text('user_id').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  // expires_at: the cleanup deletes expired rows without reading the table.
  (t) => [index('sessions_user_id').on(t.userId), index('sessions_expires_at').on(t.expiresAt)],
)

export const schema = { users, rateLimitBuckets, sessions }
export { rateLimitBuckets }
