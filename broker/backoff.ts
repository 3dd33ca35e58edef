// The wait before the next try after `failures` failed ones, for every retry loop of the gateway
// (InfluxDB and NGSI-LD writes, e-mail, webhooks, cluster compare-and-set).

/** Full jitter: uniform in [0, min(cap, base·2^n)], so that clients that failed together do not retry together. */
export function backoffDelayMs (failures: number, initialMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(failures, 30))
  return Math.floor(random() * ceiling)
}
