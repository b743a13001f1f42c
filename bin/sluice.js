#!/usr/bin/env node
// The sluice CLI launcher. An installed package runs the compiled CLI in dist/. A development checkout (it has a
// tsconfig.json, which is not published) runs the TypeScript sources through tsx, so it needs no build step.
// SLUICE_CLI=dist or SLUICE_CLI=src chooses explicitly.
import { existsSync } from "node:fs"

const source = process.env.SLUICE_CLI === undefined
  ? existsSync(new URL("../tsconfig.json", import.meta.url))
  : process.env.SLUICE_CLI === "src"

if (source) {
  const { register } = await import("tsx/esm/api")
  register()
  await import("../src/cli/main.ts")
} else {
  await import("../dist/cli/main.js")
}
