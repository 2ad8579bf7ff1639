// The gateway's landing page. The shopper's pages (sign-in, account, orders)
// come with the web-front work; this one points API users to the docs.
const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gozon</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; color: #1f2933; }
  code { background: #f0f4f8; padding: 0 .25rem; border-radius: 3px; }
</style>
</head>
<body>
<h1>Gozon</h1>
<p>Orders paid exactly once, between microservices, over NATS JetStream with a transactional outbox and inbox.</p>
<ul>
  <li><a href="/api/orders/swagger">Orders API</a> (Swagger UI)</li>
  <li><a href="/api/payments/swagger">Payments API</a> (Swagger UI)</li>
  <li><a href="/health">Health</a></li>
</ul>
<p>Every API request carries <code>X-User-Id</code>.</p>
</body>
</html>`

export function renderHome(): Response {
  return new Response(page, { headers: { 'content-type': 'text/html; charset=utf-8' } })
}
