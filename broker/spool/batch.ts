// What the spool hands the writer: the lines of whole records, in append order. Apart from
// spool.ts so that reader.ts (which builds batches) and spool.ts (which commits them) share it
// without importing each other.

/**
 * Lines of line protocol in two forms: the strings, and the bytes InfluxDB takes (the lines joined
 * by '\n', UTF-8). A batch is built in one form and makes the other the first time it is asked for.
 * The spool reads bytes: under load they go to InfluxDB as they are, and no string per line is made
 * (such strings lived until the write's answer, long enough for the garbage collector to copy them
 * into the old generation).
 */
export interface Lines {
  readonly lineCount: number
  readonly lines: readonly string[]
  readonly body: Buffer
}

/** A batch handed to the writer. Its end position is kept out of reach (opaque) and used by `commit`. */
export interface SpoolBatch extends Lines {
  readonly records: number
  /** Bytes on disk of these records, headers included. */
  readonly bytes: number
}

class LazyLines implements SpoolBatch {
  #lines: readonly string[] | undefined
  #body: Buffer | undefined

  constructor (readonly lineCount: number, readonly records: number, readonly bytes: number, lines: readonly string[] | undefined, body: Buffer | undefined) {
    this.#lines = lines
    this.#body = body
  }

  get lines (): readonly string[] {
    this.#lines ??= this.lineCount === 0 ? [] : (this.#body as Buffer).toString('utf8').split('\n')
    return this.#lines
  }

  get body (): Buffer {
    this.#body ??= Buffer.from((this.#lines as readonly string[]).join('\n'), 'utf8')
    return this.#body
  }
}

/** A batch of `lineCount` lines held as `body`, their '\n'-joined UTF-8 bytes. */
export function batchOfBody (body: Buffer, lineCount: number, records: number, bytes: number): SpoolBatch {
  return new LazyLines(lineCount, records, bytes, undefined, body)
}

/** `lines` (none of which holds '\n') with their bytes made on first use. */
export function linesOf (lines: readonly string[]): Lines {
  return batchOfLines(lines, 0, 0)
}

/** A batch of `lines`, none of which holds '\n'. */
export function batchOfLines (lines: readonly string[], records: number, bytes: number): SpoolBatch {
  return new LazyLines(lines.length, records, bytes, lines, undefined)
}
