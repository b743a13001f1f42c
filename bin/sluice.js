#!/usr/bin/env node
// The sluice CLI launcher: sluice ships TypeScript sources, run through tsx's loader.
import { register } from "tsx/esm/api"

register()
await import("../src/cli/main.ts")
