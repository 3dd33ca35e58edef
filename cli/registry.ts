// `citygw registry export|import`: the whole registry in registry.json format, hashes and all, to
// move it between DATA_DIR/registry.json and the cluster's bucket (NATS_URL decides which one a
// command works on). No secret is involved: entries keep their hashes.
import { open, readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { ENTRY_KINDS, SECTION_OF } from '../broker/registry/entries.ts'
import type { RegistryData } from '../broker/registry/schema.ts'
import { parseRegistry, registryText } from '../broker/registry/store.ts'
import { exportRegistry, importRegistry, type ImportCounts } from '../broker/registry/transfer.ts'
import { print } from './output.ts'
import { loadConfig } from '../broker/config.ts'
import { withRegistryStore } from '../broker/cluster/configured-registry-store.ts'

function sizes (data: RegistryData): string {
  return ENTRY_KINDS.map(function count (kind) { return `${SECTION_OF[kind]}: ${Object.keys(data[SECTION_OF[kind]]).length}` }).join(', ')
}

function describeCounts (counts: ImportCounts): string {
  return ENTRY_KINDS.map(function line (kind) {
    const { added, replaced, updated, unchanged } = counts[kind]
    return `${SECTION_OF[kind]}: ${added} added, ${replaced} replaced, ${updated} updated, ${unchanged} unchanged`
  }).join('\n')
}

export function addRegistryCommands (program: Command): void {
  const registry = program.command('registry')
    .description('export or import the whole registry (registry.json format, secrets as hashes): the cluster\'s bucket when NATS_URL is set, else DATA_DIR/registry.json')

  registry.command('export')
    .description('print the registry, or write it to a new file (mode 0600)')
    .option('--out <file>', 'write it there instead of stdout')
    .action(async function registryExport (opts: { out?: string }) {
      const { data, source } = await withRegistryStore(loadConfig(), async function readAll (store) {
        return { data: await exportRegistry(store), source: store.describe }
      })
      if (opts.out === undefined) {
        process.stdout.write(registryText(data))
        return
      }
      const out = await open(opts.out, 'wx', 0o600)
      try {
        await out.writeFile(registryText(data))
      } finally {
        await out.close()
      }
      print(`registry of ${source} (${sizes(data)}) written to ${opts.out}`)
    })

  registry.command('import')
    .description('add the entries of a registry.json file; refuses ids registered with another secret (unless --replace) or as another kind; all or nothing; entries the file does not name are kept')
    .argument('<file>')
    .option('--replace', 'take the file\'s secret hash for ids registered with another one')
    .action(async function registryImport (file: string, opts: { replace?: boolean }) {
      const incoming = parseRegistry(await readFile(file, 'utf8'), file)
      const { counts, target } = await withRegistryStore(loadConfig(), async function importInto (store) {
        return { counts: await importRegistry(store, incoming, { replace: opts.replace === true }), target: store.describe }
      })
      print(`${file} imported into ${target}`)
      print(describeCounts(counts))
    })
}
