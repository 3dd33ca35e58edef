// The running gateway's read-only view of DATA_DIR/registry.json. Reloads when the CLI changes the
// file (stat polling survives the atomic rename) and reports devices and crews that went away, so
// their sessions can be closed. A bad file is logged and the last good view kept.
import type { Logger } from '../log.ts'
import { watchFileChanges } from '../watched-file.ts'
import { createRegistryView, type Registry } from './registry-view.ts'
import { readRegistry } from './store.ts'

export type { Registry } from './registry-view.ts'

export interface RegistryOptions { file: string; pollMs: number; log: Logger }

export async function openRegistry (options: RegistryOptions): Promise<Registry> {
  const log = options.log.child({ module: 'registry' })
  const view = createRegistryView(log)
  let reloading: Promise<void> = Promise.resolve()

  async function loadNow (): Promise<void> {
    let revoked: string[]
    try {
      revoked = view.replaceAll(await readRegistry(options.file))
    } catch (err) {
      log.error({ err, file: options.file }, 'registry file unreadable; keeping the previous view')
      return
    }
    const { devices, crews } = view.lookups.size()
    log.info({ devices, crews, revoked: revoked.length }, 'registry loaded')
  }

  function reload (): Promise<void> {
    reloading = reloading.then(loadNow)
    return reloading
  }

  view.replaceAll(await readRegistry(options.file))
  log.info(view.lookups.size(), 'registry loaded')
  const watched = watchFileChanges(options.file, options.pollMs, function registryChanged () { void reload() })

  return {
    ...view.lookups,
    reload,
    close () { watched.close() },
  }
}
