/**
 * The `sluice` CLI spawned as a real process (`node bin/sluice.js …`, stdout and stderr piped, so not a TTY).
 */
import { NodeContext } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import type { Scope } from "effect"
import * as Event from "../../src/Event.js"
import { sluice } from "./spawn.js"

const chain = "test/fixtures/cli/chain.ts:chain"
const products = "test/fixtures/cli/products.jsonl"
const malformed = "test/fixtures/cli/malformed.jsonl"
const timeout = 120_000

const lines = (text: string) => text.split("\n").filter((line) => line !== "")

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "sluice-cli-" }))

const readLines = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(Effect.map(lines))

const exists = (path: string) => Effect.flatMap(FileSystem.FileSystem, (fs) => fs.exists(path))

/** Polls until `check` holds (every 100 ms, for at most 180 s: process starts are slow on a loaded machine). */
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>) =>
  check.pipe(
    Effect.filterOrFail((ok) => ok),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("180 seconds"))),
    Effect.orDie
  )

const live = <A, E>(
  name: string,
  body: () => Effect.Effect<A, E, FileSystem.FileSystem | Scope.Scope>,
  ms = timeout
) => it.live(name, () => body().pipe(Effect.scoped, Effect.provide(NodeContext.layer)), ms)

describe("sluice CLI", () => {
  live(
    "run: a chain on dry-run exits 0, prints plain progress and a summary, writes the artefacts; inspect reads them",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const out = `${dir}/run`
        const run = yield* sluice("run", chain, "-i", products, "-o", out)
        assert.strictEqual(run.code, 0, run.stderr)
        const progress = lines(run.stderr)
        assert.match(progress[0]!, new RegExp(`^run \\S+: mini → ${out} \\(6 items\\)$`))
        assert.match(
          progress.at(-1)!,
          /^\[\d\d:\d\d\] mini success extract 6\/6 100%.* \| to_fr 6\/6 100%.* \| to_de 6\/6 100%.* \| merge 6\/6 100%/
        )
        for (const line of progress.slice(1)) assert.match(line, /^\[\d\d:\d\d\] mini /)
        const summary = lines(run.stdout)
        assert.match(summary[0]!, new RegExp(`^mini: 6 done, 0 failed in \\S+ → ${out}$`))
        assert.match(summary[1]!, /^ {2}step +done +filtered +errors +retries +p50 +p95 +tokens$/)
        assert.deepStrictEqual(summary.slice(2).map((line) => line.trim().split(/ +/).slice(0, 4)), [
          ["extract", "6", "0", "0"],
          ["to_fr", "6", "0", "0"],
          ["to_de", "6", "0", "0"],
          ["merge", "6", "0", "0"]
        ])
        for (const file of ["graph.json", "metrics.json", "extract/000.jsonl", "to_fr/000.jsonl", "merge/000.jsonl"]) {
          assert.isTrue(yield* exists(`${out}/${file}`), file)
        }
        const flattened = (yield* readLines(`${out}/flattened/000.jsonl`)).map((line) => JSON.parse(line)._id)
        assert.deepStrictEqual([...flattened].sort(), ["0", "1", "2", "3", "4", "5"])
        assert.isFalse(yield* exists(`${out}/.sluice.lock`), "the lock is released")

        const inspect = yield* sluice("inspect", out)
        assert.strictEqual(inspect.code, 0, inspect.stderr)
        const report = lines(inspect.stdout)
        assert.match(report[0]!, new RegExp(`^run \\S+ of mini in ${out}: success$`))
        assert.include(report, "  items: 6 in input, 6 finished (flattened), 0 errors")
        const table = report.slice(report.findIndex((line) => line.trim().startsWith("step")))
        assert.match(table[0]!, /^ {2}step +records +files +errors +retries +p50 +p95 +p99 +tokens$/)
        assert.deepStrictEqual(table.slice(1).map((line) => line.trim().split(/ +/).slice(0, 4)), [
          ["extract", "6", "1", "0"],
          ["to_fr", "6", "1", "0"],
          ["to_de", "6", "1", "0"],
          ["merge", "6", "1", "0"]
        ])
      })
  )

  live("inspect-dag prints the chain's tree and Mermaid flowchart without running it", () =>
    Effect.gen(function*() {
      const result = yield* sluice("inspect-dag", chain)
      assert.strictEqual(result.code, 0, result.stderr)
      const [tree, mermaid] = result.stdout.split("\n\n")
      assert.strictEqual(
        tree,
        [
          "mini",
          "├── extract [llm]",
          "├── parallel",
          "│   ├── fr ⇒ {{fr}}",
          "│   │   └── to_fr [llm]",
          "│   └── de ⇒ {{de}}",
          "│       └── to_de [llm]",
          "└── merge [apply]"
        ].join("\n")
      )
      const diagram = lines(mermaid!)
      assert.strictEqual(diagram[0], "graph TD")
      for (const edge of ["start --> s_extract", "s_extract --> s_to_fr", "s_to_de --> s_merge", "s_merge --> done"]) {
        assert.include(diagram, `  ${edge}`)
      }
      assert.strictEqual(result.stderr, "")
    }))

  live("bad input exits 2 with one line on stderr naming the culprit", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
        [
          ["run", "test/fixtures/cli/missing.ts:chain", "-i", products, "-o", `${dir}/a`],
          /^sluice: test\/fixtures\/cli\/missing\.ts: ModuleNotFound/
        ],
        [
          ["run", "test/fixtures/cli/chain.ts:chian", "-i", products, "-o", `${dir}/b`],
          /^sluice: test\/fixtures\/cli\/chain\.ts: ExportNotFound - no export "chian" \(chains exported: chain\)$/
        ],
        [
          ["run", chain, "-i", "test/fixtures/cli/missing.jsonl", "-o", `${dir}/c`],
          /^sluice: test\/fixtures\/cli\/missing\.jsonl: input not found$/
        ],
        [
          ["run", chain, "-i", products, "-o", `${dir}/d`, "--engines", "test/fixtures/cli/bad-engines.yml"],
          /^sluice: test\/fixtures\/cli\/bad-engines\.yml:5:5: engines\[1\]\.backend: unknown backend "vllm-server"/
        ],
        [["inspect", dir], new RegExp(`^sluice: ${dir}: InvalidRun - no graph\\.json`)]
      ]
      const results = yield* Effect.forEach(cases, ([args]) => sluice(...args), { concurrency: "unbounded" })
      results.forEach((result, i) => {
        const [args, expected] = cases[i]!
        assert.strictEqual(result.code, 2, `${args.join(" ")}\n${result.stderr}`)
        assert.strictEqual(lines(result.stderr).length, 1, result.stderr)
        assert.match(result.stderr.trim(), expected)
        assert.strictEqual(result.stdout, "")
      })
      for (const out of ["a", "b", "c", "d"]) assert.isFalse(yield* exists(`${dir}/${out}`), `${out} was not created`)
    }))

  live(
    "--json-logs: stdout holds one Event per line; malformed rows are recorded and the run exits 1",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const out = `${dir}/run`
        const run = yield* sluice("run", chain, "-i", malformed, "-o", out, "--json-logs")
        assert.strictEqual(run.code, 1, run.stderr)
        const events = yield* Effect.forEach(lines(run.stdout), Event.decodeJson)
        assert.strictEqual(events[0]?._tag, "RunStart")
        const end = events.at(-1)
        assert.strictEqual(end?._tag, "RunEnd")
        assert.strictEqual(end?._tag === "RunEnd" ? end.status : undefined, "success")
        assert.strictEqual(events.filter((e) => e._tag === "StepEnd").length, 4 * 4)
        const nonFatal = events.filter(Event.is("NonFatalError"))
        assert.strictEqual(nonFatal.length, 1)
        assert.include(nonFatal[0]!.message, "Unterminated string")
        const stderr = lines(run.stderr)
        assert.match(stderr[0]!, new RegExp(`^mini: 4 done, 1 failed \\(1 malformed row\\) in \\S+ → ${out}$`))
        assert.strictEqual(stderr.at(-1), `sluice: 1 item failed: see ${out}/errors/ (running again retries them)`)
        const errors = (yield* readLines(`${out}/errors/000.jsonl`)).map((line) => JSON.parse(line))
        assert.strictEqual(errors.length, 1)
        assert.strictEqual(errors[0].line, 3)
        assert.strictEqual(errors[0].step, "input")
      })
  )

  live(
    "kill stops a running run (exit 130, files closed); the same command resumes it, every item once",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const out = `${dir}/run`
        const args = [
          "run",
          chain,
          "-i",
          products,
          "-o",
          out,
          "--engines",
          "test/fixtures/cli/slow-engines.yml",
          "-c",
          "1"
        ]
        const first = yield* Effect.fork(sluice(...args))
        yield* eventually(exists(`${out}/.sluice.lock`))
        yield* eventually(
          readLines(`${out}/flattened/000.jsonl`).pipe(
            Effect.map((l) => l.length >= 1),
            Effect.orElseSucceed(() => false)
          )
        )
        const kill = yield* sluice("kill", out)
        assert.strictEqual(kill.code, 0, kill.stderr)
        assert.match(kill.stdout, /^stopped the run of test\/fixtures\/cli\/chain\.ts:chain \(pid \d+\) writing to /)
        const stopped = yield* Fiber.join(first)
        assert.strictEqual(stopped.code, 130, stopped.stderr)
        assert.include(stopped.stderr, "interrupted: the files written are complete; run the same command again")
        assert.match(lines(stopped.stderr).at(-2)!, /^\[\d\d:\d\d\] mini interrupted /)
        assert.isFalse(yield* exists(`${out}/.sluice.lock`))
        const done = (yield* readLines(`${out}/flattened/000.jsonl`)).length
        assert.isBelow(done, 6)

        const again = yield* sluice(...args.slice(0, -2), "-c", "6")
        assert.strictEqual(again.code, 0, again.stderr)
        assert.match(again.stdout, new RegExp(`^mini: ${6 - done} done, ${done} resumed, 0 failed in `))
        const ids = (yield* readLines(`${out}/flattened/000.jsonl`)).map((line) => JSON.parse(line)._id)
        assert.deepStrictEqual([...ids].sort(), ["0", "1", "2", "3", "4", "5"])
      }),
    400_000
  )
})
