/**
 * What `sluice serve` runs: loading `<module>:<export>` values as routes, and serving them until stopped (Ctrl-C
 * drains the in-flight runs first). Loaded on demand by the `serve` command, so other commands start fast.
 *
 * An export can be a `Serve.Route` (full control: name, input schema, concurrency), a Chain, a Graph, a Pipeline,
 * a Node (the body is passed as is, without an input schema), an `Effect` that makes an `Agent` (a fresh agent per
 * request), or an `Agent` (one shared conversation, so one request at a time). Routes are named after the export
 * unless a `Serve.Route` names itself. Models come from the engines file, or the dry-run engine without one. The
 * bearer token is `SLUICE_SERVE_TOKEN` when set.
 *
 * @since 0.1.0
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { createServer } from "node:http"
import * as Agent from "../Agent.js"
import * as Chain from "../Chain.js"
import type * as EngineRegistry from "../EngineRegistry.js"
import * as Graph from "../Graph.js"
import * as Node from "../Node.js"
import * as Pipeline from "../Pipeline.js"
import * as Serve from "../Serve.js"
import { CliError } from "./CliError.js"
import * as Engines from "./Engines.js"
import * as Output from "./Output.js"

/**
 * Imports `file:export` (or a module's default export) and mounts it as a route.
 *
 * @example
 * ```ts
 * import * as Serving from "sluice/cli/Serving"
 *
 * const route = Serving.loadRoute("examples/agent/two-tools.ts:assistant")
 * ```
 *
 * @since 0.1.0
 * @category loading
 */
export const loadRoute = (
  spec: string
): Effect.Effect<Serve.Route<Provided>, CliError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const colon = spec.lastIndexOf(":")
    const hasExport = colon > 1 && !/[/\\]/.test(spec.slice(colon + 1))
    const file = hasExport ? spec.slice(0, colon) : spec
    const name = hasExport ? spec.slice(colon + 1) : "default"
    const absolute = path.resolve(file)
    if (!(yield* fs.exists(absolute).pipe(Effect.orElseSucceed(() => false)))) {
      return yield* new CliError({ reason: "NotFound", path: file, description: "module not found" })
    }
    const url = yield* path.toFileUrl(absolute).pipe(
      Effect.mapError(() => new CliError({ reason: "NotFound", path: file, description: "module not found" }))
    )
    const mod = yield* Effect.tryPromise({
      try: () => import(url.href) as Promise<Record<string, unknown>>,
      catch: (cause) =>
        new CliError({ reason: "Usage", path: file, description: `cannot import: ${Node.errorMessage(cause)}` })
    })
    if (!Object.hasOwn(mod, name)) {
      return yield* new CliError({
        reason: "Usage",
        path: file,
        description: `no export "${name}" (exports: ${Object.keys(mod).join(", ") || "none"})`
      })
    }
    const route = toRoute(name, mod[name])
    if (route === undefined) {
      return yield* new CliError({
        reason: "Usage",
        path: file,
        description: `the export "${name}" is not something sluice can serve (a Serve.Route, Chain, Graph, ` +
          `Pipeline, Node, Agent or an Effect that makes an Agent)`
      })
    }
    return route as Serve.Route<Provided>
  })

/**
 * What `sluice serve` provides to the routes it loads: the engines.
 *
 * @example
 * ```ts
 * import type * as Serving from "sluice/cli/Serving"
 *
 * type Needs = Serving.Provided
 * ```
 *
 * @since 0.1.0
 * @category loading
 */
export type Provided = LanguageModel.LanguageModel | EngineRegistry.EngineRegistry

const toRoute = (name: string, value: unknown): Serve.Route<any> | undefined => {
  if (Serve.isRoute(value)) return value as Serve.Route<any>
  if (Chain.isChain(value)) return Serve.chain(value, { name })
  if (Graph.isGraph(value)) return Serve.graph(value as any, { name, input: Schema.Unknown })
  if (Pipeline.isPipeline(value)) return Serve.pipeline(value, { name, input: Schema.Unknown })
  if (Node.isNode(value)) {
    return Serve.node(value as Node.Node<unknown, unknown, unknown, any>, { name, input: Schema.Unknown })
  }
  if (Agent.isAgent(value)) return Serve.agent(name, Effect.succeed(value), { concurrency: 1 })
  if (Effect.isEffect(value)) return Serve.agent(name, value as Effect.Effect<Agent.Agent, unknown, any>)
  return undefined
}

/**
 * Loads the targets and serves them on `host:port` until interrupted, printing the address and the routes.
 *
 * @example
 * ```ts
 * import * as Serving from "sluice/cli/Serving"
 *
 * const program = Serving.launch({ targets: ["examples/serve/assistant.ts:shout"], port: 0, host: "127.0.0.1" })
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const launch = (options: {
  readonly targets: ReadonlyArray<string>
  readonly port: number
  readonly host: string
  readonly engines?: string | undefined
}) =>
  Effect.gen(function*() {
    const { engines, host, port, targets } = options
    const routes = yield* Effect.forEach(targets, loadRoute)
    const announce = Layer.effectDiscard(Effect.gen(function*() {
      const server = yield* HttpServer.HttpServer
      const address = server.address as HttpServer.TcpAddress
      const base = `http://${
        address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname
      }:${address.port}`
      yield* Output.lines([
        `sluice serve: listening on ${base}`,
        ...Serve.describe(routes).map((line) => `  ${line}`)
      ])
    }))
    const server = NodeHttpServer.layer(createServer, { port, host })
    return yield* Layer.launch(
      Layer.mergeAll(Serve.layer(routes), announce).pipe(
        Layer.provide(server),
        Layer.provide(Engines.layer(engines))
      )
    )
  })
