// Enters: the segments found at open, then fsynced groups and durable commits as they happen.
// Leaves: what is on disk and what is still undelivered: sizes, positions, record counts, oldest record time.
// Pure, in memory. Segment sizes count fsynced bytes only, so no reader sees an unacknowledged record.
export interface Position { readonly seq: number, readonly offset: number }
/** `size` counts only fsynced bytes: readers never see a record that an append has not acknowledged. */
export interface Segment { readonly seq: number, size: number }

export class SpoolLedger {
  /** Ascending by seq; never empty. The last one is the segment being appended to. */
  readonly segments: Segment[]
  /** Everything before this position is delivered, and the cursor file says so. */
  committed: Position
  // Record ordinals count from the cursor at open; they number batches so commits can be checked for order.
  committedOrdinal = 0
  durableOrdinal: number
  oldestAppendedAtMs: number | null

  constructor (segments: Segment[], committed: Position, records: number, oldestAppendedAtMs: number | null) {
    if (segments.length === 0) throw new Error('spool: a ledger needs at least one segment')
    this.segments = segments
    this.committed = committed
    this.durableOrdinal = records
    this.oldestAppendedAtMs = oldestAppendedAtMs
  }

  get last (): Segment {
    return this.segments.at(-1) as Segment
  }

  /** Counts a group of records just fsynced into `segment` (the last one). */
  addDurable (segment: Segment, bytes: number, records: number, firstAppendedAtMs: number): void {
    segment.size += bytes
    this.durableOrdinal += records
    this.oldestAppendedAtMs ??= firstAppendedAtMs
  }

  get depthRecords (): number {
    return this.durableOrdinal - this.committedOrdinal
  }

  /** Undelivered (uncommitted) bytes: what the quota counts. */
  undeliveredBytes (): number {
    let bytes = 0
    for (const segment of this.segments) {
      if (segment.seq > this.committed.seq) bytes += segment.size
      else if (segment.seq === this.committed.seq) bytes += Math.max(0, segment.size - this.committed.offset)
    }
    return bytes
  }

  /** True when `pos` (normalized) is the end of everything fsynced. */
  isDurableEnd (pos: Position): boolean {
    const last = this.last
    return pos.seq === last.seq && pos.offset === last.size
  }

  /** Moves a position at the end of a sealed segment (or in a deleted one) to the start of the next. */
  normalize (pos: Position): Position {
    const segments = this.segments
    let i = segments.findIndex(function isAtOrAfter (s) { return s.seq >= pos.seq })
    if (i === -1) i = segments.length - 1
    let segment = segments[i] as Segment
    let offset = segment.seq === pos.seq ? pos.offset : 0
    while (offset >= segment.size && i < segments.length - 1) {
      i++
      segment = segments[i] as Segment
      offset = 0
    }
    return offset === pos.offset && segment.seq === pos.seq ? pos : { seq: segment.seq, offset }
  }

  segmentOf (seq: number): Segment {
    const segment = this.segments.find(function hasSeq (s) { return s.seq === seq })
    if (segment === undefined) throw new Error(`spool: segment ${seq} is not open`)
    return segment
  }

  /** Forgets the first segment if the committed cursor is past all of it (never the last one); returns its seq, or null. */
  shiftDelivered (): number | null {
    const first = this.segments[0] as Segment
    if (this.segments.length === 1) return null
    const isDelivered = first.seq < this.committed.seq || (first.seq === this.committed.seq && this.committed.offset >= first.size)
    if (!isDelivered) return null
    this.segments.shift()
    if (first.seq === this.committed.seq) this.committed = { seq: (this.segments[0] as Segment).seq, offset: 0 }
    return first.seq
  }
}
