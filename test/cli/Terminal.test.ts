import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { chain } from "../../examples/chains/products.js"
import * as Progress from "../../src/cli/Progress.js"
import * as Run from "../../src/cli/Run.js"
import * as Terminal from "../../src/cli/Terminal.js"
import * as Event from "../../src/Event.js"
import type * as Runner from "../../src/Runner.js"
import { render } from "./screen.js"

const runId = "36b82092-f4fb-43b0-a25e-2598871ebc9f"
const at = (timestamp: number, ...path: Array<string>) => ({ runId, path: ["products", ...path], timestamp })
const steps = ["extract", "to_fr", "to_es", "headline", "catalogue"]

// 300 items over 6 s, every 7th failing at its step
const eventsUntil = (ms: number): ReadonlyArray<Event.Event> => {
  const events: Array<Event.Event> = [Event.make("RunStart", at(0), { name: "products" })]
  for (let item = 0; item < 300; item++) {
    steps.forEach((step, s) => {
      const t = item * 20 + s * 5
      if (t > ms) return
      events.push(Event.make("StepStart", at(t, step), { item }))
      events.push(
        item % 7 === s
          ? Event.make("StepError", at(t + 1, step), { error: "UnknownError", message: "boom", retryable: false, item })
          : Event.make("StepEnd", at(t + 1, step), { durationMs: 1, item })
      )
    })
  }
  return events
}

const stats = (done: number, errors: number): Runner.StepStats => ({
  done,
  filtered: 0,
  errors,
  retries: 0,
  latencyMs: { p50: 1, p95: 24, p99: 40, max: 50, mean: 3 } as Runner.StepStats["latencyMs"],
  tokens: { input: 10_000, output: 13_620, total: 23_620 }
})

const summary: Runner.Summary = {
  runId,
  chain: "products",
  output: "/tmp/a/rather/long/output/folder/for/the/run",
  status: "success",
  total: 300,
  done: 77,
  filtered: 0,
  resumed: 0,
  failed: 223,
  malformed: 0,
  durationMs: 5_200,
  invalidated: [],
  steps: Object.fromEntries(steps.map((step) => [step, stats(216, 84)])),
  cumulative: { done: 77, filtered: 0, failed: 223, resolved: 0, durationMs: 5_200, invocations: 1, steps: {} }
}

describe("Terminal", () => {
  it.effect("columns, cut and wrap count what a terminal shows", () =>
    Effect.sync(() => {
      assert.strictEqual(Terminal.columns("\x1b[32mok\x1b[0m"), 2)
      assert.strictEqual(Terminal.columns("🔥 é"), 4)
      assert.strictEqual(Terminal.cut("\x1b[31mfailed\x1b[0m", 3), "\x1b[31mfai\x1b[0m")
      assert.strictEqual(Terminal.cut("🔥🔥", 3), "🔥")
      assert.deepStrictEqual(Terminal.wrap("run 1234: products → out/demo (8 items)", 20), [
        "run 1234: products",
        "  → out/demo (8",
        "  items)"
      ])
      assert.deepStrictEqual(Terminal.wrap("abcdefghijklmnopqrstuvwxyz", 10), [
        "abcdefghij",
        "  klmnopqr",
        "  stuvwxyz"
      ])
      for (const line of Terminal.wrap("a".repeat(50) + " b c " + "d".repeat(30), 12)) {
        assert.isAtMost(Terminal.columns(line), 12)
      }
    }))

  it.effect("table drops the columns it is told to until it fits", () =>
    Effect.sync(() => {
      const rows = [["step", "done", "tokens"], ["extract", "1,000", "52,000"]]
      assert.deepStrictEqual(Terminal.table(rows), ["step      done  tokens", "extract  1,000  52,000"])
      assert.deepStrictEqual(Terminal.table(rows, { width: 16, drop: [2] }), ["step      done", "extract  1,000"])
    }))

  it.effect("draw replaces the frame; print puts lines above it", () =>
    Effect.sync(() => {
      const [first, live] = Terminal.draw(Terminal.empty, ["a", "b"], 80)
      assert.strictEqual(first, "a\nb\n")
      const [second, next] = Terminal.draw(live, ["c"], 80)
      assert.strictEqual(second, "\x1b[2F\x1b[0Jc\n")
      const [printed] = Terminal.print(next, ["log"], 80)
      assert.strictEqual(printed, "\x1b[1F\x1b[0Jlog\nc\n")
      assert.deepStrictEqual(render(first + second + printed, 80).lines, ["log", "c"])
    }))

  for (const width of [40, 60, 120]) {
    it.effect(`a run's live display at ${width} columns leaves no stale and no wrapped line`, () =>
      Effect.sync(() => {
        const rows = Progress.layout(Run.treeOf(chain))
        let state = Progress.make({ name: "products", rows })
        let live = Terminal.empty
        let out = ""
        const frame = (now: number) => {
          const [text, next] = Terminal.draw(live, Progress.frame(state, { now, width, color: true }), width)
          live = next
          out += text
        }
        const print = (lines: ReadonlyArray<string>) => {
          const [text, next] = Terminal.print(live, lines, width)
          live = next
          out += text
        }
        // the first frame ("starting") is drawn before the plan's header arrives: the header goes above it
        frame(0)
        const header = `run ${runId}: products → ${summary.output} (300 items)`
        state = Progress.withTotal(state, 300)
        print([header])
        for (const now of [500, 1800, 3200]) {
          state = Progress.updateAll(Progress.make({ name: "products", rows, total: 300 }), eventsUntil(now))
          frame(now)
        }
        print(["WARN engines.yml: engines[0] (llama3): dtype applies to Chainette's in-process vLLM only"])
        state = Progress.updateAll(Progress.make({ name: "products", rows, total: 300 }), [
          ...eventsUntil(7000),
          Event.make("RunEnd", at(6100), { status: "success", durationMs: 6100 })
        ])
        frame(6200)
        const finalFrame = live.frame
        const report = Run.summaryLines(summary, { width })
        out += report.join("\n") + "\n"

        const screen = render(out, width)
        assert.deepStrictEqual(screen.wrapped, [], screen.lines.join("\n"))
        for (const line of screen.lines) assert.isAtMost(Terminal.columns(line), width - 1, line)
        const strip = (line: string) => line.replace(new RegExp(String.fromCharCode(27) + "\\[[0-9;]*m", "g"), "")
        const expected = [
          ...Terminal.wrap(header, width - 1),
          ...Terminal.wrap(
            "WARN engines.yml: engines[0] (llama3): dtype applies to Chainette's in-process vLLM only",
            width - 1
          ),
          ...finalFrame.map(strip),
          ...report
        ].map((line) => line.trimEnd())
        assert.deepStrictEqual(screen.lines, expected)
        assert.notInclude(screen.lines.join("\n"), "starting")
        assert.match(screen.lines.find((line) => line.includes("extract"))!, /300\/300/)
        const catalogue = screen.lines.find((line) => line.includes("└── catalogue"))!
        assert.include(catalogue, "failed")
        if (width >= 60) assert.include(catalogue, "/s")
        assert.isTrue(report.some((line) => /^ {2}extract\s+216\s+(0\s+)?84/.test(line)))
      }))
  }
})
