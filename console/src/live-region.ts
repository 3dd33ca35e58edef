// One polite live region for the whole page, created once and never replaced: screen readers
// announce what is written into it, and they lose a region that is rebuilt.
import { h } from './dom.ts'

let region: HTMLElement | undefined

function liveRegion (): HTMLElement {
  if (region === undefined || !region.isConnected) {
    region = h('div', { id: 'announcer', class: 'visually-hidden', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'false' })
    document.body.append(region)
  }
  return region
}

/** Reads `text` out once; the last few messages stay in the region for whoever looks. */
export function announce (text: string): void {
  const holder = liveRegion()
  holder.append(h('p', {}, text))
  while (holder.childElementCount > 5) holder.firstElementChild?.remove()
}

/** Created at start-up, before anything is announced, so the first message is read too. */
export function prepareLiveRegion (): void {
  liveRegion()
}
