/**
 * Lifecycle hooks: `onStartup` acquires a resource when a run starts (a scoped resource: it may use
 * `Effect.acquireRelease` itself); steps read its value with `yield* pipe.context`; `onShutdown` hooks run when the
 * run ends, on success, failure or interruption, with the run's `Exit`. Services can also come from Layers, as
 * everywhere in Effect (here a `Clock`-like `Greeter`).
 *
 *   npx tsx examples/graph/06_lifecycle_hooks.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Context, Effect, Layer } from "effect"
import * as Graph from "sluice/Graph"

interface State {
  readonly data: string
}

interface Db {
  readonly status: "connected" | "closed"
  readonly rows: Map<string, string>
}

class Greeter extends Context.Tag("example/Greeter")<Greeter, { readonly greet: (name: string) => string }>() {}

const pipe = Graph.make<State, Db>({ name: "hooks" })
  .onStartup(Effect.gen(function*() {
    yield* Console.log("Connecting to mock database...")
    yield* Effect.sleep("100 millis")
    return { status: "connected", rows: new Map([["user:1", "Ada"]]) } as const
  }))
  .onShutdown((db, exit) =>
    Effect.gen(function*() {
      yield* Console.log(`Disconnecting from mock database (run ${exit._tag})...`)
      db.rows.clear()
    })
  )

const fetch = Effect.gen(function*() {
  const db = yield* pipe.context
  const greeter = yield* Greeter
  yield* Console.log("Fetching data from DB...")
  if (db.status === "connected") {
    const state = yield* pipe.state
    yield* state.set({ data: greeter.greet(db.rows.get("user:1") ?? "nobody") })
  }
})

const graph = pipe.step("fetch", fetch)

const program = Effect.gen(function*() {
  const final = yield* Graph.run(graph, { data: "" })
  yield* Console.log(`Data fetched: ${final.data}`)
})

program.pipe(
  Effect.provide(Layer.succeed(Greeter, { greet: (name) => `Hello, ${name}` })),
  NodeRuntime.runMain
)
