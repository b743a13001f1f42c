import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Progress from "../../src/cli/Progress.js"
import * as Terminal from "../../src/cli/Terminal.js"
import * as Event from "../../src/Event.js"

const at = (timestamp: number, ...path: Array<string>) => ({ runId: "r1", path: ["products", ...path], timestamp })

const tree = Progress.layout([
  { key: "extract", label: "extract" },
  { label: "translate", children: [{ key: "fr", label: "fr" }, { key: "de", label: "de" }] },
  { key: "score", label: "score" }
])

// 10 items: extract finishes 6 (one failed) in 2 s, fr 2, de none, score none.
const events: ReadonlyArray<Event.Event> = [
  Event.make("RunStart", at(0), { name: "products" }),
  ...Array.from({ length: 6 }, (_, i) => Event.make("StepStart", at(100 * i, "extract"), { item: i })),
  ...Array.from(
    { length: 5 },
    (_, i) => Event.make("StepEnd", at(400 * i + 400, "extract"), { durationMs: 1, item: i })
  ),
  Event.make("Retry", at(1500, "extract"), { attempt: 1, error: "EngineError", message: "busy", delayMs: 10 }),
  Event.make("StepError", at(2000, "extract"), { error: "EngineError", message: "boom", retryable: false, item: 5 }),
  Event.make("StepStart", at(1000, "fr"), { item: 0 }),
  Event.make("StepEnd", at(1200, "fr"), { durationMs: 200, item: 0 }),
  Event.make("StepStart", at(1300, "fr"), { item: 1 }),
  Event.make("StepEnd", at(1500, "fr"), { durationMs: 200, item: 1 }),
  Event.make("NonFatalError", at(50), { error: "Malformed", message: "line 3: unexpected token" })
]

const running = Progress.updateAll(Progress.make({ name: "products", rows: tree, total: 10 }), events)

