// A tiny DOM builder: h('div', { class: 'x', onclick }, children) without a framework.
// Text is always set as text (never parsed as HTML), so device-supplied strings stay inert.

type Child = Node | string | number | null | undefined | false
type Attrs = Record<string, string | number | boolean | undefined | EventListener>

export function h<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  applyAttrs(el, attrs)
  appendChildren(el, children)
  return el
}

const SVG_NS = 'http://www.w3.org/2000/svg'

export function svg (tag: string, attrs: Attrs = {}, ...children: (Child | Child[])[]): SVGElement {
  const el = document.createElementNS(SVG_NS, tag)
  applyAttrs(el, attrs)
  appendChildren(el, children)
  return el
}

function applyAttrs (el: Element, attrs: Attrs): void {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue
    if (typeof value === 'function') el.addEventListener(key.slice(2), value)
    else el.setAttribute(key, value === true ? '' : String(value))
  }
}

function appendChildren (el: Element, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    el.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
}

/** "3 min ago", "2 h ago", for times in the past. */
export function ago (iso: string, nowMs: number = Date.now()): string {
  const sec = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000))
  if (sec < 10) return 'just now'
  if (sec < 60) return `${sec} s ago`
  if (sec < 3600) return `${Math.floor(sec / 60)} min ago`
  if (sec < 86_400) return `${Math.floor(sec / 3600)} h ${Math.floor((sec % 3600) / 60)} min ago`
  return `${Math.floor(sec / 86_400)} d ago`
}

/** `coverOpen` → "Cover open". */
export function humanize (name: string): string {
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/-/g, ' ').toLowerCase()
  return words.charAt(0).toUpperCase() + words.slice(1)
}
