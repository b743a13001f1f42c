/**
 * Serve's shutdown: closing the Layer refuses new requests with 503, lets the runs in flight finish within
 * `shutdownTimeout`, and stops those that do not.
 */
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Redacted, Schema, Scope } from "effect"
import { createServer } from "node:http"
import * as Node from "../src/Node.js"
import * as Serve from "../src/Serve.js"
import { gated } from "./support/nodes.js"

const TOKEN = "drain-t0ken"

const upper = Node.fromFunction("upper", (s: string) => s.toUpperCase())

/** Starts a server with the gated route (and `upper`) in its own scope; returns its URL and that scope. */
const start = (node: Node.Node<string, string>, shutdownTimeout: "5 seconds" | "200 millis") =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const routes = [Serve.node(node, { input: Schema.String }), Serve.node(upper, { input: Schema.String })]
    const server = Serve.layer(routes, {
      token: Redacted.make(TOKEN),
      shutdownTimeout
    }).pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })))
    const context = yield* Layer.buildWithScope(server, scope)
    const address = (yield* Effect.provide(HttpServer.HttpServer, context)).address as HttpServer.TcpAddress
    return { url: `http://${address.hostname}:${address.port}`, scope }
  })

const run = (url: string, route = "gated") =>
  Effect.promise(() =>
    fetch(`${url}/runs/${route}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
      body: "\"x\""
    })
  )

describe("Serve shutdown", () => {
  it.live("closing refuses new requests with 503 and lets the run in flight finish", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const finalized: Array<string> = []
      const { scope, url } = yield* start(gated("gated", { started, release, finalized }), "5 seconds")
      const inFlight = yield* run(url)
      assert.strictEqual(inFlight.status, 200)
      yield* Deferred.await(started)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      // the finalizer marks the server as closing at once: poll until a new request is refused
      let refused: Response | undefined
      for (let i = 0; i < 100 && refused === undefined; i++) {
        const response = yield* run(url, "upper")
        if (response.status === 503) refused = response
        else yield* Effect.promise(() => response.text())
      }
      assert.isDefined(refused)
      assert.strictEqual(refused!.headers.get("retry-after"), "1")
      assert.isNull(closing.unsafePoll(), "closing waits for the run in flight")
      yield* Deferred.succeed(release, undefined)
      const text = yield* Effect.promise(() => inFlight.text())
      assert.include(text, "\"done\"")
      yield* Fiber.join(closing)
      assert.deepStrictEqual(finalized, ["gated"])
    }))

  it.live("a run still going after shutdownTimeout is stopped, and its stream ends with an error event", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const never = yield* Deferred.make<void>()
      const finalized: Array<string> = []
      const { scope, url } = yield* start(gated("gated", { started, release: never, finalized }), "200 millis")
      const inFlight = yield* run(url)
      yield* Deferred.await(started)
      const reading = yield* Effect.fork(Effect.promise(() => inFlight.text().catch(() => "")))
      yield* Scope.close(scope, Exit.void)
      const text = yield* Fiber.join(reading)
      assert.match(text, /event: error\ndata: .*"_tag":"Interrupted".*the server is shutting down/)
      yield* Effect.sleep("20 millis").pipe(Effect.repeat({ until: () => finalized.includes("gated"), times: 100 }))
      assert.deepStrictEqual(finalized, ["gated"])
      assert.isFalse(yield* Deferred.isDone(never))
    }))
})
