// `citygw crew add` and `citygw operator add`: people's accounts in the registry (DATA_DIR, or the
// cluster's bucket when NATS_URL is set), each secret printed once.
import type { Command } from 'commander'
import { addCrew, addOperator } from '../broker/registry/provision.ts'
import { printCredential } from './output.ts'
import { loadConfig } from '../broker/config.ts'
import { withRegistryStore } from '../broker/cluster/configured-registry-store.ts'

export function addCrewCommands (program: Command): void {
  program.command('crew')
    .description('maintenance-crew accounts')
    .command('add')
    .description('register a crew and print its secret once')
    .argument('<name>')
    .option('--districts <list>', 'comma-separated districts whose alarms the crew sees (default: all)')
    .option('--json', 'print {"id","secret"} as one JSON object')
    .action(async function crewAdd (name: string, opts: { districts?: string; json?: boolean }) {
      const districts = opts.districts?.split(',').map(function trim (d) { return d.trim() }).filter(Boolean)
      const credential = await withRegistryStore(loadConfig(), function addTo (store) { return addCrew(store, name, districts) })
      printCredential(credential, opts.json === true, 'crew')
    })
}

export function addOperatorCommands (program: Command): void {
  program.command('operator')
    .description('operator accounts for the HTTP API and console (all districts, all devices)')
    .command('add')
    .description('register an operator and print its secret once')
    .argument('<name>')
    .option('--json', 'print {"id","secret"} as one JSON object')
    .action(async function operatorAdd (name: string, opts: { json?: boolean }) {
      const credential = await withRegistryStore(loadConfig(), function addTo (store) { return addOperator(store, name) })
      printCredential(credential, opts.json === true, 'operator')
    })
}
