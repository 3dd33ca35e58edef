// `citygw key create|rotate`: the data key file sealing personal data at rest (README "Personal data
// at rest"). create never overwrites; rotate adds a current key, keeps the earlier ones and seals again
// what the gateway owns (DATA_DIR, with NATS_URL the cluster's buckets) while no gateway runs.
import { hostname } from 'node:os'
import path from 'node:path'
import type { Command } from 'commander'
import { loadConfig, type Config } from '../broker/config.ts'
import { createLogger } from '../broker/log.ts'
import { connectNats } from '../broker/cluster/connection.ts'
import { refuseWhileNodesRun, rotateBuckets, type BucketRotateCounts } from '../broker/cluster/rotate-buckets.ts'
import { dataKeyPath } from '../broker/crypto/data-key.ts'
import { createKeyFile, newKeyFile } from '../broker/crypto/key-file.ts'
import { rotateDataKey } from '../broker/crypto/rotate.ts'
import { print } from './output.ts'

/** --file, else DATA_KEY_FILE, else DATA_DIR/data.key. */
function keyFileOf (file: string | undefined): { file: string; config: Config } {
  const config = loadConfig()
  return { file: file === undefined ? dataKeyPath(config) : path.resolve(file), config }
}

export function addKeyCommands (program: Command): void {
  const key = program.command('key')
    .description('the data key file sealing personal data at rest (DATA_KEY_FILE, default DATA_DIR/data.key)')

  key.command('create')
    .description('write a new key file (mode 0600) with one random AES-256 key; never overwrites')
    .option('--file <path>', 'where (default: DATA_KEY_FILE, else DATA_DIR/data.key)')
    .option('--json', 'one JSON object: file, keyId')
    .action(async function keyCreate (opts: { file?: string; json?: boolean }) {
      const { file } = keyFileOf(opts.file)
      const content = newKeyFile()
      await createKeyFile(file, content)
      if (opts.json === true) print(JSON.stringify({ file, keyId: content.current }))
      else print(`data key ${content.current} written to ${file} (mode 0600); set DATA_KEY_FILE=${file}`)
    })

  key.command('rotate')
    .description('add a new current key (earlier keys stay, for InfluxDB history) and seal again DATA_DIR state and, with NATS_URL, the cluster\'s buckets; the gateway (every node) must be stopped')
    .option('--file <path>', 'the key file (default: DATA_KEY_FILE, else DATA_DIR/data.key)')
    .option('--json', 'one JSON object: keyFile, previousKeyId, keyId, files, buckets')
    .action(async function keyRotate (opts: { file?: string; json?: boolean }) {
      const { file, config } = keyFileOf(opts.file)
      const nc = config.NATS_URL.length === 0 ? undefined : await connectNats(config, `citygw-key-${hostname()}`, createLogger('silent'))
      try {
        if (nc !== undefined) await refuseWhileNodesRun(nc)
        let buckets: BucketRotateCounts | undefined
        const outcome = await rotateDataKey({
          dataDir: config.DATA_DIR,
          keyFile: file,
          async more (cipher) { if (nc !== undefined) buckets = await rotateBuckets(nc, cipher) },
        })
        if (opts.json === true) {
          print(JSON.stringify({ ...outcome, buckets: buckets ?? null }))
          return
        }
        print(`data key ${outcome.keyId} is current in ${outcome.keyFile} (${outcome.previousKeyId} kept for older data)`)
        print(`sealed again: ${outcome.files.alarms} open alarms, ${outcome.files.incidents} incidents, ${outcome.files.incidentAcks} incident acknowledgements, ${outcome.files.sessions} sessions, ${outcome.files.maintenance} maintenance windows, ${outcome.files.mails} queued mails`)
        if (buckets !== undefined) print(`cluster buckets: ${buckets.alarms} alarms, ${buckets.incidents} incidents, ${buckets.sessions} sessions, ${buckets.maintenance} maintenance windows`)
      } finally {
        await nc?.close()
      }
    })
}
