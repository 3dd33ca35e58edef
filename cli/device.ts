// `citygw device add|list|remove|import`: the device registry (DATA_DIR/registry.json, or the
// cluster's bucket when NATS_URL is set). Secrets are printed once and stored only as hashes
// (broker/registry/provision.ts).
import { open, readFile, rm } from 'node:fs/promises'
import { Option, type Command } from 'commander'
import { kindNames } from '../devices/index.ts'
import { addDevice, importDevices, removeDevice, type Credential } from '../broker/registry/provision.ts'
import { parseNumber, print, printCredential } from './output.ts'
import { loadConfig } from '../broker/config.ts'
import { withRegistryStore } from '../broker/cluster/configured-registry-store.ts'

export function addDeviceCommands (program: Command): void {
  const device = program.command('device').description('register, list, remove and import devices')

  device.command('add')
    .description('register a device and print its secret once')
    .argument('<id>', 'device id (1–64 of A-Z a-z 0-9 - _ .)')
    .addOption(new Option('--kind <kind>', 'device kind').choices(kindNames).makeOptionMandatory())
    .requiredOption('--district <district>', 'district name')
    .option('--lat <deg>', 'latitude', parseNumber)
    .option('--lon <deg>', 'longitude', parseNumber)
    .option('--group <group>', 'what it hangs on with other devices: feeder, cabinet, pressure zone, sewer section')
    .option('--json', 'print {"id","secret"} as one JSON object')
    .action(async function deviceAdd (id: string, opts: { kind: string; district: string; lat?: number; lon?: number; group?: string; json?: boolean }) {
      const device = { id, kind: opts.kind, district: opts.district, lat: opts.lat, lon: opts.lon, group: opts.group }
      const credential = await withRegistryStore(loadConfig(), function addTo (store) { return addDevice(store, device) })
      printCredential(credential, opts.json === true, 'device')
    })

  device.command('list')
    .description('list registered devices')
    .option('--json', 'one JSON object per line')
    .action(async function deviceList (opts: { json?: boolean }) {
      const data = await withRegistryStore(loadConfig(), function readFrom (store) { return store.read() })
      for (const [id, record] of Object.entries(data.devices)) {
        const { secretHash: _hash, ...visible } = record
        print(opts.json === true
          ? JSON.stringify({ id, ...visible })
          : [id, record.kind, record.district, record.lat ?? '', record.lon ?? '', record.group ?? ''].join('\t'))
      }
    })

  device.command('remove')
    .description('remove a device; a running gateway disconnects it')
    .argument('<id>')
    .action(async function deviceRemove (id: string) {
      await withRegistryStore(loadConfig(), function removeFrom (store) { return removeDevice(store, id) })
      print(`device ${id} removed`)
    })

  device.command('import')
    .description('register devices from CSV (id,kind,district,lat,lon[,group] with a header) or JSON lines; prints secrets as JSON lines')
    .argument('<file>')
    .option('--out <file>', 'write the secrets there (mode 0600) instead of stdout')
    .action(async function deviceImport (file: string, opts: { out?: string }) {
      const text = await readFile(file, 'utf8')
      if (opts.out === undefined) {
        const credentials = await withRegistryStore(loadConfig(), function importInto (store) { return importDevices(store, text) })
        process.stdout.write(secretLines(credentials))
        return
      }
      // Opened before the import: once devices are registered, their secrets must have a place to go.
      const out = await open(opts.out, 'wx', 0o600)
      let credentials: Credential[]
      try {
        credentials = await withRegistryStore(loadConfig(), function importInto (store) { return importDevices(store, text) })
      } catch (err) {
        await out.close()
        await rm(opts.out, { force: true })
        throw err
      }
      try {
        await out.writeFile(secretLines(credentials))
      } finally {
        await out.close()
      }
      print(`${credentials.length} devices registered; secrets written to ${opts.out}`)
    })
}

function secretLines (credentials: Credential[]): string {
  return credentials.map(function asLine (c) { return JSON.stringify(c) }).join('\n') + '\n'
}
