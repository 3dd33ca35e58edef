// `citygw cluster status`: the cluster as NATS holds it (live nodes, telemetry stream depth, the
// InfluxDB writer's backlog, the offline-check holder). Needs NATS_URL.
import { hostname } from 'node:os'
import type { Command } from 'commander'
import { loadConfig } from '../broker/config.ts'
import { GatewayError } from '../broker/errors.ts'
import { createLogger } from '../broker/log.ts'
import { connectNats } from '../broker/cluster/connection.ts'
import { readClusterStatus, type ClusterStatus } from '../broker/cluster/status.ts'
import { print } from './output.ts'

function describe (status: ClusterStatus): string[] {
  const lines = [`NATS servers: ${status.natsServers.join(', ') || '(unknown)'}`]
  lines.push(`gateway nodes alive: ${status.nodes.length}`)
  for (const node of status.nodes) {
    lines.push(`  ${node.node}\thost ${node.host} pid ${node.pid}\t${node.connections} connections\tsince ${node.startedAt}\tseen ${node.updatedAt}`)
  }
  const t = status.telemetry
  lines.push(t === null
    ? 'telemetry stream: not created yet'
    : `telemetry stream: ${t.messages} messages, ${t.bytes} bytes waiting for InfluxDB, oldest ${t.oldestAgeSec === null ? '-' : `${t.oldestAgeSec} s`} old (R${t.replicas})`)
  const w = status.writer
  lines.push(w === null
    ? 'InfluxDB writer: consumer not created yet'
    : `InfluxDB writer: ${w.pending} messages not yet delivered, ${w.ackPending} being written, ${w.redelivered} redelivered`)
  lines.push(`offline check held by: ${status.offlineCheckHolder ?? '(nobody)'}`)
  return lines
}

export function addClusterCommands (program: Command): void {
  program.command('cluster')
    .description('cluster mode (NATS_URL): state of the gateway nodes')
    .command('status')
    .description('live nodes, telemetry stream depth, InfluxDB writer lag, offline-check holder')
    .option('--json', 'one JSON object')
    .action(async function clusterStatus (opts: { json?: boolean }) {
      const config = loadConfig()
      if (config.NATS_URL.length === 0) throw new GatewayError('CSG_CONFIG_INVALID', 'NATS_URL: not set; `citygw cluster status` reads the cluster from NATS')
      const nc = await connectNats(config, `citygw-status-${hostname()}`, createLogger('silent'))
      try {
        const status = await readClusterStatus(nc)
        if (opts.json === true) print(JSON.stringify(status))
        else for (const line of describe(status)) print(line)
      } finally {
        await nc.close()
      }
    })
}
