// drizzle-kit settings for the orders service: `bun run db:generate` writes
// migrations to drizzle/orders from orders/schema.ts (no database needed).
import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'postgresql',
  schema: './orders/schema.ts',
  out: './drizzle/orders',
  strict: true,
})
