import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**'],
    // Child processes of the tests run the compiled build: it is brought up to date first.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Workers are reused from file to file: the gateway's modules are imported once per worker, not
    // once per file (a third of the unit tests' CPU). Every file stops what it starts.
    isolate: false,
    // Two cores: e2e files start real servers; keep parallelism modest.
    maxWorkers: 2,
    dangerouslyIgnoreUnhandledErrors: false,
  },
})
