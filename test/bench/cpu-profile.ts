// Reads a V8 .cpuprofile (written by `node --cpu-prof`) and ranks self time: by function and by
// area (our code, each npm package, Node internals, GC). Enters: the profile file; leaves: tables.
import { readFile } from 'node:fs/promises'

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export interface SelfTime {
  name: string
  /** Self time in ms, and its share of the non-idle samples (%). */
  selfMs: number
  percent: number
}

export interface ProfileSummary {
  /** True when only the samples of the measured window were counted. */
  isWindowed: boolean
  /** Sampled wall time and the idle part of it (ms). */
  totalMs: number
  idleMs: number
  topFunctions: SelfTime[]
  topAreas: SelfTime[]
  /** Busy time by pipeline stage (stageOf), all of them, largest first. */
  stages: SelfTime[]
}

/**
 * The gateway's pipeline stages, by the source directory of the innermost gateway frame on a
 * sample's stack: what a builtin (JSON.parse, crc32, a socket write) costs is charged to the stage
 * that called it. Samples without a gateway frame are Aedes' own work on the connection (its
 * parser, its PUBACK writes, the sockets), GC, or the rest.
 */
const STAGE_OF_DIRECTORY: Readonly<Record<string, string>> = {
  mqtt: 'authentication, topic, guards (broker/mqtt)',
  ingest: 'validation (broker/ingest)',
  spool: 'durable spool (broker/spool)',
  influx: 'line protocol, InfluxDB writer (broker/influx)',
  alarms: 'alarm engine, publisher (broker/alarms)',
}
const MQTT_PACKAGES = new Set(['aedes', 'aedes-packet', 'aedes-persistence', 'mqtt-packet', 'mqemitter', 'bl', 'debug', 'fastfall', 'fastparallel', 'fastseries', 'reusify', 'end-of-stream', 'retimer', 'hyperid', 'readable-stream', 'process-nextick-args', 'uuid'])

function stageOfStack (leaf: ProfileNode, byId: ReadonlyMap<number, ProfileNode>, parentOf: ReadonlyMap<number, number>, repoRoot: string): string {
  const leafFrame = leaf.callFrame
  if (leafFrame.functionName === '(garbage collector)') return 'garbage collector'
  if (leafFrame.functionName === '(program)') return '(program): V8 and libuv outside JS'
  for (let node: ProfileNode | undefined = leaf; node !== undefined; node = byId.get(parentOf.get(node.id) ?? -1)) {
    const short = shortUrl(node.callFrame.url, repoRoot)
    const match = /^\/?(?:dist\/)?(broker|devices)\/(?:([^/]+)\/)?/.exec(short)
    if (match !== null) {
      if (match[1] === 'devices') return 'validation (broker/ingest)'
      return STAGE_OF_DIRECTORY[match[2] ?? ''] ?? `other gateway (broker/${match[2] ?? ''})`
    }
    // Aedes called from a gateway guard (they wrap its parser) is still Aedes' work.
    if (node.callFrame.url.includes('/node_modules/') && MQTT_PACKAGES.has(areaOf(node.callFrame, short))) return 'MQTT: Aedes, mqtt-packet, sockets'
  }
  return 'other (Node internals, timers, HTTP)'
}

const META_FRAMES = new Set(['(idle)', '(program)', '(garbage collector)', '(root)'])

/** `file:///…/node_modules/aedes/lib/client.js` → `aedes/lib/client.js`; repo files relative to it. */
function shortUrl (url: string, repoRoot: string): string {
  const path = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url
  const inModules = path.lastIndexOf('/node_modules/')
  if (inModules >= 0) return path.slice(inModules + '/node_modules/'.length)
  if (path.startsWith(repoRoot)) return path.slice(repoRoot.length)
  return path
}

function frameName (frame: CallFrame, short: string): string {
  const fn = frame.functionName || '(anonymous)'
  if (frame.url === '') return fn
  // tsx compiles each file to one line, so line numbers of our .ts files carry no information.
  return frame.lineNumber > 0 ? `${fn} ${short}:${frame.lineNumber + 1}` : `${fn} ${short}`
}

