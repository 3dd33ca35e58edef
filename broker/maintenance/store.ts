// Where maintenance windows are kept: DATA_DIR/maintenance.json on a single node (file-store.ts),
// the csg-maintenance KV bucket in a cluster (cluster/maintenance-kv-store.ts). The gateway keeps
// every window in memory (the gate reads it for each alarm change); the CLI and the API change the
// windows through the same operations.
import { MAINTENANCE_MAX_DAYS, newMaintenanceId, type MaintenanceScope, type MaintenanceWindow } from './window.ts'

/** Ended windows are kept this long (lists and the history can still name them), then dropped. */
export const ENDED_KEPT_MS = 7 * 24 * 60 * 60 * 1000

export interface MaintenanceAdmin {
  /** Where the windows are, for messages. */
  readonly describe: string
  list(): Promise<MaintenanceWindow[]>
  add(window: MaintenanceWindow): Promise<void>
  /**
   * Ends a window now (`to` becomes `nowMs`; a window still to come is ended before it starts).
   * Returns it as ended, or undefined when there is no such window or it had ended already.
   */
  end(id: string, by: string, nowMs: number): Promise<MaintenanceWindow | undefined>
}

export interface MaintenanceStore extends MaintenanceAdmin {
  /** Every known window (running, to come, recently ended), from memory. */
  current(): readonly MaintenanceWindow[]
  /** Called after the windows changed (here, by the CLI or on another node). */
  onChange(listener: () => void): void
  close(): Promise<void>
}

export interface WindowDraft {
  scope: MaintenanceScope
  fromMs: number
  toMs: number
  reason: string
  createdBy: string
}

export type DraftProblem = 'to_not_after_from' | 'already_over' | 'too_long'

/** A new window from what a person asked for, or what is wrong with it. */
export function planWindow (draft: WindowDraft, nowMs: number): { ok: true; window: MaintenanceWindow } | { ok: false; problem: DraftProblem; message: string } {
  if (draft.toMs <= draft.fromMs) return { ok: false, problem: 'to_not_after_from', message: 'the end must be after the start' }
  if (draft.toMs <= nowMs) return { ok: false, problem: 'already_over', message: 'the window would already be over' }
  if (draft.toMs - draft.fromMs > MAINTENANCE_MAX_DAYS * 24 * 60 * 60 * 1000) return { ok: false, problem: 'too_long', message: `a window lasts at most ${MAINTENANCE_MAX_DAYS} days` }
  return {
    ok: true,
    window: {
      id: newMaintenanceId(),
      scope: draft.scope,
      from: new Date(draft.fromMs).toISOString(),
      to: new Date(draft.toMs).toISOString(),
      reason: draft.reason,
      createdBy: draft.createdBy,
      createdAt: new Date(nowMs).toISOString(),
    },
  }
}

/** The window ended at `nowMs`, or undefined when it had ended already. */
export function endedWindow (window: MaintenanceWindow, by: string, nowMs: number): MaintenanceWindow | undefined {
  if (Date.parse(window.to) <= nowMs) return undefined
  // A window still to come keeps its planned start and ends now, before it: it never runs.
  return { ...window, to: new Date(nowMs).toISOString(), endedBy: by }
}

/** Windows worth keeping: not ended more than ENDED_KEPT_MS ago. */
export function isKept (window: MaintenanceWindow, nowMs: number): boolean {
  return Date.parse(window.to) > nowMs - ENDED_KEPT_MS
}

/** Running first, then to come, then ended; by start within each. */
export function sortWindows (windows: readonly MaintenanceWindow[], nowMs: number): MaintenanceWindow[] {
  function rank (w: MaintenanceWindow): number {
    if (Date.parse(w.to) <= nowMs) return 2
    return Date.parse(w.from) <= nowMs ? 0 : 1
  }
  return [...windows].sort(function byRankThenStart (a, b) { return rank(a) - rank(b) || Date.parse(a.from) - Date.parse(b.from) })
}
