/**
 * The consumer test (`npm run test:consumer`, part of `npm test`): sluice as a user gets it from the registry.
 *
 * 1. `npm pack` (which builds `dist/`); the tarball must hold the build, declarations, LICENSE, and no test, bench,
 *    script or CI file.
 * 2. A fresh `"type": "module"` app in a temporary folder installs the tarball with its peers, on an effect 3 version
 *    other than the repository's (inside the peer range).
 * 3. (a) plain `node` imports every public entry point, and runs the README quick start (compiled by `tsc`) on
 *    dry-run; (b) a strict TypeScript consumer typechecks under `moduleResolution` `nodenext` and `bundler`
 *    (errors inside Effect's own declarations are listed, not counted); (c) `npm ls effect` shows one copy;
 *    (d) the installed `sluice` bin runs `--help`, a `.mjs` chain over a small JSONL, `inspect`, and says which
 *    package to install for a `.ts` chain file.
 *
 * Each check counts as a test: the counts go to `node_modules/.cache/sluice/consumer-results.json` for CI's summary
 * line. `SLUICE_CONSUMER_KEEP=1` keeps the temporary app.
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const results = path.join(root, "node_modules", ".cache", "sluice", "consumer-results.json")
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
  readonly dependencies: Record<string, string>
  readonly devDependencies: Record<string, string>
  readonly peerDependencies: Record<string, string>
  readonly peerDependenciesMeta: Record<string, { readonly optional?: boolean }>
  readonly exports: Record<string, unknown>
}
const optionalPeers = Object.keys(pkg.peerDependencies).filter((name) => pkg.peerDependenciesMeta[name]?.optional)

/** The effect version the consumer app runs on: not the repository's pin, inside the peer range. */
const consumerEffect = "3.22.3"
const peers = [
  `effect@${consumerEffect}`,
  "@effect/platform@0.97.2",
  "@effect/ai@0.37.0",
  "@effect/ai-openai@0.41.0",
  "@effect/cli@0.77.2",
  "@effect/platform-node@0.108.2"
]

const app = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-consumer-"))
let passed = 0
let failed = 0
const figures: Array<string> = []

const check = (name: string, ok: boolean, detail?: string) => {
  if (ok) passed++
  else failed++
  console.log(
    `${ok ? "✓" : "✗"} ${name}${
      detail === undefined || detail === "" ? "" : `\n    ${detail.trim().split("\n").join("\n    ")}`
    }`
  )
}

const run = (command: string, args: ReadonlyArray<string>, cwd = app): SpawnSyncReturns<string> =>
  spawnSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, maxBuffer: 64 << 20 })

const npm = (args: ReadonlyArray<string>, cwd = app) => run(process.platform === "win32" ? "npm.cmd" : "npm", args, cwd)

const output = (r: SpawnSyncReturns<string>) => `${r.error?.message ?? ""}${r.stdout}${r.stderr}`.slice(-4000)

const medianMs = (command: string, args: ReadonlyArray<string>, runs = 5): number => {
  const times: Array<number> = []
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    run(command, args)
    times.push(performance.now() - start)
  }
  times.sort((a, b) => a - b)
  return times[runs >> 1]!
}

const duKb = (dir: string): number => {
  let bytes = 0
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name)
      if (entry.isDirectory()) walk(p)
      else if (entry.isFile()) bytes += fs.statSync(p).size
    }
  }
  walk(dir)
  return Math.round(bytes / 1024)
}

const write = (file: string, text: string) => {
  fs.mkdirSync(path.dirname(path.join(app, file)), { recursive: true })
  fs.writeFileSync(path.join(app, file), text)
}

// -----------------------------------------------------------------------------
// 1. pack
// -----------------------------------------------------------------------------

const pack = npm(["pack", "--json", "--pack-destination", app], root)
const packed = pack.status === 0
  ? (JSON.parse(pack.stdout.slice(pack.stdout.indexOf("["))) as ReadonlyArray<{
    readonly filename: string
    readonly size: number
    readonly unpackedSize: number
    readonly files: ReadonlyArray<{ readonly path: string }>
  }>)[0]
  : undefined
