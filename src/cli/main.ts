/**
 * The `sluice` command line.
 *
 * @since 0.1.0
 */
import { Command } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import { createRequire } from "node:module"

const { version } = createRequire(import.meta.url)("../../package.json") as { readonly version: string }

const sluice = Command.make("sluice")

Command.run(sluice, { name: "sluice", version })(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
