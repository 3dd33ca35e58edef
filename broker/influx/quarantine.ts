// Where the writer keeps the lines InfluxDB refused, with the server's reason: a JSON-lines file on
// one gateway (quarantine-file.ts), a JetStream stream shared by a cluster (cluster/quarantine-stream.ts).

/** A quarantined line, as one JSON object. */
export interface QuarantineEntry { tsMs: number, reason: string, line: string }

export interface Quarantine {
  /** Keeps the entry; resolves only once it is durable (the writer commits the batch after it). */
  add(entry: QuarantineEntry): Promise<void>
}
