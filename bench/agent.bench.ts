/**
 * Agent overheads per streamed token: one prompt whose reply streams many text deltas, through `Agent.promptText`,
 * with a subscriber listening, and through the agent's Node, against the floor of consuming the same engine's
 * `LanguageModel.streamText` directly (all in the same process, on the same scripted engine). The floor includes
 * `@effect/ai`'s own per-part Schema decoding, which every agent variant pays too.
 */
import { LanguageModel } from "@effect/ai"
import { Effect, Layer, type Scope, Stream } from "effect"
import * as Agent from "../src/Agent.js"
import * as Node from "../src/Node.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"
import type { Suite } from "./harness.js"

const TOKENS = 50_000

const chunks = Array.from({ length: TOKENS }, (_, i) => `t${i % 10} `)
const engine = Layer.fresh(ScriptedEngine.layer({ reply: () => ({ chunks }) }))

const run = <A, E>(effect: Effect.Effect<A, E, LanguageModel.LanguageModel | Scope.Scope>) =>
  Effect.runPromise(effect.pipe(Effect.scoped, Effect.provide(engine)) as Effect.Effect<A, E>)

const perToken: Suite = {
  name: "Agent per-token overhead",
  description: `one prompt whose reply streams ${TOKENS.toLocaleString()} text deltas`,
  units: { count: TOKENS, label: "token" },
  rounds: 5,
  variants: [
    {
      name: "LanguageModel.streamText → join (floor)",
      run: () =>
        run(
          Stream.runFold(
            LanguageModel.streamText({ prompt: "go" }),
            [] as Array<string>,
            (texts, part) => {
              if (part.type === "text-delta") texts.push(part.delta)
              return texts
            }
          ).pipe(Effect.map((texts) => texts.join("")))
        )
    },
    {
      name: "Agent.promptText",
      baseline: "LanguageModel.streamText → join (floor)",
      run: () => run(Effect.flatMap(Agent.make({}), (agent) => Agent.promptText(agent, "go")))
    },
    {
      name: "Agent.promptText + 1 subscriber",
      baseline: "LanguageModel.streamText → join (floor)",
      run: () =>
        run(Effect.gen(function*() {
          const agent = yield* Agent.make({})
          let _seen = 0
          yield* Agent.subscribe(agent, () => {
            _seen++
          })
          return yield* Agent.promptText(agent, "go")
        }))
    },
    {
      name: "Node.run(Agent.toNode)",
      baseline: "LanguageModel.streamText → join (floor)",
      run: () => run(Effect.flatMap(Agent.make({}), (agent) => Node.run(Agent.toNode(agent), "go")))
    }
  ]
}

export default [perToken]