check("npm pack builds and packs the package", packed !== undefined, packed === undefined ? output(pack) : "")
if (packed === undefined) finish()
const files = packed!.files.map((f) => f.path)
figures.push(
  `tarball: ${files.length} files, ${(packed!.size / 1024).toFixed(0)} kB packed, ` +
    `${(packed!.unpackedSize / 1024).toFixed(0)} kB unpacked`
)
const stray = files.filter((f) => /^(test|bench|scripts|\.ci|examples)\//.test(f) || f.endsWith(".tsbuildinfo"))
check("the tarball holds no test, bench, script, example or CI file", stray.length === 0, stray.join(", "))
const needed = ["LICENSE", "README.md", "bin/sluice.js", "dist/index.js", "dist/index.d.ts", "dist/cli/main.js"]
const absent = needed.filter((f) => !files.includes(f))
check("the tarball holds the build, its declarations, the bin and LICENSE", absent.length === 0, absent.join(", "))

// -----------------------------------------------------------------------------
// 2. a fresh app with the tarball and its peers
// -----------------------------------------------------------------------------

write("package.json", JSON.stringify({ name: "sluice-consumer", private: true, type: "module" }, null, 2))
const install = npm([
  "install",
  "--no-audit",
  "--no-fund",
  path.join(app, packed!.filename),
  ...peers,
  `typescript@${pkg.devDependencies["typescript"]}`,
  `@types/node@${pkg.devDependencies["@types/node"]}`
])
check(
  `the app installs the tarball with its peers (effect ${consumerEffect})`,
  install.status === 0,
  install.status === 0 ? "" : output(install)
)
if (install.status !== 0) finish()
figures.push(`consumer app node_modules: ${(duKb(path.join(app, "node_modules")) / 1024).toFixed(1)} MB`)

// (c) one copy of effect
const ls = npm(["ls", "effect", "--all", "--parseable"])
const copies = [...new Set(ls.stdout.split("\n").filter((l) => l.trim() !== "").map((l) => l.trim()))]
const version = (JSON.parse(fs.readFileSync(path.join(app, "node_modules/effect/package.json"), "utf8")) as {
  readonly version: string
}).version
check(
  `npm ls effect: exactly one copy (${version})`,
  ls.status === 0 && copies.length === 1 && version === consumerEffect,
  `${copies.join("\n")}\n${ls.status === 0 ? "" : output(ls)}`
)

// -----------------------------------------------------------------------------
// 3a. plain node: every entry point, and the README quick start
// -----------------------------------------------------------------------------

// the static import graph of the installed build: which packages a module loads before any code runs
const installed = path.join(app, "node_modules", "sluice")
const allowed = new Set(
  [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies)].filter((name) =>
    !optionalPeers.includes(name)
  )
)
const importStatement =
  /^(?:import|export)\s+(?:\*(?:\s+as\s+\w+)?|\{[^}]*\}|[\w$]+(?:\s*,\s*(?:\{[^}]*\}|\*\s+as\s+\w+))?)\s+from\s+"([^"]+)"|^import\s+"([^"]+)"/gm
const staticImports = (file: string): ReadonlyArray<string> =>
  [...fs.readFileSync(file, "utf8").matchAll(importStatement)].map((m) => (m[1] ?? m[2])!)
const graphOf = (entry: string) => {
  const seen = new Set<string>()
  const needs = new Set<string>()
  const visit = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    for (const specifier of staticImports(file)) {
      if (specifier.startsWith(".")) visit(path.resolve(path.dirname(file), specifier))
      else if (!specifier.startsWith("node:")) {
        needs.add(specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0]!)
      }
    }
  }
  visit(path.join(installed, entry))
  return { modules: seen.size, needs: [...needs].sort() }
}

// `import "sluice"` must need no optional peer
const barrel = graphOf("dist/index.js")
const unlisted = barrel.needs.filter((name) => !allowed.has(name))
check(
  `import "sluice" loads no optional peer (${barrel.modules} modules, packages: ${barrel.needs.join(", ")})`,
  unlisted.length === 0,
  unlisted.join(", ")
)

// an entry point that statically imports an optional peer this app did not install is listed, not imported
const exported = Object.entries(pkg.exports).filter(([key]) => key !== "./package.json" && !key.includes("*"))
const missingPeers = (target: unknown) =>
  graphOf((target as { readonly import: string }).import).needs.filter((name) =>
    optionalPeers.includes(name) && !fs.existsSync(path.join(app, "node_modules", name))
  )
