#!/usr/bin/env node
// Launcher for the `citygw` command: runs the TypeScript sources through tsx's loader, so the
// command works right after `npm ci` with no build step.
import { register } from 'tsx/esm/api'

register()
await import('../cli/index.ts')
