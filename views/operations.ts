// The operations page: outbox backlog, consumer lag and dead letters of each
// service, aggregate figures only.
import type { OperationsReport } from '../shared/operations'
import { type Html, html } from './html'

function consumerFacts(consumer: OperationsReport['consumer']): Html {
  if ('error' in consumer) return html`<dd class="field-error">${consumer.error}</dd>`
  return html`<dd><span class="num">${consumer.pending}</span> waiting, <span class="num">${consumer.ackPending}</span> in flight,
    <span class="num">${consumer.redelivered}</span> redelivered <span class="muted">(${consumer.stream} / ${consumer.durable})</span></dd>`
}

/** Orders whose payment the sweeper stopped asking for: an operator looks at each (payments down for long? lost messages?). */
function givenUpTable(givenUp: NonNullable<OperationsReport['givenUp']>): Html {
  return html`<table class="statement" id="given-up"><thead><tr><th>Order</th><th>Placed</th><th>Given up</th><th class="num">Asks</th></tr></thead><tbody>
    ${givenUp.latest.map(
      (o) => html`<tr><td><code>${o.orderId}</code></td><td><time datetime="${o.createdAt}">${o.createdAt.slice(0, 19).replace('T', ' ')}</time></td><td><time datetime="${o.gaveUpAt}">${o.gaveUpAt.slice(0, 19).replace('T', ' ')}</time></td><td class="num">${o.asks}</td></tr>`,
    )}
  </tbody></table>`
}

function serviceCard(name: string, report: OperationsReport | undefined): Html {
  if (!report) return html`<section class="card" id="ops-${name}"><h2>${name}</h2><p class="alert">The ${name} service did not answer.</p></section>`
  return html`<section class="card" id="ops-${name}">
  <h2>${name}</h2>
  <dl class="facts">
    <dt>Outbox backlog</dt><dd><span class="num" data-metric="outbox-pending">${report.outbox.pending}</span> unpublished${
      report.outbox.pending > 0 ? html`, oldest ${report.outbox.oldestPendingAgeSeconds.toFixed(1)} s` : ''
    }</dd>
    <dt>Consumer lag</dt>${consumerFacts(report.consumer)}
    <dt>Dead letters</dt><dd><span class="num" data-metric="dead-letters">${report.deadLetters.count}</span></dd>
    ${report.givenUp ? html`<dt>Orders given up</dt><dd><span class="num" data-metric="given-up">${report.givenUp.count}</span> still unpaid after every ask</dd>` : ''}
  </dl>
  ${report.givenUp && report.givenUp.latest.length > 0 ? givenUpTable(report.givenUp) : ''}
  ${
    report.deadLetters.latest.length > 0
      ? html`<table class="statement"><thead><tr><th>When</th><th>Subject</th><th>Reason</th><th class="num">Deliveries</th></tr></thead><tbody>
    ${report.deadLetters.latest.map(
      (d) => html`<tr><td><time datetime="${d.createdAt}">${d.createdAt.slice(0, 19).replace('T', ' ')}</time></td><td>${d.subject}</td><td>${d.reason}</td><td class="num">${d.deliveries}</td></tr>`,
    )}
  </tbody></table>`
      : ''
  }
</section>`
}

export function renderOperations(reports: { orders?: OperationsReport; payments?: OperationsReport }): Html {
  return html`<h1>Operations</h1>
<p class="muted">Read-only figures of the messaging between the services; <a href="/operations">refresh</a>. Prometheus metrics: <code>/metrics</code> on each service.</p>
${serviceCard('orders', reports.orders)}
${serviceCard('payments', reports.payments)}
${reconciliationCard()}`
}

/**
 * How to reconcile orders with payments. Only instructions: the comparison
 * needs both databases, and no service (nor the gateway) reads another's
 * tables, so it runs as an operator's tool, not behind this page.
 */
function reconciliationCard(): Html {
  return html`<section class="card" id="ops-reconciliation">
  <h2>Reconciliation</h2>
  <p>Each service reads only its own database, so orders are compared with payments by an operator's tool, not here.
    Run <code>bun run reconcile</code> where the databases are reachable (<code>ORDERS_DATABASE_URL</code> and
    <code>PAYMENTS_DATABASE_URL</code>, or <code>DATABASE_URL</code>, as for <code>bun start</code>): it reads both, read-only,
    and checks that every FINISHED order has exactly one payment of its amount for its user, every CANCELLED order none,
    no payment or ledger debit is without its order, and every balance equals top-ups minus payments.</p>
  <p class="muted">It prints one line per discrepancy and a summary line, and exits 1 if it found any (2 if it could not read a database).
    NEW orders count as in flight until they are older than <code>--stuck-after</code> (5 minutes); the orders the
    sweeper gave up on are listed in the orders card above, which needs only the orders database.</p>
</section>`
}