const entries = exported.filter(([, target]) => missingPeers(target).length === 0).map(([key]) => key)
for (const [key, target] of exported) {
  const missing = missingPeers(target)
  if (missing.length > 0) figures.push(`${key} needs optional peers not installed here: ${missing.join(", ")}`)
}
const specifier = (key: string) => key === "." ? "sluice" : `sluice/${key.slice(2)}`
write(
  "entries.mjs",
  `const specifiers = ${JSON.stringify(entries.map(specifier))}
const empty = []
for (const s of specifiers) {
  const mod = await import(s)
  if (Object.keys(mod).length === 0) empty.push(s)
}
if (empty.length > 0) throw new Error("no exports: " + empty.join(", "))
let closed = false
try { await import("sluice/internal/pool") } catch (e) { closed = e.code === "ERR_PACKAGE_PATH_NOT_EXPORTED" }
if (!closed) throw new Error("sluice/internal/* is reachable")
console.log(specifiers.length + " entry points")
`
)
const imported = run(process.execPath, ["entries.mjs"])
check(
  `plain node imports every public entry point that needs no optional peer (${entries.length} of ${exported.length})`,
  imported.status === 0,
  imported.status === 0 ? "" : output(imported)
)

write(
  "commonjs.cjs",
  `const { Effect } = require("effect")
const { DryRun, Llm, Node } = require("sluice")
Effect.runPromise(Node.run(Llm.text({ name: "echo", prompt: (s) => s }), "hello").pipe(Effect.provide(DryRun.layer())))
  .then((text) => { if (typeof text !== "string") process.exit(1) })
`
)
const required = run(process.execPath, ["commonjs.cjs"])
check(
  "CommonJS: require(\"sluice\") next to require(\"effect\") runs a node on dry-run",
  required.status === 0 && required.stderr.trim() === "",
  required.status === 0 ? "" : output(required)
)

const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
const quickstart = /## Quick start[^\n]*\n[\s\S]*?```ts\n([\s\S]*?)\n```/.exec(readme)?.[1]
check("the README has a quick start", quickstart !== undefined)
write("src/quickstart.ts", `${quickstart ?? ""}\n`)

// every entry point, typed, in a strict consumer
const ident = (key: string) => key === "." ? "Sluice" : key.slice(2).replace(/[^A-Za-z0-9]/g, "_")
write(
  "src/entries.ts",
  entries.map((key) => `import * as ${ident(key)} from "${specifier(key)}"`).join("\n") +
    `\n\nexport const modules: ReadonlyArray<object> = [${entries.map(ident).join(", ")}]\n`
)

// -----------------------------------------------------------------------------
// 3b. strict typecheck under nodenext and bundler
// -----------------------------------------------------------------------------

