import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: e2e files start real servers; keep parallelism modest.
    maxWorkers: 2,
    dangerouslyIgnoreUnhandledErrors: false,
  },
})
