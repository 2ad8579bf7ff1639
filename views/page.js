// The shop's one script besides htmx. htmx 4 swaps whatever answer comes
// back, error pages included: when a money form is answered by something
// that is not a page of the shop (the load balancer's own error while a
// gateway dies, a proxy's page) or by nothing at all (a lost connection), the
// form would be replaced by that text, or left saying nothing. Instead the
// form stays as it is, with its Idempotency-Key, and says that the outcome is
// not known and that pressing again is safe (its data-unanswered text).
;(() => {
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
