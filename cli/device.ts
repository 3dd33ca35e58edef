// `citygw device add|list|remove|import`: the device registry under DATA_DIR. Secrets are printed
// once and stored only as hashes (broker/registry/provision.ts).
import { readFile, writeFile } from 'node:fs/promises'
import { Option, type Command } from 'commander'
import { kindNames } from '../devices/index.ts'
import { addDevice, importDevices, removeDevice } from '../broker/registry/provision.ts'
import { readRegistry } from '../broker/registry/store.ts'
import { parseNumber, print, printCredential, registryFile } from './output.ts'

export function addDeviceCommands (program: Command): void {
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
}
