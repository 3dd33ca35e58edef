// `citygw maintenance add|list|end`: windows during which the alarms of a device, a district or a
// device group are recorded but not pushed to crews (DATA_DIR/maintenance.json, or the cluster's
// bucket when NATS_URL is set). A running gateway sees a change within REGISTRY_POLL_MS (file) or at
// once (bucket); when a window ends, what its devices still have open goes to the crews.
import { InvalidArgumentError, type Command } from 'commander'
import { loadConfig } from '../broker/config.ts'
import { withMaintenanceAdmin } from '../broker/maintenance/configured-store.ts'
import { planWindow, sortWindows } from '../broker/maintenance/store.ts'
import { parseWhen, WHEN_HELP } from '../broker/maintenance/when.ts'
import { describeScope, MAINTENANCE_REASON_MAX, maintenanceIdSchema, type MaintenanceScope, type MaintenanceWindow } from '../broker/maintenance/window.ts'
import { idSchema } from '../broker/registry/schema.ts'
import { print } from './output.ts'

/** What the CLI records as the author of its windows. */
export const CLI_AUTHOR = 'cli'

function parseName (value: string): string {
  const parsed = idSchema.safeParse(value)
  if (!parsed.success) throw new InvalidArgumentError(parsed.error.issues[0]?.message ?? 'not a valid name')
  return value
}

function parseId (value: string): string {
  if (!maintenanceIdSchema.safeParse(value).success) throw new InvalidArgumentError('not a maintenance id (12 characters, see `citygw maintenance list`)')
  return value
}

function parseReason (value: string): string {
  const reason = value.trim()
  if (reason.length === 0 || reason.length > MAINTENANCE_REASON_MAX) throw new InvalidArgumentError(`1–${MAINTENANCE_REASON_MAX} characters`)
  return reason
}

function statusOf (window: MaintenanceWindow, nowMs: number): string {
  if (Date.parse(window.to) <= nowMs) return 'ended'
  return Date.parse(window.from) <= nowMs ? 'running' : 'upcoming'
}

function printWindows (windows: readonly MaintenanceWindow[], asJson: boolean, nowMs: number): void {
  if (asJson) {
    print(JSON.stringify(windows))
    return
  }
  if (windows.length === 0) {
    print('no maintenance windows')
    return
  }
  print(['id', 'status', 'scope', 'from', 'to', 'created by', 'reason'].join('\t'))
  for (const w of windows) print([w.id, statusOf(w, nowMs), describeScope(w.scope), w.from, w.to, w.createdBy, w.reason].join('\t'))
}

interface AddOptions { device?: string; district?: string; group?: string; from: string; to: string; reason: string; json?: boolean }

export function addMaintenanceCommands (program: Command): void {
  const maintenance = program.command('maintenance')
    .description('maintenance windows: alarms of the covered devices are recorded but not pushed to crews, deviceOffline is not raised (the cluster\'s bucket when NATS_URL is set, else DATA_DIR/maintenance.json)')

  maintenance.command('add')
    .description('add a window for one device, a district or a device group')
    .option('--device <id>', 'one device', parseName)
    .option('--district <district>', 'every device of a district', parseName)
    .option('--group <group>', 'every device of a group (the registry\'s `group` of a device)', parseName)
    .option('--from <when>', `start: ${WHEN_HELP}`, 'now')
    .requiredOption('--to <when>', 'end: an offset from the start (`+2h`) or an ISO-8601 time with a zone')
    .requiredOption('--reason <text>', 'why (crews and operators read it)', parseReason)
    .option('--json', 'print the window as one JSON object')
    .action(async function maintenanceAdd (opts: AddOptions) {
      const given = (['device', 'district', 'group'] as const).filter(function isGiven (key) { return opts[key] !== undefined })
      if (given.length !== 1) throw new InvalidArgumentError('give exactly one of --device, --district, --group')
      const kind = given[0]!
      const scope: MaintenanceScope = { kind, name: opts[kind] ?? '' }
      const nowMs = Date.now()
      const fromMs = parseWhen(opts.from, nowMs)
      if (fromMs === undefined) throw new InvalidArgumentError(`--from: ${WHEN_HELP}`)
      const toMs = parseWhen(opts.to, fromMs)
      if (toMs === undefined) throw new InvalidArgumentError('--to: an offset from the start (`+2h`) or an ISO-8601 time with a zone')
      const planned = planWindow({ scope, fromMs, toMs, reason: opts.reason, createdBy: CLI_AUTHOR }, nowMs)
      if (!planned.ok) throw new InvalidArgumentError(`--to: ${planned.message}`)
      await withMaintenanceAdmin(loadConfig(), function add (admin) { return admin.add(planned.window) })
      if (opts.json === true) print(JSON.stringify(planned.window))
      else print(`maintenance window ${planned.window.id} for ${describeScope(scope)} from ${planned.window.from} to ${planned.window.to}`)
    })

  maintenance.command('list')
    .description('windows running, upcoming and ended in the last 7 days: id, status, scope, from, to, created by, reason')
    .option('--json', 'one JSON array')
    .action(async function maintenanceList (opts: { json?: boolean }) {
      const nowMs = Date.now()
      const windows = await withMaintenanceAdmin(loadConfig(), function list (admin) { return admin.list() })
      printWindows(sortWindows(windows, nowMs), opts.json === true, nowMs)
    })

  maintenance.command('end')
    .description('end a window now (one to come is cancelled); what its devices still have open goes to the crews')
    .argument('<id>', 'window id from `citygw maintenance list`', parseId)
    .option('--json', 'print the ended window as one JSON object')
    .action(async function maintenanceEnd (id: string, opts: { json?: boolean }) {
      const ended = await withMaintenanceAdmin(loadConfig(), function end (admin) { return admin.end(id, CLI_AUTHOR, Date.now()) })
      if (ended === undefined) {
        process.stderr.write(`citygw: no running or upcoming maintenance window ${id}\n`)
        process.exitCode = 1
        return
      }
      if (opts.json === true) print(JSON.stringify(ended))
      else print(`maintenance window ${ended.id} ended at ${ended.to}`)
    })
}
