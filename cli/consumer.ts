// `citygw consumer add|list|remove`: outside consumers (other departments, an open-data portal) in
// the registry (DATA_DIR, or the cluster's bucket when NATS_URL is set). The token is printed once
// and stored only as a hash (broker/consumers/provision.ts); `list` never shows it.
import { Option, type Command } from 'commander'
import { addConsumer, DEFAULT_CONSUMER_LOCATION, removeConsumer } from '../broker/consumers/provision.ts'
import { LOCATION_PRECISIONS } from '../broker/consumers/scope.ts'
import { loadConfig } from '../broker/config.ts'
import { withRegistryStore } from '../broker/cluster/configured-registry-store.ts'
import { print } from './output.ts'

function listOf (value: string | undefined): string[] | undefined {
  return value?.split(',').map(function trim (v) { return v.trim() }).filter(Boolean)
}

export function addConsumerCommands (program: Command): void {
  const consumer = program.command('consumer').description('outside consumers: read-only data within a scope, by token')

  consumer.command('add')
    .description('register a consumer and print its token once')
    .argument('<name>', 'consumer name (1–64 of A-Z a-z 0-9 - _ .); also its MQTT username')
    .option('--districts <list>', 'comma-separated districts it sees (default: all)')
    .option('--kinds <list>', 'comma-separated device kinds it sees (default: all)')
    .option('--fields <list>', 'comma-separated reading fields it sees, of those kinds (default: all)')
    .addOption(new Option('--location <precision>', 'how precise device locations are').choices(LOCATION_PRECISIONS).default(DEFAULT_CONSUMER_LOCATION))
    .option('--json', 'print {"name","token"} as one JSON object')
    .action(async function consumerAdd (name: string, opts: { districts?: string; kinds?: string; fields?: string; location: string; json?: boolean }) {
      const input = { districts: listOf(opts.districts), kinds: listOf(opts.kinds), fields: listOf(opts.fields), location: opts.location }
      const credential = await withRegistryStore(loadConfig(), function addTo (store) { return addConsumer(store, name, input) })
      if (opts.json === true) {
        print(JSON.stringify(credential))
        return
      }
      print(`consumer ${credential.name} registered.`)
      print(`token: ${credential.token}`)
      print('This token is shown once and stored only as a hash: keep it now.')
    })

  consumer.command('list')
    .description('list consumers and their scopes (never their tokens)')
    .option('--json', 'one JSON object per line')
    .action(async function consumerList (opts: { json?: boolean }) {
      const data = await withRegistryStore(loadConfig(), function readFrom (store) { return store.read() })
      for (const [name, record] of Object.entries(data.consumers)) {
        const { scope, createdAt } = record
        print(opts.json === true
          ? JSON.stringify({ name, ...scope, createdAt })
          : [name, scope.districts?.join(',') ?? '*', scope.kinds?.join(',') ?? '*', scope.fields?.join(',') ?? '*', scope.location].join('\t'))
      }
    })

  consumer.command('remove')
    .description('remove a consumer; a running gateway refuses its token at once')
    .argument('<name>')
    .action(async function consumerRemove (name: string) {
      await withRegistryStore(loadConfig(), function removeFrom (store) { return removeConsumer(store, name) })
      print(`consumer ${name} removed`)
    })
}
