// Static assets of the web front: htmx and its WebSocket extension straight
// from the installed (exactly pinned) htmx.org package, our stylesheet and our
// one script (views/page.js).
import { join } from 'node:path'
import { Elysia } from 'elysia'

const resolve = (specifier: string) => Bun.resolveSync(specifier, import.meta.dir)

const ASSETS: Record<string, { path: string; type: string }> = {
  'htmx.min.js': { path: resolve('htmx.org/dist/htmx.min.js'), type: 'application/javascript; charset=utf-8' },
  'hx-ws.min.js': { path: resolve('htmx.org/dist/ext/hx-ws.min.js'), type: 'application/javascript; charset=utf-8' },
  'styles.css': { path: join(import.meta.dir, '..', 'views', 'styles.css'), type: 'text/css; charset=utf-8' },
  'page.js': { path: join(import.meta.dir, '..', 'views', 'page.js'), type: 'application/javascript; charset=utf-8' },
  'favicon.svg': { path: join(import.meta.dir, '..', 'views', 'favicon.svg'), type: 'image/svg+xml' },
}

export const assets = new Elysia({ name: 'gateway.assets' }).get('/assets/:file', ({ params, status }) => {
  const asset = ASSETS[params.file]
  if (!asset) return status(404, { error: 'not_found', message: 'No such asset' })
  return new Response(Bun.file(asset.path), {
    headers: { 'content-type': asset.type, 'cache-control': 'public, max-age=3600', 'x-content-type-options': 'nosniff' },
  })
})
