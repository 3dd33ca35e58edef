// `citygw start`: runs the gateway until SIGINT/SIGTERM, then closes it and exits 0; SIGHUP
// re-reads the registry. The only command that logs (pino JSON on stdout).
import type { Command } from 'commander'
import { loadConfig } from '../broker/config.ts'
import { createLogger } from '../broker/log.ts'

async function runGateway (): Promise<void> {
  const config = loadConfig()
  const log = createLogger(config.LOG_LEVEL)
  // Loaded here, not at the top: provisioning commands need neither the broker nor the HTTP stack.
  const { startGateway } = await import('../broker/main.ts')
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

export function addStartCommand (program: Command): void {
  program.command('start')
    .description('run the gateway until SIGINT/SIGTERM (configuration from environment variables, see README)')
    .action(runGateway)
}
