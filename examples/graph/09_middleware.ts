/**
 * Middleware wraps every step attempt (retries included). The first added is the outermost: with `use(logging)`
 * then `use(timing)`, logging sees the step start first and end last.
 *
 *   npx tsx examples/graph/09_middleware.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Clock, Console, Effect } from "effect"
import * as Graph from "sluice/Graph"

interface State {
  readonly n: number
}

const logging = Graph.middleware((step, info) =>
  Console.log(`-> entering ${info.step} (attempt ${info.attempt})`).pipe(
    Effect.zipRight(step),
    Effect.tap(() => Console.log(`<- leaving ${info.step}`))
  )
)

const timing = Graph.middleware((step, info) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const result = yield* step
    yield* Console.log(`   ${info.step} took ${(yield* Clock.currentTimeMillis) - start} ms`)
    return result
  })
)

const pipe = Graph.make<State>({ name: "middleware" })
const double = Effect.flatMap(pipe.state, (s) => s.update(({ n }) => ({ n: n * 2 })))

const graph = pipe
  .step("first", { to: "second" }, double)
  .step("second", Effect.zipRight(Effect.sleep("30 millis"), double))
  .use(logging)
  .use(timing)

const program = Effect.gen(function*() {
  const final = yield* Graph.run(graph, { n: 21 })
  yield* Console.log(`n = ${final.n}`)
})

NodeRuntime.runMain(program)