function areaOf (frame: CallFrame, short: string): string {
  if (META_FRAMES.has(frame.functionName)) return frame.functionName
  if (frame.url === '') return '(native/builtin)'
  if (frame.url.startsWith('node:')) return 'node:internal'
  if (frame.url.includes('/node_modules/')) {
    const parts = short.split('/')
    return parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1] ?? ''}` : parts[0] ?? short
  }
  const top = short.split('/').slice(0, 2).join('/')
  return top === '' ? short : top
}

function rank (totals: Map<string, number>, busyUs: number, limit: number): SelfTime[] {
  return [...totals.entries()]
    .sort(function bySelfTimeDesc (a, b) { return b[1] - a[1] })
    .slice(0, limit)
    .map(function toSelfTime ([name, us]) {
      return { name, selfMs: Math.round(us / 100) / 10, percent: Math.round((us / Math.max(1, busyUs)) * 1000) / 10 }
    })
}

/** A span of CLOCK_MONOTONIC in µs (`process.hrtime.bigint() / 1000n`), the clock V8 stamps samples with on Linux. */
export interface ProfileWindow { startUs: number; endUs: number }

/**
 * Self time per function and per area, over the samples inside `window` when given (the measured
 * load, without start-up and shutdown); over the whole profile when none falls inside it.
 */
export async function summariseCpuProfile (file: string, repoRoot: string, window?: ProfileWindow, limit = 20): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile
  const inWindow = window === undefined ? undefined : sampleMask(profile, window)
  const isWindowed = inWindow !== undefined && inWindow.some(Boolean)
  const byId = new Map<number, ProfileNode>()
  const parentOf = new Map<number, number>()
  for (const node of profile.nodes) {
    byId.set(node.id, node)
    for (const child of node.children ?? []) parentOf.set(child, node.id)
  }
  const byFunction = new Map<string, number>()
  const byArea = new Map<string, number>()
  const byStage = new Map<string, number>()
  let totalUs = 0
  let idleUs = 0
  // timeDeltas[i] is the time since the previous sample; charge it to sample i (the usual approximation).
  for (let i = 0; i < profile.samples.length; i++) {
    if (isWindowed && inWindow[i] !== true) continue
    const node = byId.get(profile.samples[i] ?? -1)
    const us = Math.max(0, profile.timeDeltas[i] ?? 0)
    if (node === undefined) continue
    totalUs += us
    const frame = node.callFrame
    if (frame.functionName === '(idle)') {
      idleUs += us
      continue
    }
    const short = shortUrl(frame.url, repoRoot)
    let name = frameName(frame, short)
    // A native function (writeBuffer, writev…) says little alone: name the JS function that called it.
    const parent = frame.url === '' && !META_FRAMES.has(frame.functionName) ? byId.get(parentOf.get(node.id) ?? -1) : undefined
    if (parent !== undefined) name += ` ← ${frameName(parent.callFrame, shortUrl(parent.callFrame.url, repoRoot))}`
    byFunction.set(name, (byFunction.get(name) ?? 0) + us)
    const area = areaOf(frame, short)
    byArea.set(area, (byArea.get(area) ?? 0) + us)
    const stage = stageOfStack(node, byId, parentOf, repoRoot)
    byStage.set(stage, (byStage.get(stage) ?? 0) + us)
  }
  const busyUs = totalUs - idleUs
  return {
    isWindowed,
    totalMs: Math.round(totalUs / 1000),
    idleMs: Math.round(idleUs / 1000),
    topFunctions: rank(byFunction, busyUs, limit),
    topAreas: rank(byArea, busyUs, limit),
    stages: rank(byStage, busyUs, byStage.size),
  }
}

function sampleMask (profile: CpuProfile, window: ProfileWindow): boolean[] {
  const mask: boolean[] = []
  let at = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0
    mask.push(at >= window.startUs && at <= window.endUs)
  }
  return mask
}
