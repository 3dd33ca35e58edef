// Picks the Sink implementation: the configured API (v1 or v2) and both implementations' options
// in; a Sink out. Kept apart from sink.ts so the interface imports no implementation.
import type { Sink } from './sink.ts'
import { createInfluxV1Sink, type InfluxV1SinkOptions } from './sink-influx-v1.ts'
import { createInfluxV2Sink, type InfluxV2SinkOptions } from './sink-influx-v2.ts'

/** What main.ts knows from the configuration: both implementations' options and which to use. */
export type SinkConfig = {
  /** 'v2': POST /api/v2/write (InfluxDB 2.x, 3.x, 1.8+, VictoriaMetrics); 'v1': POST /write (InfluxDB 1.x). */
  api: 'v1' | 'v2'
} & InfluxV1SinkOptions & InfluxV2SinkOptions

/** Chooses the implementation for `config.api`. */
export function createSink (config: SinkConfig): Sink {
  return config.api === 'v1' ? createInfluxV1Sink(config) : createInfluxV2Sink(config)
}
