// A small line chart of recent values as inline SVG: scales to its container's width, min/max and
// time labels, a dot on the latest value. No chart library: a few dozen lines do.
import { svg } from './dom.ts'

const H = 220
const PAD = { left: 48, right: 14, top: 14, bottom: 28 }

function formatValue (v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)
}

function formatTime (ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
}

/** `widthPx`: the box's width, so that text keeps its size on a phone and on a desktop. */
export function lineChart (points: { t: number; v: number }[], unit: string, label: string, widthPx: number): SVGElement {
  const W = Math.max(300, Math.min(1000, Math.round(widthPx) || 640))
  const ts = points.map(function t (p) { return p.t })
  const vs = points.map(function v (p) { return p.v })
  const tMin = Math.min(...ts)
  const tMax = Math.max(...ts)
  let vMin = Math.min(...vs)
  let vMax = Math.max(...vs)
  if (vMin === vMax) { vMin -= 1; vMax += 1 }
  const x = function xOf (t: number): number { return PAD.left + (tMax === tMin ? 0.5 : (t - tMin) / (tMax - tMin)) * (W - PAD.left - PAD.right) }
  const y = function yOf (v: number): number { return PAD.top + (1 - (v - vMin) / (vMax - vMin)) * (H - PAD.top - PAD.bottom) }
  const path = points.map(function segment (p, i) { return `${i === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}` }).join(' ')
  const last = points[points.length - 1]
  const area = `${path} L${x(tMax).toFixed(1)},${H - PAD.bottom} L${x(tMin).toFixed(1)},${H - PAD.bottom} Z`
  const grid = [vMin, (vMin + vMax) / 2, vMax].map(function gridLine (v) {
    return [
      svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }),
      svg('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, formatValue(v)),
    ]
  })
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `${label} over time` },
    grid.flat(),
    svg('path', { d: area, class: 'area' }),
    svg('path', { d: path, class: 'line' }),
    last === undefined ? null : svg('circle', { cx: x(last.t), cy: y(last.v), r: 4, class: 'last' }),
    svg('text', { x: PAD.left, y: H - 8, class: 'axis' }, formatTime(tMin)),
    svg('text', { x: W - PAD.right, y: H - 8, 'text-anchor': 'end', class: 'axis' }, formatTime(tMax)),
    svg('text', { x: W - PAD.right, y: PAD.top - 2, 'text-anchor': 'end', class: 'axis unit' }, unit))
}
