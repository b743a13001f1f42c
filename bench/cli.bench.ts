/**
 * Start-up costs of the package as users get it (the compiled build in `dist/`, built first if missing), each run a
 * fresh Node process, so the figures are whole-process timings:
 *
 * 1. CLI start: `sluice --help` (the bin prints the help text the build saved), the compiled CLI's own `--help`
 *    (Effect and @effect/cli loaded) and `sluice inspect out/demo`, against `node -e 0`; and, for reference, `--help`
 *    through tsx over the sources (what a development checkout runs).
 * 2. Import cost: `import "sluice"` against `import "effect"` in a plain Node process; the summary adds the time of
 *    the `import` itself and the heap after it (after a GC), medians over the runs.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { median, type Suite } from "./harness.js"

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const bin = path.join(root, "bin", "sluice.js")
const demo = path.join(root, "out", "demo")

const node = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: "utf8", env: { ...process.env, ...env } })
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr}`)
  return r.stdout
}

if (!fs.existsSync(path.join(root, "dist", "cli", "main.js"))) {
  console.log("building dist/ first (npm run build)")
  spawnSync("npm", ["run", "build"], { cwd: root, stdio: "inherit" })
}
if (!fs.existsSync(path.join(demo, "graph.json"))) {
  node([
    bin,
    "run",
    "examples/chains/products.ts:chain",
    "-i",
    "examples/chains/data/products.jsonl",
    "-o",
    demo,
    "--key",
    "sku"
  ])
}

const dist = { SLUICE_CLI: "dist" }

const cliStart: Suite = {
  name: "cli start",
  description: "`sluice` (compiled, dist/) started as a new process, against `node -e 0`; median of 5 rounds",
  rounds: 5,
  variants: [
    { name: "node -e 0", run: () => node(["-e", "0"]) },
    { name: "sluice --help", baseline: "node -e 0", run: () => node([bin, "--help"], dist) },
    {
      name: "dist/cli/main.js --help",
      baseline: "node -e 0",
      run: () => node([path.join(root, "dist", "cli", "main.js"), "--help"])
    },
    { name: "sluice inspect out/demo", baseline: "node -e 0", run: () => node([bin, "inspect", demo], dist) },
    {
      name: "sluice --help (tsx, sources)",
      baseline: "sluice --help",
      run: () => node([bin, "--help"], { SLUICE_CLI: "src" })
    }
  ]
}

const probe = (specifier: string) =>
  `const t = performance.now(); await import(${JSON.stringify(specifier)}); const ms = performance.now() - t; ` +
  `globalThis.gc(); console.log(JSON.stringify({ ms, heap: process.memoryUsage().heapUsed }))`

const measured = new Map<string, Array<{ readonly ms: number; readonly heap: number }>>()
const importIn = (specifier: string) => () => {
  const out = node(["--expose-gc", "--input-type=module", "-e", probe(specifier)])
  const list = measured.get(specifier) ?? []
  list.push(JSON.parse(out) as { ms: number; heap: number })
  measured.set(specifier, list)
}

const importCost: Suite = {
  name: "import cost",
  description: "a plain Node process that imports one module (the compiled package), whole process; median of 5 rounds",
  rounds: 5,
  variants: [
    { name: "import \"effect\"", run: importIn("effect") },
    { name: "import \"sluice\"", baseline: "import \"effect\"", run: importIn("sluice") },
    { name: "import \"sluice/Chain\"", baseline: "import \"effect\"", run: importIn("sluice/Chain") }
  ],
  summary: () =>
    [...measured].map(([specifier, runs]) => {
      const ms = median(runs.map((r) => r.ms))
      const heap = median(runs.map((r) => r.heap)) / (1 << 20)
      return `import "${specifier}": ${ms.toFixed(0)} ms inside the process, heap ${heap.toFixed(1)} MB after it`
    })
}

export default [cliStart, importCost]
