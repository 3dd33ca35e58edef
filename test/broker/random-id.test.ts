import { describe, expect, it } from 'vitest'
import { maintenanceIdSchema, newMaintenanceId } from '../../broker/maintenance/window.ts'
import { newCliSafeId } from '../../broker/random-id.ts'
import { newSessionId, sessionIdSchema } from '../../broker/sessions/record.ts'

describe('ids typed into citygw', () => {
  // One base64url draw in 64 begins with `-`; 20,000 draws miss that with probability ~1e-137.
  it('never begin with `-`, which the CLI would read as an option', () => {
    const firsts = new Set<string>()
    for (let i = 0; i < 20_000; i++) {
      const id = newCliSafeId(9)
      expect(id).toHaveLength(12)
      firsts.add(id[0]!)
    }
    expect(firsts.has('-')).toBe(false)
    // Every other base64url character still starts ids, so nothing else was lost.
    expect(firsts.size).toBe(63)
  })

  it('session and maintenance ids keep their documented shape', () => {
    for (let i = 0; i < 1000; i++) {
      expect(sessionIdSchema.safeParse(newSessionId()).success).toBe(true)
      expect(maintenanceIdSchema.safeParse(newMaintenanceId()).success).toBe(true)
    }
  })
})
