// The shop's one script besides htmx. htmx 4 swaps whatever answer comes
// back, error pages included: when a money form is answered by something
// that is not a page of the shop (the load balancer's own error while a
// gateway dies, a proxy's page) or by nothing at all (a lost connection), the
// form would be replaced by that text, or left saying nothing. Instead the
// form stays as it is, with its Idempotency-Key, and says that the outcome is
// not known and that pressing again is safe (its data-unanswered text).
//
// It also shows every <time data-local> (views/time.ts) in the browser's own
// time zone, naming the zone, on load and in whatever htmx or a live push
// inserts later; the UTC text the server wrote stays as the title.
;(() => {
  const local = new Intl.DateTimeFormat(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZoneName: 'short',
  })
  const localize = (root) => {
    const times = root.matches?.('time[data-local]') ? [root] : [...(root.querySelectorAll?.('time[data-local]') ?? [])]
    for (const time of times) {
      const date = new Date(time.getAttribute('datetime') ?? '')
      if (Number.isNaN(date.getTime())) continue
      time.title = time.textContent
      time.textContent = local.format(date)
      time.removeAttribute('data-local')
    }
  }
  const start = () => {
    localize(document.body)
    new MutationObserver((changes) => {
      for (const change of changes) for (const node of change.addedNodes) if (node.nodeType === 1) localize(node)
    }).observe(document.body, { childList: true, subtree: true })
  }
  // The live socket closed because the session ended (signed out here or everywhere, 4001 from
  // gateway/live-routes.ts): the page would only go stale, so it asks to sign in, and comes back here.
  // Not when this page is what signed out: a plain form's submission is already on its way.
  let leaving = false
  document.addEventListener('submit', (event) => {
    if (!event.target?.hasAttribute?.('hx-post')) leaving = true
  })
  document.addEventListener('htmx:ws:close', (event) => {
    if (event.detail?.code !== 4001 || leaving) return
    location.assign(`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`)
  })
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start)
  else start()

  const notice = (form) => {
    const text = form?.getAttribute('data-unanswered')
    if (!text) return
    let alert = form.querySelector('[data-unanswered-alert]')
    if (!alert) {
      alert = document.createElement('p')
      alert.className = 'alert'
      alert.setAttribute('role', 'alert')
      alert.setAttribute('data-unanswered-alert', '')
      form.querySelector('button[type="submit"], button')?.before(alert)
    }
    alert.textContent = text
  }
  const moneyForm = (event) => event.detail?.ctx?.sourceElement?.closest?.('form[data-unanswered]')
  document.addEventListener('htmx:before:swap', (event) => {
    const form = moneyForm(event)
    const type = event.detail?.ctx?.response?.headers?.get('content-type') ?? ''
    if (!form || type.startsWith('text/html')) return
    event.preventDefault()
    notice(form)
  })
  document.addEventListener('htmx:error', (event) => notice(moneyForm(event)))
})()
