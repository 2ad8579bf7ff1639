// drizzle-kit settings for the gateway's identity database: `bun run db:generate`
// writes migrations to drizzle/gateway from gateway/auth/schema.ts.
import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'postgresql',
  schema: './gateway/auth/schema.ts',
  out: './drizzle/gateway',
  strict: true,
})
