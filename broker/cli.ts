// The `citygw` command line: start the gateway, provision devices and crews, print schemas.
// Output meant for people or scripts goes to stdout; logs (pino JSON) only from `start`.
import { readFile, writeFile } from 'node:fs/promises'
import { Command, InvalidArgumentError, Option } from 'commander'
import { kindNames, getKind } from '../devices/index.ts'
import { kindJsonSchema } from '../devices/json-schema.ts'
import { loadConfig } from './config.ts'
import { isGatewayError } from './errors.ts'
import { createLogger } from './log.ts'
import { addCrew, addDevice, importDevices, removeDevice, type Credential } from './registry/provision.ts'
import { readRegistry, registryPath } from './registry/store.ts'

function print (text: string): void {
  process.stdout.write(`${text}\n`)
}

function registryFile (): string {
  return registryPath(loadConfig().DATA_DIR)
}

function printCredential (credential: Credential, asJson: boolean, what: string): void {
  if (asJson) {
    print(JSON.stringify(credential))
    return
  }
  print(`${what} ${credential.id} registered.`)
  print(`secret: ${credential.secret}`)
  print('This secret is shown once and stored only as a hash: keep it now.')
}

function parseNumber (value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n)) throw new InvalidArgumentError('not a number')
  return n
}

async function runGateway (): Promise<void> {
  const config = loadConfig()
  const log = createLogger(config.LOG_LEVEL)
  // Loaded here, not at the top: provisioning commands need neither the broker nor the HTTP stack.
  const { startGateway } = await import('./main.ts')
  const gateway = await startGateway(config, log)
  let stopping = false
  async function stop (signal: string): Promise<void> {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'shutting down')
    await gateway.close()
    process.exit(0)
  }
  process.once('SIGINT', function onSigint () { void stop('SIGINT') })
  process.once('SIGTERM', function onSigterm () { void stop('SIGTERM') })
  process.on('SIGHUP', function onSighup () { void gateway.reloadRegistry() })
}

const program = new Command('citygw')
  .description('MQTT gateway for a city\'s street sensors')
  .showHelpAfterError()

program.command('start')
  .description('run the gateway until SIGINT/SIGTERM (configuration from environment variables, see README)')
  .action(runGateway)

program.command('schema')
  .description('print the JSON Schema of one reading of a device kind (for firmware teams)')
  .addArgument(program.createArgument('<kind>', 'device kind').choices(kindNames))
  .action(function printSchema (kindName: string) {
    const kind = getKind(kindName)
    if (kind !== undefined) print(JSON.stringify(kindJsonSchema(kind), null, 2))
  })

const device = program.command('device').description('register, list, remove and import devices')

device.command('add')
  .description('register a device and print its secret once')
  .argument('<id>', 'device id (1–64 of A-Z a-z 0-9 - _ .)')
  .addOption(new Option('--kind <kind>', 'device kind').choices(kindNames).makeOptionMandatory())
  .requiredOption('--district <district>', 'district name')
  .option('--lat <deg>', 'latitude', parseNumber)
  .option('--lon <deg>', 'longitude', parseNumber)
  .option('--json', 'print {"id","secret"} as one JSON object')
  .action(async function deviceAdd (id: string, opts: { kind: string; district: string; lat?: number; lon?: number; json?: boolean }) {
    const credential = await addDevice(registryFile(), { id, kind: opts.kind, district: opts.district, lat: opts.lat, lon: opts.lon })
    printCredential(credential, opts.json === true, 'device')
  })

device.command('list')
  .description('list registered devices')
  .option('--json', 'one JSON object per line')
  .action(async function deviceList (opts: { json?: boolean }) {
    const data = await readRegistry(registryFile())
    for (const [id, record] of Object.entries(data.devices)) {
      const { secretHash: _hash, ...visible } = record
      print(opts.json === true
        ? JSON.stringify({ id, ...visible })
        : [id, record.kind, record.district, record.lat ?? '', record.lon ?? ''].join('\t'))
    }
  })

device.command('remove')
  .description('remove a device; a running gateway disconnects it')
  .argument('<id>')
  .action(async function deviceRemove (id: string) {
    await removeDevice(registryFile(), id)
    print(`device ${id} removed`)
  })

device.command('import')
  .description('register devices from CSV (id,kind,district,lat,lon with a header) or JSON lines; prints secrets as JSON lines')
  .argument('<file>')
  .option('--out <file>', 'write the secrets there (mode 0600) instead of stdout')
  .action(async function deviceImport (file: string, opts: { out?: string }) {
    const credentials = await importDevices(registryFile(), await readFile(file, 'utf8'))
    const text = credentials.map(function asLine (c) { return JSON.stringify(c) }).join('\n') + '\n'
    if (opts.out === undefined) {
      process.stdout.write(text)
    } else {
      await writeFile(opts.out, text, { mode: 0o600, flag: 'wx' })
      print(`${credentials.length} devices registered; secrets written to ${opts.out}`)
    }
  })

program.command('crew')
  .description('maintenance-crew accounts')
  .command('add')
  .description('register a crew and print its secret once')
  .argument('<name>')
  .option('--districts <list>', 'comma-separated districts whose alarms the crew sees (default: all)')
  .option('--json', 'print {"id","secret"} as one JSON object')
  .action(async function crewAdd (name: string, opts: { districts?: string; json?: boolean }) {
    const districts = opts.districts?.split(',').map(function trim (d) { return d.trim() }).filter(Boolean)
    printCredential(await addCrew(registryFile(), name, districts), opts.json === true, 'crew')
  })

try {
  await program.parseAsync()
} catch (err) {
  process.stderr.write(`citygw: ${isGatewayError(err) ? `${err.message} (${err.code})` : (err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
}
