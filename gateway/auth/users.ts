// Sign-up and password checks against the gateway's users table. Passwords
// are hashed with Bun.password (argon2id, off the main thread); a sign-in for
// an unknown name verifies against a dummy hash, so the answer takes as long
// as for a known name with a wrong password.
import { eq } from 'drizzle-orm'
import type { Database } from '../../shared/db/client'
import { type schema, users } from './schema'

export const USERNAME_PATTERN = /^[a-z0-9_.-]{3,32}$/
export const PASSWORD_LENGTH = { min: 8, max: 128 } as const

/** argon2id cost. The defaults follow OWASP's minimum (19 MiB, 2 passes); tests lower them. */
export type PasswordHashing = { memoryCost: number; timeCost: number }

export type User = { id: string; username: string }

/** Field errors of a sign-up form or body, worded for a person. */
export function newCredentialsErrors(username: string, password: string): Record<string, string> {
  const errors: Record<string, string> = {}
  if (!USERNAME_PATTERN.test(username)) errors.username = 'Use 3–32 lower-case letters, digits, dots, dashes or underscores.'
  if ([...password].length < PASSWORD_LENGTH.min) errors.password = `Use at least ${PASSWORD_LENGTH.min} characters.`
  else if ([...password].length > PASSWORD_LENGTH.max) errors.password = `Use at most ${PASSWORD_LENGTH.max} characters.`
  return errors
}

/** User names are case-insensitive: stored and looked up in lower case. */
export const normalizeUsername = (name: string) => name.trim().toLowerCase()

export class UserStore {
  private dummyHash: Promise<string> | undefined

  constructor(
    private readonly db: Database<typeof schema>,
    private readonly hashing: PasswordHashing,
  ) {}

  private hash(password: string): Promise<string> {
    return Bun.password.hash(password, { algorithm: 'argon2id', ...this.hashing })
  }

  /** The new user, or 'taken' when the name is in use. Call newCredentialsErrors first. */
  async signUp(username: string, password: string): Promise<User | 'taken'> {
    const passwordHash = await this.hash(password)
    const [user] = await this.db
      .insert(users)
      .values({ id: crypto.randomUUID(), username, passwordHash })
      .onConflictDoNothing({ target: users.username })
      .returning({ id: users.id, username: users.username })
    return user ?? 'taken'
  }

  /** The user when the name exists and the password is right. */
  async signIn(username: string, password: string): Promise<User | undefined> {
    if (!USERNAME_PATTERN.test(username) || [...password].length > PASSWORD_LENGTH.max) return undefined
    const [row] = await this.db.select().from(users).where(eq(users.username, username)).limit(1)
    this.dummyHash ??= this.hash(crypto.randomUUID())
    const ok = await Bun.password.verify(password, row?.passwordHash ?? (await this.dummyHash))
    return row && ok ? { id: row.id, username: row.username } : undefined
  }
}
