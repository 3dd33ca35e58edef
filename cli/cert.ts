// `citygw cert`: development TLS certificates and keys through openssl (broker/cert.ts).
import type { Command } from 'commander'
import { parseNumber, print } from './output.ts'

export function addCertCommand (program: Command): void {
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
      const { createCertificate } = await import('../broker/cert.ts')
      const files = await createCertificate({
        outDir: opts.outDir, cn: opts.cn, days: opts.days, isCa: opts.ca === true, caCert: opts.caCert, caKey: opts.caKey, name: opts.name, overwrite: opts.force === true,
      })
      print(`certificate: ${files.cert}`)
      print(`key (mode 0600): ${files.key}`)
      if (opts.ca === true) print(`use it with: TLS_CA=${files.cert} TLS_CLIENT_AUTH=optional`)
      else if (opts.caCert === undefined) print(`use it with: MQTTS_PORT=8883 TLS_CERT=${files.cert} TLS_KEY=${files.key}`)
    })
}
