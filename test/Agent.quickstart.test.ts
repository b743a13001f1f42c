import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

// TinyAgent's quick start (examples/agent/quickstart.ts), run as it is: model set by engine name, a JSON Schema tool
// given with setTools, events seen by a subscription.
describe("examples/agent", () => {
  it.live("quickstart: answers, calls the JSON Schema tool with typed arguments, and records the conversation", () =>
    Effect.gen(function*() {
      const { main } = yield* Effect.promise(() => import("../examples/agent/quickstart.js"))
      const { capital, seen, state, sum } = yield* main
      assert.strictEqual(capital, "The capital of France is Paris.")
      assert.strictEqual(sum, "2 + 3 = 5.")
      assert.strictEqual(state.sessionId, "my-session")
      assert.strictEqual(state.systemPrompt, "You are a helpful assistant.")
      assert.strictEqual(state.model, "claude")
      assert.deepStrictEqual(state.tools, ["sum"])
      assert.deepStrictEqual(
        state.messages.flatMap((m) => m._tag === "ToolResultMessage" ? [[m.toolName, m.result, m.isError]] : []),
        [["sum", 5, false]]
      )
      assert.strictEqual(seen[0], "AgentStart")
      assert.strictEqual(seen.at(-1), "AgentEnd")
      assert.include(seen, "ToolExecutionEnd")
    }))
})
