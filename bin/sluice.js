#!/usr/bin/env node
// The sluice CLI launcher. An installed package runs the compiled CLI in dist/. A development checkout (it has a
// tsconfig.json, which is not published) runs the TypeScript sources through tsx, so it needs no build step.
// SLUICE_CLI=dist or SLUICE_CLI=src chooses explicitly.
import { existsSync, readFileSync } from "node:fs"

const source = process.env.SLUICE_CLI === undefined
  ? existsSync(new URL("../tsconfig.json", import.meta.url))
  : process.env.SLUICE_CLI === "src"

if (source) {
  const { register } = await import("tsx/esm/api")
  register()
  await import("../src/cli/main.ts")
} else {
  // `sluice --help` prints the help the build captured from the compiled CLI itself, without loading Effect
  const help = new URL("../dist/cli/help.txt", import.meta.url)
  if (process.argv.length === 3 && process.argv[2] === "--help" && existsSync(help)) {
    process.stdout.write(readFileSync(help))
  } else {
    await import("../dist/cli/main.js")
  }
}
