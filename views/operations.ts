// The operations page: outbox backlog, consumer lag and dead letters of each
// service, aggregate figures only.
import type { OperationsReport } from '../shared/operations'
import { DIGEST_BUCKETS, type DigestComparison } from '../shared/reconcile/digest'
import { type Html, html } from './html'
import type { Currency } from './money'

function consumerFacts(consumer: OperationsReport['consumer']): Html {
  if ('error' in consumer) return html`<dd class="field-error">${consumer.error}</dd>`
  return html`<dd><span class="num">${consumer.pending}</span> waiting, <span class="num">${consumer.ackPending}</span> in flight,
    <span class="num">${consumer.redelivered}</span> redelivered <span class="muted">(${consumer.stream} / ${consumer.durable})</span></dd>`
}

/** Orders whose payment the sweeper stopped asking for: an operator looks at each (payments down for long? lost messages?). */
function givenUpTable(givenUp: NonNullable<OperationsReport['givenUp']>): Html {
  return html`<table class="statement" id="given-up"><thead><tr><th>Order</th><th>Placed</th><th>Given up</th><th class="num">Asks</th></tr></thead><tbody>
    ${givenUp.latest.map(
      (o) =>
        html`<tr><td><code>${o.orderId}</code></td><td><time datetime="${o.createdAt}">${o.createdAt.slice(0, 19).replace('T', ' ')}</time></td><td><time datetime="${o.gaveUpAt}">${o.gaveUpAt.slice(0, 19).replace('T', ' ')}</time></td><td class="num">${o.asks}</td></tr>`,
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
      (d) =>
        html`<tr><td><time datetime="${d.createdAt}">${d.createdAt.slice(0, 19).replace('T', ' ')}</time></td><td>${d.subject}</td><td>${d.reason}</td><td class="num">${d.deliveries}</td></tr>`,
    )}
  </tbody></table>`
      : ''
  }
</section>`
}

export function renderOperations(
  reports: { orders?: OperationsReport; payments?: OperationsReport },
  currency: Currency,
  reconciliation: ReconciliationState = { state: 'not_asked' },
): Html {
  return html`<h1>Operations</h1>
<p class="muted">Read-only figures of the messaging between the services; <a href="/operations">refresh</a>. Prometheus metrics: <code>/metrics</code> on each service and gateway, with the scrape token (<code>METRICS_TOKEN</code>).</p>
${serviceCard('orders', reports.orders)}
${serviceCard('payments', reports.payments)}
${reconciliationCard(reconciliation, currency)}`
}

/**
 * Reconciliation: with `?compare=1`, the comparison of the two services'
 * digests (shared/reconcile/digest.ts: each service folds its paid orders into
 * buckets, no order leaves it); always, how to find the orders themselves
 * with `bun run reconcile`, which reads both databases.
 */
function reconciliationCard(comparison: ReconciliationState, currency: Currency): Html {
  return html`<section class="card" id="ops-reconciliation">
  <h2>Reconciliation</h2>
  ${renderComparison(comparison, currency)}
  <p class="muted">To see which orders differ, run <code>bun run reconcile</code> where both databases are reachable
    (<code>ORDERS_DATABASE_URL</code> and <code>PAYMENTS_DATABASE_URL</code>, or <code>DATABASE_URL</code>, as for <code>bun start</code>):
    it checks that every FINISHED order has exactly one payment of its amount for its user, every CANCELLED order none,
    no payment or ledger debit is without its order, and every balance equals top-ups minus payments, prints one line per
    discrepancy and a summary line, and exits 1 if it found any (2 if it could not read a database).</p>
</section>`
}

/** Not asked for yet; asked, and one side did not answer; or the comparison. */
export type ReconciliationState = { state: 'not_asked' } | { state: 'unavailable'; service: string } | { state: 'compared'; comparison: DigestComparison }

function renderComparison(state: ReconciliationState, currency: Currency): Html {
  if (state.state === 'not_asked') {
    return html`<p><a class="button" href="/operations?compare=1#ops-reconciliation" id="compare">Compare orders with payments</a>
    <span class="muted">(each service reads its whole table once)</span></p>`
  }
  if (state.state === 'unavailable') return html`<p class="alert" role="alert">The ${state.service} service did not answer; nothing was compared.</p>`
  const { comparison: c } = state
  const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`
  const paid = html`${count(c.paid.orders, 'paid order', 'paid orders')} (${currency.format(Number(c.paid.ordersAmount))}) on the orders side,
    ${count(c.paid.payments, 'succeeded payment', 'succeeded payments')} (${currency.format(Number(c.paid.paymentsAmount))}) on the payments side`
  const books =
    c.books.accountsOff > 0 || c.books.paymentsWithoutDebit > 0
      ? html`<p class="alert" role="alert">The payments books do not balance: accounts whose balance is not top-ups minus debits:
    <span data-metric="accounts-off">${c.books.accountsOff}</span>; succeeded payments without their debit:
    <span data-metric="payments-without-debit">${c.books.paymentsWithoutDebit}</span>.</p>`
      : ''
  if (c.agree) {
    return html`<p id="reconciliation-result" data-agree="true"><strong>Orders and payments agree:</strong> ${paid}; every balance is top-ups minus debits.</p>
    <p><a href="/operations?compare=1#ops-reconciliation">Compare again</a></p>`
  }
  return html`<p id="reconciliation-result" data-agree="false" class="${c.inFlight > 0 ? '' : 'alert'}"><strong>Orders and payments differ</strong>
    in <span data-metric="differing-buckets">${c.differing.length}</span> of ${DIGEST_BUCKETS} buckets: ${paid}.
    ${c.inFlight > 0 ? html`${count(c.inFlight, 'order is', 'orders are')} still in flight (NEW), so a difference may only be a result on its way: compare again in a moment.` : ''}</p>
  ${books}
  <p><a href="/operations?compare=1#ops-reconciliation">Compare again</a></p>`
}
