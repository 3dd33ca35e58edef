// `citygw incident list|ack`: the operators' view of incidents, with the API's semantics. `list`
// reads DATA_DIR/incidents.json (what the gateway keeps, at most 250 ms behind); `ack` asks the
// running gateway through DATA_DIR/incident-acks.json, waits (bounded) for its answer and prints it.
// Both open and seal who acknowledged and the note with the data key (never made here).
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { InvalidArgumentError, type Command } from 'commander'
import { loadConfig, type Config } from '../broker/config.ts'
import { incidentAcksPath, readIncidentAckRequests, updateIncidentAckRequests, type IncidentAckRequest } from '../broker/alarms/incident-ack-requests.ts'
import { incidentsPath, readIncidentsFile } from '../broker/alarms/incident-file.ts'
import { readDataKey } from '../broker/crypto/data-key.ts'
import type { Incident } from '../broker/alarms/incident-record.ts'
import { lockHolder } from '../broker/lock-file.ts'
import { idSchema } from '../broker/registry/schema.ts'
import { CLI_AUTHOR } from './maintenance.ts'
import { print } from './output.ts'

/** How long `ack` waits for the gateway's answer: several of its polls. */
const ANSWER_WAIT_MS = 20_000
const ANSWER_POLL_MS = 100

function parseName (value: string): string {
  if (!idSchema.safeParse(value).success) throw new InvalidArgumentError('not a district name')
  return value
}

function parseIncidentId (value: string): string {
  if (!/^[0-9a-f-]{1,64}$/.test(value)) throw new InvalidArgumentError('not an incident id (see `citygw incident list`)')
  return value
}

function parseNote (value: string): string {
  if (value.length > 500) throw new InvalidArgumentError('at most 500 characters')
  return value
}

/** Open and acknowledged incidents first, then the recently closed ones (newest first): the API's order. */
export async function listIncidents (config: Config, filter: { district?: string; isOpenOnly?: boolean } = {}): Promise<Incident[]> {
  if (config.NATS_URL.length > 0) throw new InvalidArgumentError('incidents are kept in DATA_DIR by a single gateway; in cluster mode use GET /api/incidents')
  const saved = await readIncidentsFile(incidentsPath(config.DATA_DIR), await readDataKey(config))
  if (saved === undefined) return []
  const all = [...saved.open.map(function recordOf (o) { return o.incident }), ...(filter.isOpenOnly === true ? [] : saved.closed)]
  return all.filter(function matches (i) { return filter.district === undefined || i.district === filter.district })
}

async function isGatewayRunning (dataDir: string): Promise<boolean> {
  const pid = await lockHolder(path.join(dataDir, 'gateway.lock'))
  if (pid === undefined) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export type CliAckOutcome = { ok: true; incident: Incident } | { ok: false; message: string }

/** Asks the running gateway to acknowledge an incident and its active members as `by`; waits for the answer. */
export async function acknowledgeIncident (config: Config, incidentId: string, note: string | undefined, by = CLI_AUTHOR): Promise<CliAckOutcome> {
  const known = (await listIncidents(config)).find(function byId (i) { return i.id === incidentId })
  if (known === undefined) return { ok: false, message: `no incident ${incidentId}` }
  if (known.state === 'closed') return { ok: false, message: `incident ${incidentId} is already closed` }
  if (!(await isGatewayRunning(config.DATA_DIR))) return { ok: false, message: `no gateway is running on DATA_DIR ${config.DATA_DIR}: an incident is acknowledged by the running gateway` }
  const file = incidentAcksPath(config.DATA_DIR)
  const cipher = await readDataKey(config)
  const request: IncidentAckRequest = { id: randomBytes(8).toString('hex'), incidentId, by, requestedAt: Date.now(), ...(note === undefined ? {} : { note }) }
  await updateIncidentAckRequests(file, cipher, function added (requests) { return [...requests, request] })
  const deadline = Date.now() + ANSWER_WAIT_MS
  let answer: IncidentAckRequest | undefined
  while (answer === undefined && Date.now() < deadline) {
    await sleep(ANSWER_POLL_MS)
    answer = (await readIncidentAckRequests(file, cipher)).find(function mine (r) { return r.id === request.id && r.outcome !== undefined })
  }
  // Answered or not, the request is this command's to take away.
  await updateIncidentAckRequests(file, cipher, function removed (requests) { return requests.filter(function others (r) { return r.id !== request.id }) })
  if (answer === undefined) return { ok: false, message: `the gateway did not answer within ${ANSWER_WAIT_MS / 1000} s` }
  if (answer.outcome === 'acknowledged' && answer.incident !== undefined) return { ok: true, incident: answer.incident }
  return { ok: false, message: answer.outcome === 'closed' ? `incident ${incidentId} is already closed` : `no open incident ${incidentId}` }
}

function printIncidents (incidents: readonly Incident[], asJson: boolean): void {
  if (asJson) {
    print(JSON.stringify(incidents))
    return
  }
  if (incidents.length === 0) {
    print('no incidents')
    return
  }
  print(['id', 'state', 'type', 'group', 'district', 'severity', 'members', 'opened', 'acknowledged by', 'closed'].join('\t'))
  for (const i of incidents) print([i.id, i.state, i.type, i.group, i.district, i.severity, i.members.length, i.openedAt, i.ackedBy ?? '-', i.closedAt ?? '-'].join('\t'))
}

export function addIncidentCommands (program: Command): void {
  const incident = program.command('incident')
    .description('incidents of device groups (DATA_DIR/incidents.json of a single gateway): list, acknowledge')

  incident.command('list')
    .description('open and acknowledged incidents, then the recently closed ones: id, state, type, group, district, severity, members, opened, acknowledged by, closed')
    .option('--district <district>', 'only this district\'s', parseName)
    .option('--open', 'only open and acknowledged ones')
    .option('--json', 'one JSON array')
    .action(async function incidentList (opts: { district?: string; open?: boolean; json?: boolean }) {
      const incidents = await listIncidents(loadConfig(), { ...(opts.district === undefined ? {} : { district: opts.district }), isOpenOnly: opts.open === true })
      printIncidents(incidents, opts.json === true)
    })

  incident.command('ack')
    .description(`acknowledge an incident and every active member alarm (ackedBy \`${CLI_AUTHOR}\`); the running gateway applies it and tells crews`)
    .argument('<id>', 'incident id from `citygw incident list`', parseIncidentId)
    .option('--note <text>', 'a note for crews (at most 500 characters)', parseNote)
    .option('--json', 'print the acknowledged incident as one JSON object')
    .action(async function incidentAck (id: string, opts: { note?: string; json?: boolean }) {
      const outcome = await acknowledgeIncident(loadConfig(), id, opts.note)
      if (!outcome.ok) {
        process.stderr.write(`citygw: ${outcome.message}\n`)
        process.exitCode = 1
        return
      }
      if (opts.json === true) print(JSON.stringify(outcome.incident))
      else print(`incident ${outcome.incident.id} acknowledged (${outcome.incident.members.length} member alarms)`)
    })
}
