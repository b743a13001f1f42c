/**
 * `sluice serve <module>:<export>… [--port 8787] [--host 127.0.0.1] [--engines engines.yml]`: mounts the exports
 * with `Serve`, prints the routes, and serves until stopped (Ctrl-C drains the in-flight runs first).
 *
 * An export can be a `Serve.Route` (full control: name, input schema, concurrency), a Chain, a Graph, a Pipeline,
 * a Node (the body is passed as is, without an input schema), an `Effect` that makes an `Agent` (a fresh agent per
 * request), or an `Agent` (one shared conversation, so one request at a time). Routes are named after the export
 * unless a `Serve.Route` names itself. Models come from the engines file, or the dry-run engine without one. The
 * bearer token is `SLUICE_SERVE_TOKEN` when set.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Flags from "./Flags.js"

/**
 * The `serve` command.
 *
 * @example
 * ```ts
 * import { Command } from "@effect/cli"
 * import * as Serve from "sluice/cli/Serve"
 *
 * const root = Command.make("sluice").pipe(Command.withSubcommands([Serve.command]))
 * ```
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "serve",
  {
    targets: Args.text({ name: "module:export" }).pipe(
      Args.atLeast(1),
      Args.withDescription("what to serve, e.g. examples/agent/two-tools.ts:assistant (repeatable)")
    ),
    port: Options.integer("port").pipe(Options.withDefault(8787), Options.withDescription("the port (0: any free)")),
    host: Flags.host("the address to bind (default 127.0.0.1: this machine only)"),
    engines: Flags.engines
  },
  ({ engines, host, port, targets }) =>
    Effect.flatMap(
      Effect.promise(() => import("./Serving.js")),
      (serving) => serving.launch({ targets, port, host, engines: Option.getOrUndefined(engines) })
    )
).pipe(
  Command.withDescription("Serve chains, graphs, pipelines, nodes and agents over HTTP (SSE and OpenAI-compatible)")
)
