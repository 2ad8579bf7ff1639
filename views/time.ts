// Times as the shopper reads them. The server writes UTC and says so
// ("2026-12-01 17:03 UTC"), which is right without JavaScript; the shop's
// script (views/page.js) rewrites every <time data-local> into the browser's
// own time zone, naming it, and keeps the UTC text as its title.
import { type Html, html } from './html'

/** "2026-12-01T17:03:27.123Z" → "2026-12-01 17:03 UTC" (an unreadable value is shown as given). */
export function utcText(iso: string): string {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

export function renderTime(iso: string, className?: string): Html {
  return html`<time${className ? html` class="${className}"` : ''} datetime="${iso}" data-local>${utcText(iso)}</time>`
}
