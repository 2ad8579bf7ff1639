# One image for the three services; compose.yaml picks the entry point.
FROM oven/bun:1.4.4 AS deps
WORKDIR /app
COPY package.json bun.lock ./
# bun install applies patches/postgres@3.4.9.patch (see package.json patchedDependencies).
COPY patches ./patches
RUN bun install --frozen-lockfile --production

FROM oven/bun:1.4.4
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY shared ./shared
COPY orders ./orders
COPY payments ./payments
COPY gateway ./gateway
COPY views ./views
COPY drizzle ./drizzle
USER bun
CMD ["bun", "gateway/main.ts"]