const strict = {
  target: "ES2022",
  lib: ["ES2022", "DOM", "DOM.Iterable"],
  types: ["node"],
  strict: true,
  skipLibCheck: false,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  noPropertyAccessFromIndexSignature: true,
  erasableSyntaxOnly: true,
  verbatimModuleSyntax: true
}
write(
  "tsconfig.nodenext.json",
  JSON.stringify({
    compilerOptions: { ...strict, module: "NodeNext", moduleResolution: "NodeNext", outDir: "build", rootDir: "src" },
    include: ["src"]
  })
)
write(
  "tsconfig.bundler.json",
  JSON.stringify({
    compilerOptions: { ...strict, module: "ESNext", moduleResolution: "bundler", noEmit: true },
    include: ["src"]
  })
)
const tsc = path.join(app, "node_modules", "typescript", "bin", "tsc")
for (const mode of ["nodenext", "bundler"]) {
  const r = run(process.execPath, [tsc, "-p", `tsconfig.${mode}.json`, "--pretty", "false"])
  const errors = `${r.stdout}${r.stderr}`.split("\n").filter((l) => /error TS\d+/.test(l))
  const foreign = errors.filter((l) => /^node_modules\/(effect|@effect)\//.test(l))
  const ours = errors.filter((l) => !foreign.includes(l))
  check(
    `strict consumer typecheck, moduleResolution ${mode}: no error in the app or in sluice's declarations`,
    ours.length === 0 && (r.status === 0 || errors.length > 0),
    ours.join("\n")
  )
  if (foreign.length > 0) {
    figures.push(`${mode}: ${foreign.length} error(s) inside Effect's own declarations:\n  ${foreign.join("\n  ")}`)
  }
}

const quick = run(process.execPath, ["build/quickstart.js"])
check(
  "the README quick start, compiled, runs on dry-run from plain node",
  quick.status === 0 && quick.stderr.trim() === "" && quick.stdout.trim() !== "",
  quick.status === 0 && quick.stderr.trim() === "" ? "" : output(quick)
)

// -----------------------------------------------------------------------------
// 3d. the installed bin
// -----------------------------------------------------------------------------

const bin = path.join(app, "node_modules", ".bin", "sluice")
const help = run(bin, ["--help"])
check("sluice --help", help.status === 0 && help.stdout.includes("run"), help.status === 0 ? "" : output(help))
const fullHelp = run(process.execPath, [path.join(installed, "dist", "cli", "main.js"), "--help"])
check(
  "sluice --help prints what the compiled CLI prints (the build's saved copy)",
  fullHelp.status === 0 && fullHelp.stdout === help.stdout
)

write(
  "chain.mjs",
  `import { Schema } from "effect"
import * as Chain from "sluice/Chain"

const Review = Schema.Struct({ id: Schema.String, text: Schema.String })
const Label = Schema.Struct({ label: Schema.Literal("positive", "negative") })

export const chain = Chain.make({
  name: "reviews",
  steps: [
    Chain.llm({ id: "label", input: Review, output: Label, system: "Label the review.", prompt: "{{text}}" }),
    Chain.apply("upper", (label) => ({ label: label.label.toUpperCase() }), { name: "Upper-case the label" })
  ]
})
`
)
write(
  "reviews.jsonl",
  ["Loved it", "Broke after a day", "Does the job", "Would buy again", "Never arrived"]
    .map((text, i) => JSON.stringify({ id: `r${i}`, text }))
    .join("\n") + "\n"
)
const chainRun = run(bin, ["run", "chain.mjs:chain", "-i", "reviews.jsonl", "-o", "out/reviews", "--key", "id"])
const flattened = path.join(app, "out", "reviews", "flattened")
const rows = fs.existsSync(flattened)
  ? fs.readdirSync(flattened).flatMap((f) => fs.readFileSync(path.join(flattened, f), "utf8").split("\n")).filter(
    (l) => l.trim() !== ""
  ).length
  : 0
check(
  "sluice run chain.mjs:chain over a 5-row JSONL (no TypeScript loader)",
  chainRun.status === 0 && rows === 5,
  output(chainRun)
)

const inspect = run(bin, ["inspect", "out/reviews"])
check(
  "sluice inspect out/reviews",
  inspect.status === 0 && inspect.stdout.includes("success"),
  inspect.status === 0 ? "" : output(inspect)
)

write("chain.ts", "export { chain } from \"./chain.mjs\"\nexport const typed: number = 1\n")
const tsChain = run(bin, ["run", "chain.ts:chain", "-i", "reviews.jsonl", "-o", "out/ts", "--key", "id"])
const tsLines = tsChain.stderr.trim().split("\n")
check(
  "sluice run chain.ts without tsx: exit 2 and one line naming tsx",
  tsChain.status === 2 && tsLines.length === 1 && tsLines[0]!.includes("npm install --save-dev tsx"),
  tsChain.status === 2 ? tsChain.stderr.trim() : output(tsChain)
)

const floor = medianMs(process.execPath, ["-e", "0"])
const helpMs = medianMs(bin, ["--help"])
const fullHelpMs = medianMs(process.execPath, [path.join(installed, "dist", "cli", "main.js"), "--help"])
const inspectMs = medianMs(bin, ["inspect", "out/reviews"])
const runStart = performance.now()
run(bin, ["run", "chain.mjs:chain", "-i", "reviews.jsonl", "-o", "out/timed", "--key", "id"])
const runMs = performance.now() - runStart
figures.push(
  `installed CLI, median of 5 (whole process): node -e 0 ${floor.toFixed(0)} ms, sluice --help ${helpMs.toFixed(0)} ` +
    `ms (the compiled CLI's own --help: ${fullHelpMs.toFixed(0)} ms), ` +
    `sluice inspect ${inspectMs.toFixed(0)} ms; sluice run of the 5-row chain ${runMs.toFixed(0)} ms (one run)`
)

finish()

function finish(): never {
  console.log(`\nconsumer app: ${app}${process.env["SLUICE_CONSUMER_KEEP"] === "1" ? " (kept)" : ""}`)
  for (const line of figures) console.log(line)
  console.log(`consumer test: ${passed} passed, ${failed} failed`)
  fs.mkdirSync(path.dirname(results), { recursive: true })
  fs.writeFileSync(results, JSON.stringify({ numPassedTests: passed, numFailedTests: failed, figures }, null, 2))
  if (process.env["SLUICE_CONSUMER_KEEP"] !== "1") fs.rmSync(app, { recursive: true, force: true })
  process.exit(failed === 0 ? 0 : 1)
}
