// A file polled for changes → a callback on each change of mtime, size or inode. Polling by stat,
// unlike fs.watch, survives the atomic rename the CLI and editors replace a file with (the inode
// changes); the timer does not keep the process alive.
import { unwatchFile, watchFile, type Stats } from 'node:fs'

export interface WatchedFile {
  /** Stops polling; idempotent. */
  close(): void
}

/** Polls `file` every `pollMs` ms and calls `onChange` when it changed (also when it appears or disappears). */
export function watchFileChanges (file: string, pollMs: number, onChange: () => void): WatchedFile {
  function onStat (current: Stats, previous: Stats): void {
    if (current.mtimeMs !== previous.mtimeMs || current.size !== previous.size || current.ino !== previous.ino) onChange()
  }
  watchFile(file, { interval: pollMs, persistent: false }, onStat)
  return {
    close () { unwatchFile(file, onStat) },
  }
}
