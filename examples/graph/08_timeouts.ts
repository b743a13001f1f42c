/**
 * Timeouts: a step's `timeout` limits each attempt; past it the attempt fails with a `NodeError` (reason
 * `Timeout`), which is retryable, so `retry` can try again. Without a retry the run fails with that typed error.
 *
 *   npx tsx examples/graph/08_timeouts.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Schedule } from "effect"
import * as Graph from "sluice/Graph"

interface State {
  readonly result: string
}

const pipe = Graph.make<State>({ name: "timeouts" })

let attempt = 0
const sometimesSlow = Effect.gen(function*() {
  attempt++
  yield* Effect.sleep(attempt === 1 ? "2 seconds" : "50 millis")
  yield* Effect.flatMap(pipe.state, (s) => s.set({ result: `answered on attempt ${attempt}` }))
})

const recovering = pipe.step("call", { timeout: "200 millis", retry: Schedule.recurs(2) }, sometimesSlow)
const hopeless = pipe.step("call", { timeout: "200 millis" }, Effect.never)

const program = Effect.gen(function*() {
  const final = yield* Graph.run(recovering, { result: "" })
  yield* Console.log(`with retry: ${final.result}`)
  const error = yield* Effect.flip(Graph.run(hopeless, { result: "" }))
  yield* Console.log(`without retry: ${error._tag}: ${error.message}`)
})

NodeRuntime.runMain(program)