describe("Progress", () => {
  it.effect("layout draws the step tree", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(tree.map((row) => `${row.prefix}${row.label}`), [
        "├── extract",
        "├── translate",
        "│   ├── fr",
        "│   └── de",
        "└── score"
      ])
      assert.deepStrictEqual(tree.map((row) => row.key), ["extract", undefined, "fr", "de", "score"])
    }))

  it.effect("update counts per step and leaves its input as it was", () =>
    Effect.sync(() => {
      const initial = Progress.make({ name: "products", rows: tree, total: 10 })
      const once = Progress.update(initial, events[1]!)
      assert.strictEqual(initial.steps["extract"]?.started, 0)
      assert.strictEqual(once.steps["extract"]?.started, 1)
      assert.strictEqual(running.status, "running")
      assert.strictEqual(running.runId, "r1")
      assert.strictEqual(running.startedAt, 0)
      assert.deepStrictEqual(running.steps["extract"], {
        started: 6,
        done: 5,
        errors: 1,
        failed: 1,
        retries: 1,
        firstAt: 0,
        lastAt: 2000
      })
      assert.strictEqual(running.steps["fr"]?.done, 2)
      assert.strictEqual(running.steps["de"]?.started, 0)
      assert.strictEqual(running.malformed, 1)
      assert.strictEqual(running.lastError, "line 3: unexpected token")
      const ended = Progress.update(running, Event.make("RunEnd", at(2500), { status: "success", durationMs: 2500 }))
      assert.strictEqual(ended.status, "success")
      assert.strictEqual(ended.endedAt, 2500)
      assert.strictEqual(running.status, "running")
    }))

  it.effect("updateAll is update folded over the events", () =>
    Effect.sync(() => {
      const oneByOne = events.reduce(Progress.update, Progress.make({ name: "products", rows: tree, total: 10 }))
      assert.deepStrictEqual(oneByOne, running)
    }))

  it.effect("events of steps outside the tree add rows; the run's own and other events are ignored", () =>
    Effect.sync(() => {
      const state = Progress.updateAll(Progress.make({ name: "p" }), [
        Event.make("StepEnd", { runId: "r", path: ["p", "fr", "translate"], timestamp: 1 }, { durationMs: 1 }),
        Event.make("StepEnd", { runId: "r", path: ["p"], timestamp: 1 }, { durationMs: 1 }),
        Event.make("Token", { runId: "r", path: ["p", "x"], timestamp: 1 }, { text: "hi" })
      ])
      assert.deepStrictEqual(state.rows, [{ key: "fr/translate", label: "fr/translate", prefix: "" }])
      assert.strictEqual(state.steps["fr/translate"]?.done, 1)
      assert.strictEqual(Progress.keyOf(["p"]), undefined)
    }))

  it.effect("frame: header, tree, bars with counts, percentage, rate, ETA and errors", () =>
    Effect.sync(() => {
      const lines = Progress.frame(running, { now: 2000, width: 100 })
      // extract: 6 of 10 in 2 s → 3.0/s, 4 left → ETA 1s; fr: 2 items in its first second
      assert.deepStrictEqual(lines, [
        "products  running 00:02  1 failed item  1 malformed row  run r1",
        "├── extract  █████████████████░░░░░░░░░░░░   6/10    60%      3.0/s  ETA 1s      1 failed 1 retried",
        "├── translate",
        "│   ├── fr   ██████░░░░░░░░░░░░░░░░░░░░░░░   2/10    20%      2.0/s  ETA 4s",
        "│   └── de   ░░░░░░░░░░░░░░░░░░░░░░░░░░░░░   0/10     0%",
        "└── score    ░░░░░░░░░░░░░░░░░░░░░░░░░░░░░   0/10     0%"
      ])
      for (const line of lines) assert.isFalse(line.includes("\x1b"))
    }))

  it.effect("frame fits the width and colours only when asked", () =>
    Effect.sync(() => {
      const narrow = Progress.frame(running, { now: 2000, width: 50 })
      for (const line of narrow) assert.isAtMost([...line].length, 49)
      const colored = Progress.frame(running, { now: 2000, width: 100, color: true })
      assert.include(colored[1]!, "\x1b[32m█")
      assert.include(colored[1]!, "\x1b[31m1 failed\x1b[0m")
      const cut = Progress.frame(running, { now: 2000, width: 50, color: true })
      const ansi = new RegExp(String.fromCharCode(27) + "\\[[0-9;]*m", "g")
      for (const line of cut) assert.isAtMost([...line.replace(ansi, "")].length, 49)
    }))

  it.effect("frame without a total shows counts and rates, no bars", () =>
    Effect.sync(() => {
      const lines = Progress.frame(Progress.withTotal(running, undefined), { now: 2000, width: 100 })
      assert.deepStrictEqual(lines, [
        "products  running 00:02  1 failed item  1 malformed row  run r1",
        "├── extract  6      3.0/s  1 failed 1 retried",
        "├── translate",
        "│   ├── fr   2      2.0/s",
        "│   └── de   0",
        "└── score    0"
      ])
    }))

  it.effect("frame at 40, 60 and 120 columns: columns go (ETA, bar, percentage) before counts and errors", () =>
    Effect.sync(() => {
      for (const width of [40, 60, 120]) {
        const lines = Progress.frame(running, { now: 2000, width, color: true })
        for (const line of lines) assert.isAtMost(Terminal.columns(line), width - 1, line)
        assert.include(lines[1]!, "1 failed")
        assert.include(lines[1]!, "6/10")
      }
      assert.include(Progress.frame(running, { now: 2000, width: 60 })[1]!, "3.0/s")
      assert.notInclude(Progress.frame(running, { now: 2000, width: 60 })[1]!, "█")
      assert.include(Progress.frame(running, { now: 2000, width: 120 })[1]!, "ETA 1s")
    }))

  it.effect("an item failing in two branches is one failed item, under the later error, as in errors/", () =>
    Effect.sync(() => {
      const both = Progress.updateAll(Progress.make({ name: "products", rows: tree, total: 2 }), [
        Event.make("StepError", at(10, "fr"), { error: "E", message: "fr", retryable: false, item: 0 }),
        Event.make("StepError", at(11, "de"), { error: "E", message: "de", retryable: false, item: 0 }),
        Event.make("StepError", at(12, "fr"), { error: "E", message: "fr", retryable: false, item: 1 }),
        Event.make("StepEnd", at(13, "de"), { durationMs: 1, item: 1 })
      ])
      assert.strictEqual(both.steps["fr"]?.errors, 2)
      assert.strictEqual(both.steps["fr"]?.failed, 1)
      assert.strictEqual(both.steps["de"]?.errors, 1)
      assert.strictEqual(both.steps["de"]?.failed, 1)
      assert.include(Progress.frame(both, { now: 20 })[0]!, "2 failed items")
      // the bars still count what each step settled
      assert.include(Progress.line(both, { now: 20 }), "fr 2/2 100%")
      assert.include(Progress.line(both, { now: 20 }), "de 2/2 100% 1 failed")
    }))

  it.effect("line: one plain log line per tick; the end drops the ETA", () =>
    Effect.sync(() => {
      assert.strictEqual(
        Progress.line(running, { now: 2000 }),
        "[00:02] products extract 6/10 60% 3.0/s ETA 1s 1 failed 1 retried | fr 2/10 20% 2.0/s ETA 4s | de 0/10 0%" +
          " | score 0/10 0% | 1 malformed"
      )
      const ended = Progress.update(running, Event.make("RunEnd", at(4000), { status: "failure", durationMs: 4000 }))
      assert.strictEqual(
        Progress.line(ended, { now: 9000 }),
        "[00:04] products failure extract 6/10 60% 3.0/s 1 failed 1 retried | fr 2/10 20% 4.0/s | de 0/10 0%" +
          " | score 0/10 0% | 1 malformed"
      )
      assert.strictEqual(Progress.line(Progress.make({ name: "p" }), { now: 5 }), "[00:00] p pending")
    }))

  it.effect("redraw moves up over the previous frame and clears it", () =>
    Effect.sync(() => {
      assert.strictEqual(Progress.redraw(0, ["a", "b"]), "a\nb\n")
      assert.strictEqual(Progress.redraw(2, ["a", "b", "c"]), "\x1b[2F\x1b[0Ja\nb\nc\n")
      assert.strictEqual(Progress.redraw(1, []), "\x1b[1F\x1b[0J")
    }))

  it.effect("formats durations and counts", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(
        [850, 12_400, 245_000, 7_380_000, Infinity].map(Progress.formatDuration),
        ["850ms", "12s", "4m05s", "2h03m", "?"]
      )
      assert.deepStrictEqual([0, 999, 1000, 1234567, -4200].map(Progress.formatCount), [
        "0",
        "999",
        "1,000",
        "1,234,567",
        "-4,200"
      ])
    }))
})
