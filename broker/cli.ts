// The `citygw` command line: start the gateway, provision devices and crews, print schemas.
// Output meant for people or scripts goes to stdout; logs (pino JSON) only from `start`.
import { readFile, writeFile } from 'node:fs/promises'
import { Command, InvalidArgumentError, Option } from 'commander'
import { kindNames, getKind } from '../devices/index.ts'
import { kindJsonSchema } from '../devices/json-schema.ts'
import { loadConfig } from './config.ts'
import { isGatewayError } from './errors.ts'
import { createLogger } from './log.ts'
import { addCrew, addDevice, addOperator, importDevices, removeDevice, type Credential } from './registry/provision.ts'
import { readRegistry, registryPath } from './registry/store.ts'
import type { SimulateCliOptions } from '../simulators/cli.ts'

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

function collectValues (value: string, previous: string[]): string[] {
  return [...previous, value]
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

program.command('operator')
  .description('operator accounts for the HTTP API and console (all districts, all devices)')
  .command('add')
  .description('register an operator and print its secret once')
  .argument('<name>')
  .option('--json', 'print {"id","secret"} as one JSON object')
  .action(async function operatorAdd (name: string, opts: { json?: boolean }) {
    printCredential(await addOperator(registryFile(), name), opts.json === true, 'operator')
  })

program.command('cert')
  .description('create a development TLS certificate and key with openssl (self-signed, a CA, or signed by a CA); the key is mode 0600')
  .option('--out-dir <dir>', 'where to write <name>.pem and its key', 'tls')
  .option('--cn <name>', 'subject CN: host name or IP for a server, device id for a client certificate', 'localhost')
  .option('--days <n>', 'validity in days (1–3650)', parseNumber, 365)
  .option('--ca', 'create a CA certificate (ca.pem, ca-key.pem) to use as TLS_CA')
  .option('--ca-cert <file>', 'sign with this CA certificate instead of self-signing')
  .option('--ca-key <file>', 'the CA\'s key')
  .option('--name <stem>', 'file name stem (default cert/key, or ca/ca-key with --ca)')
  .option('--force', 'replace existing files')
  .action(async function certCommand (opts: { outDir: string; cn: string; days: number; ca?: boolean; caCert?: string; caKey?: string; name?: string; force?: boolean }) {
    const { createCertificate } = await import('./cert.ts')
    const files = await createCertificate({
      outDir: opts.outDir, cn: opts.cn, days: opts.days, isCa: opts.ca === true, caCert: opts.caCert, caKey: opts.caKey, name: opts.name, overwrite: opts.force === true,
    })
    print(`certificate: ${files.cert}`)
    print(`key (mode 0600): ${files.key}`)
    if (opts.ca === true) print(`use it with: TLS_CA=${files.cert} TLS_CLIENT_AUTH=optional`)
    else if (opts.caCert === undefined) print(`use it with: MQTTS_PORT=8883 TLS_CERT=${files.cert} TLS_KEY=${files.key}`)
  })

program.command('simulate')
  .description('simulate a district of devices (models, scripted faults, time compression) or, with --load, a load generator')
  .option('--url <url>', 'broker URL: mqtt://, mqtts://, ws:// or wss://', `mqtt://127.0.0.1:${process.env.MQTT_PORT ?? '1883'}`)
  .option('--lamp-posts <n>', 'lamp posts (default fleet: 3 lamp posts, 2 water pipes, 2 manholes)', parseNumber)
  .option('--water-pipes <n>', 'water pipes', parseNumber)
  .option('--manholes <n>', 'manholes', parseNumber)
  .option('--district <name>', 'district of the simulated devices (device ids start with it)', 'sim')
  .option('--lat <deg>', 'latitude of the district: gives dusk and dawn', parseNumber, 52.37)
  .option('--lon <deg>', 'longitude of the district: gives local solar time', parseNumber, 4.89)
  .option('--interval <duration>', 'simulated time between two readings of a device (90, 90s, 2m)', '60')
  .option('--duration <duration>', 'real run time (90, 2m, 1h); default: until Ctrl-C (load mode: 30 s)')
  .option('--speed <n>', 'time compression: simulated time runs n× faster (it ends at the real clock)', parseNumber, 1)
  .option('--start <iso>', 'simulated start time (default: now − duration × speed)')
  .option('--scenario <name@offset[+duration][:deviceId]>', 'inject a fault at a simulated offset, e.g. pipe-burst@2m (repeatable)', collectValues, [])
  .option('--seed <n>', 'random seed: the same seed repeats the same readings', parseNumber, 1)
  .option('--provision', 'register the fleet (and a crew) in the registry under DATA_DIR and write a fleet file (mode 0600)')
  .option('--fleet <file>', 'fleet file with the devices\' credentials (written by --provision)')
  .option('--crew <name>', 'watch alarms as this crew (secret in CITYGW_CREW_SECRET); default: the fleet file\'s crew')
  .option('--no-alarms', 'do not subscribe to alarms')
  .option('--ca <file>', 'CA certificate (PEM) for mqtts:// or wss://')
  .option('--insecure', 'accept any server certificate (development only)')
  .option('--json', 'print one JSON summary on stdout')
  .option('--load', 'load mode: many devices at a target rate, reporting rate and publish→PUBACK latency')
  .option('--devices <n>', 'load mode: number of devices (default 100)', parseNumber)
  .option('--rate <msgs/s>', 'load mode: total messages per second (default: as fast as --window allows)', parseNumber)
  .option('--qos <0|1>', 'load mode: QoS of the publishes', '1')
  .option('--window <n>', 'load mode: publishes in flight per device (default 16 without --rate, 100 with)', parseNumber)
  .option('--warmup <duration>', 'load mode: load before the measured window', '2')
  .action(async function simulate (opts: SimulateCliOptions) {
    // Loaded here: the simulators are not part of the gateway.
    const { runSimulateCommand } = await import('../simulators/cli.ts')
    await runSimulateCommand(opts)
  })

try {
  await program.parseAsync()
} catch (err) {
  process.stderr.write(`citygw: ${isGatewayError(err) ? `${err.message} (${err.code})` : (err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
}
