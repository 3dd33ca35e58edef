// Plausible readings per device kind for the demo (the full models with day/night profiles and
// scripted faults belong to the simulator issue). Typed from the devices/ schemas, so a schema
// change breaks this file at compile time.
import type { LampPostReading, ManholeReading, WaterPipeReading } from '../devices/index.ts'
import type { KindName } from '../devices/index.ts'

/** Deterministic pseudo-random numbers (mulberry32), so a seed repeats a run. */
export function createRandom (seed: number): () => number {
  let state = seed >>> 0
  return function nextRandom () {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function around (random: () => number, centre: number, spread: number, decimals = 1): number {
  const factor = 10 ** decimals
  return Math.round((centre + (random() * 2 - 1) * spread) * factor) / factor
}

export function lampPostReading (random: () => number, seq: number): LampPostReading {
  const level = 80
  return {
    seq,
    commandedLevel: level,
    actualLevel: level,
    supplyVoltage: around(random, 230, 3),
    activePower: around(random, 0.8 * level * 0.6, 1.5),
    powerFactor: around(random, 0.95, 0.02, 2),
    gearTemp: around(random, 38, 2),
    tilt: around(random, 0.5, 0.2),
    ambientLux: around(random, 2, 1),
    doorOpen: false,
  }
}

export function waterPipeReading (random: () => number, seq: number): WaterPipeReading {
  return {
    seq,
    pressure: around(random, 420, 15),
    flowRate: around(random, 35, 5),
    waterTemp: around(random, 12, 0.5),
    turbidity: around(random, 0.3, 0.1, 2),
    freeChlorine: around(random, 0.5, 0.05, 2),
    pH: around(random, 7.4, 0.1, 2),
    leakScore: Math.round(random() * 10),
    battery: 90,
  }
}

export function manholeReading (random: () => number, seq: number): ManholeReading {
  return {
    seq,
    coverAngle: around(random, 0.8, 0.4),
    coverOpen: false,
    waterLevel: around(random, 0.3, 0.05, 2),
    h2s: around(random, 0.5, 0.4),
    ch4: around(random, 0.5, 0.4),
    o2: around(random, 20.9, 0.1),
    temperature: around(random, 11, 1),
    battery: 80,
  }
}

export const readingGenerators: { readonly [K in KindName]: (random: () => number, seq: number) => object } = {
  'lamp-post': lampPostReading,
  'water-pipe': waterPipeReading,
  manhole: manholeReading,
}
