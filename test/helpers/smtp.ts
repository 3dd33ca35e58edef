// A real SMTP server for e2e tests: Debian's python3-aiosmtpd run by test/helpers/smtp-server.py on
// 127.0.0.1 and a free port, each accepted message kept as JSON in a temp dir. It can be stopped and
// started again on the same port (mail server outages).
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { REPO_ROOT } from './gateway.ts'
import { restartablePort } from './ports.ts'
import { makeTempDir, spawnServer, startRestartable, waitUntilReady, type RestartableServer, type ServerProcess } from './server-process.ts'

/** One message as the server received it. */
export interface ReceivedMail {
  from: string
  /** Envelope recipients. */
  to: string[]
  /** The user name it authenticated with, if the server asked for one. */
  login: string | null
  headerFrom: string
  headerTo: string
  /** Decoded subject and plain-text body. */
  subject: string
  text: string | null
  /** The message as sent, headers and encoding included. */
  data: string
}

export interface SmtpServer extends RestartableServer {
  readonly port: number
  /** smtp://[user:password@]127.0.0.1:port */
  readonly url: string
  received(): Promise<ReceivedMail[]>
}

// The Debian package installs the module for the system python, which a pyenv shim may hide.
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'

export async function startSmtpServer (auth?: { user: string; password: string }): Promise<SmtpServer> {
  const dir = await makeTempDir('citygw-smtp-')
  const port = await restartablePort()
  const args = [join(REPO_ROOT, 'test/helpers/smtp-server.py'), String(port), dir, ...(auth === undefined ? [] : [auth.user, auth.password])]
  async function launch (): Promise<ServerProcess> {
    const server = spawnServer(PYTHON, args, 'smtp server (python3-aiosmtpd)', dir)
    try {
      await waitUntilReady(server, 'smtp server (python3-aiosmtpd: apt-get install python3-aiosmtpd)', function printedReady () { return Promise.resolve(server.output().includes('smtp-server ready')) })
    } catch (err) {
      await server.stop()
      throw err
    }
    return server
  }
  const restartable = await startRestartable(dir, launch)
  const credentials = auth === undefined ? '' : `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.password)}@`
  return {
    get isRunning () { return restartable.isRunning },
    stop () { return restartable.stop() },
    start () { return restartable.start() },
    close () { return restartable.close() },
    port,
    url: `smtp://${credentials}127.0.0.1:${port}`,
    async received () {
      const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort()
      return Promise.all(names.map(async (n) => JSON.parse(await readFile(join(dir, n), 'utf8')) as ReceivedMail))
    },
  }
}
