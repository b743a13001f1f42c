/**
 * Runs every `bench/*.bench.ts` suite, or only those whose file name contains one of the arguments:
 * `npm run bench -- node sse`.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { runSuite, type Suite } from "./harness.js"

const dir = path.dirname(fileURLToPath(import.meta.url))
const filters = process.argv.slice(2)
const files = fs
  .readdirSync(dir)
  .filter((file) => file.endsWith(".bench.ts"))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort()

console.log(`sluice benchmarks: node ${process.version}, ${new Date().toISOString()}`)
for (const file of files) {
  const mod = (await import(pathToFileURL(path.join(dir, file)).href)) as {
    default: Suite | ReadonlyArray<Suite>
  }
  const suites = Array.isArray(mod.default) ? mod.default : [mod.default as Suite]
  for (const suite of suites) await runSuite(suite)
}
