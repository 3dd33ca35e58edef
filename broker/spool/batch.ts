// What the spool hands the writer: the lines of whole records, in append order. Apart from
// spool.ts so that reader.ts (which builds batches) and spool.ts (which commits them) share it
// without importing each other.

/** A batch handed to the writer. Its end position is kept out of reach (opaque) and used by `commit`. */
export interface SpoolBatch {
  readonly lines: string[]
  readonly records: number
  /** Bytes on disk of these records, headers included. */
  readonly bytes: number
}
