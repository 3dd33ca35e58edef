// The NGSI-LD export's figures in /metrics: counters fed by the exporter's hooks, gauges read from
// its state at scrape time (entities owed, how old the oldest owed reading is, whether it delivers).
import { Counter, Gauge, type Registry } from 'prom-client'
import type { ExporterMetrics, ExporterState } from './exporter.ts'

export function registerNgsiMetrics (registry: Registry, state: () => ExporterState): ExporterMetrics {
  const registers = [registry]
  const exported = new Counter({ name: 'citygw_ngsi_entities_exported_total', help: 'Entity updates the NGSI-LD context broker took', registers })
  const failures = new Counter({ name: 'citygw_ngsi_failures_total', help: 'NGSI-LD requests that failed and are retried, by reason (retry: network, 5xx, 429; unauthorized: 401/403)', labelNames: ['reason'] as const, registers })
  const quarantined = new Counter({ name: 'citygw_ngsi_quarantined_entities_total', help: 'Entity updates the NGSI-LD context broker refused (4xx), kept in DATA_DIR/ngsi-ld/quarantine.jsonl', registers })
  new Gauge({ name: 'citygw_ngsi_pending_entities', help: 'Entities owed to the NGSI-LD context broker (coalesced: one per device or alarm)', registers, collect () { this.set(state().pendingEntities) } })
  new Gauge({
    name: 'citygw_ngsi_lag_seconds',
    help: 'Age of the oldest reading or alarm change not yet taken by the NGSI-LD context broker (0 when nothing is owed)',
    registers,
    collect () {
      const oldest = state().oldestPendingMs
      this.set(oldest === null ? 0 : Math.max(0, Date.now() - oldest) / 1000)
    },
  })
  new Gauge({ name: 'citygw_ngsi_up', help: '1 when the last NGSI-LD request succeeded', registers, collect () { this.set(state().connected ? 1 : 0) } })
  return {
    onExported (entities) { exported.inc(entities) },
    onFailure (reason) { failures.inc({ reason }) },
    onQuarantine (entities) { quarantined.inc(entities) },
  }
}
