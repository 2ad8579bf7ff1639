// drizzle-kit settings for the payments service (see orders.config.ts).
import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'postgresql',
  schema: './payments/schema.ts',
  out: './drizzle/payments',
  strict: true,
})
