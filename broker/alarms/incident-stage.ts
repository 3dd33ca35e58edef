// The incidents of the alarm stage, by configuration: alone, DATA_DIR/incidents.json (restored at
// start, rewritten after changes) and the CLI's acknowledgements through DATA_DIR/incident-acks.json;
// in a cluster, the csg-incidents bucket (broker/cluster/cluster-incidents.ts). None without groups.
import type { NatsConnection } from '@nats-io/transport-node'
import { startClusterIncidents, type ClusterIncidents } from '../cluster/cluster-incidents.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'
import type { Logger } from '../log.ts'
import { incidentAcksPath, startIncidentAckRequests, type IncidentAckRequests } from './incident-ack-requests.ts'
import { createIncidentsWriter, incidentsPath, readIncidentsFile } from './incident-file.ts'
import { createIncidents, type Incidents, type IncidentsOptions } from './incidents.ts'
import type { StateFileWriter } from './state.ts'

export interface IncidentStageOptions {
  dataDir: string
  /** How often DATA_DIR/incident-acks.json is looked at (REGISTRY_POLL_MS). */
  pollMs: number
  /** What both kinds of incidents need (rules, groups, member acknowledgement, out, log, mail). */
  incidents: Omit<IncidentsOptions, 'saved' | 'isAlarmOpen' | 'onChange'>
  /** The open alarms' ids at start: a saved member not among them cleared while the gateway was down. */
  openAlarmIds: ReadonlySet<string>
  cluster?: { nc: NatsConnection; replicas: number } | undefined
  /** Seals who acknowledged (and the CLI's notes) wherever incidents rest; undefined = clear. */
  cipher?: FieldCipher | undefined
  log: Logger
}

export interface IncidentStage {
  readonly incidents: Incidents
  /** Set in a cluster: told of every delivered alarm change. */
  readonly cluster: ClusterIncidents | undefined
  close(): Promise<void>
}

export async function startIncidentStage (options: IncidentStageOptions): Promise<IncidentStage> {
  if (options.cluster !== undefined) {
    const cluster = await startClusterIncidents({ ...options.incidents, ...options.cluster, cipher: options.cipher })
    return { incidents: cluster, cluster, close () { return cluster.close() } }
  }
  const saved = await readIncidentsFile(incidentsPath(options.dataDir), options.cipher)
  // Filled in once the incidents exist: restoring them may already report a change.
  const saver: { file?: StateFileWriter } = {}
  const incidents = createIncidents({
    ...options.incidents,
    saved,
    isAlarmOpen (alarmId) { return options.openAlarmIds.has(alarmId) },
    onChange () { saver.file?.save() },
  })
  const file = createIncidentsWriter(options.dataDir, function incidentsNow () { return incidents.snapshot() }, options.log, options.cipher)
  saver.file = file
  // What closed while the gateway was down is written back at once.
  if (saved !== undefined) file.save()
  // `citygw incident ack`: acknowledged for every district, as an operator would.
  const acks: IncidentAckRequests = startIncidentAckRequests({
    file: incidentAcksPath(options.dataDir),
    pollMs: options.pollMs,
    cipher: options.cipher,
    acknowledge (by, incidentId, note) { return incidents.acknowledge(by, undefined, incidentId, note, Date.now()) },
    log: options.log,
  })
  return {
    incidents,
    cluster: undefined,
    async close () {
      await acks.close()
      await incidents.close()
      file.save()
      await file.flush()
    },
  }
}
