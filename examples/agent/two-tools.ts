/**
 * An agent with two tools, offline: a weather lookup (which reports progress) and a unit converter.
 *
 * The model is a scripted engine that behaves like a small tool-using model: asked about the weather, it calls
 * `weather` and `convert` in parallel, then answers from their results. Pass `--dry-run` to use the dry-run engine
 * instead (it calls one tool with generated parameters, then answers with placeholder text). Swap the engine Layer
 * for any `LanguageModel` (e.g. `OpenAiCompat.layer(...)`) to run it on a real model.
 *
 * The program streams the conversation as it happens, listens to the agent's events through a subscription, and
 * prints the conversation state as JSON at the end.
 *
 *   npx tsx examples/agent/two-tools.ts [--dry-run]
 */
import { Tool, Toolkit } from "@effect/ai"
import { Console, Effect, Layer, Ref, Schema, Stream } from "effect"
import * as Agent from "sluice/Agent"
import * as DryRun from "sluice/engines/DryRun"
import * as ScriptedEngine from "sluice/testing/ScriptedEngine"

// -----------------------------------------------------------------------------
// tools: parameters and results are Schemas
// -----------------------------------------------------------------------------

const Weather = Tool.make("weather", {
  description: "Current weather in a city, in degrees Celsius",
  parameters: { city: Schema.String },
  success: Schema.Struct({ city: Schema.String, celsius: Schema.Number, sky: Schema.String })
})

const Convert = Tool.make("convert", {
  description: "Converts a temperature from Celsius to Fahrenheit",
  parameters: { celsius: Schema.Number },
  success: Schema.Struct({ fahrenheit: Schema.Number })
})

const toolkit = Toolkit.make(Weather, Convert)

const forecasts: Record<string, { readonly celsius: number; readonly sky: string }> = {
  Oslo: { celsius: 4, sky: "overcast" },
  Lisbon: { celsius: 19, sky: "sunny" }
}

// -----------------------------------------------------------------------------
// the model: a scripted engine that answers like a small tool-using model
// -----------------------------------------------------------------------------

const scripted = ScriptedEngine.layer({
  tokenSize: 6,
  tokenDelay: "15 millis",
  reply: (request) => {
    const last = request.text.split("\n").at(-1) ?? ""
    if (last.startsWith("tool:")) {
      const celsius = /"celsius":(-?[\d.]+)/.exec(last)?.[1]
      const fahrenheit = /"fahrenheit":(-?[\d.]+)/.exec(last)?.[1]
      const sky = /"sky":"([^"]+)"/.exec(last)?.[1]
      return { text: `It is ${celsius} °C (${fahrenheit} °F) and ${sky} in Oslo.` }
    }
    return {
      reasoning: "The user wants the weather in Oslo, in both units. I will look it up and convert.",
      text: "Let me check.",
      toolCalls: [
        { name: "weather", params: { city: "Oslo" } },
        { name: "convert", params: { celsius: forecasts.Oslo!.celsius } }
      ]
    }
  }
})

const dryRun = process.argv.includes("--dry-run")
const model = dryRun ? DryRun.layer({ seed: 7 }) : scripted

// -----------------------------------------------------------------------------
// the program
// -----------------------------------------------------------------------------

const program = Effect.gen(function*() {
  const agent = yield* Agent.make({
    system: "You answer weather questions. Use the tools.",
    modelName: dryRun ? "dry-run" : "scripted",
    tools: toolkit,
    maxTurns: 4,
    handlers: {
      weather: ({ city }, { update }) =>
        Effect.gen(function*() {
          yield* update({ status: `contacting the ${city} station` })
          yield* Effect.sleep("50 millis")
          const forecast = forecasts[city] ?? { celsius: 12, sky: "unknown" }
          return { city, ...forecast }
        }),
      convert: ({ celsius }) => Effect.succeed({ fahrenheit: Math.round((celsius * 9 / 5 + 32) * 10) / 10 })
    }
  })

  // A subscriber sees every event of every prompt, in its own fiber.
  const counts = yield* Ref.make<Record<string, number>>({})
  yield* Agent.subscribe(
    agent,
    (event) => Ref.update(counts, (c) => ({ ...c, [event._tag]: (c[event._tag] ?? 0) + 1 }))
  )

  // The prompt's own stream: print the conversation as it happens.
  let midLine = false
  let thinking = false
  const write = (text: string) =>
    Effect.sync(() => {
      process.stdout.write(text)
      midLine = !text.endsWith("\n")
    })
  const line = (text: string) => write(`${midLine ? "\n" : ""}${text}\n`)
  yield* Agent.prompt(agent, "What is the weather in Oslo, in Celsius and Fahrenheit?").pipe(
    Stream.runForEach((event) => {
      switch (event._tag) {
        case "TurnStart":
          return line(`\n── turn ${event.turn}`)
        case "MessageUpdate":
          switch (event.delta._tag) {
            case "ThinkingDelta":
              thinking = true
              return write(`\x1b[2m${event.delta.text}\x1b[0m`)
            case "TextDelta": {
              const text = thinking ? `\n${event.delta.text}` : event.delta.text
              thinking = false
              return write(text)
            }
            case "ToolCallEnd":
              return line(`  → ${event.delta.name}(${JSON.stringify(event.delta.params)})`)
            default:
              return Effect.void
          }
        case "ToolExecutionUpdate":
          return line(`  … ${event.toolName}: ${JSON.stringify(event.progress)}`)
        case "ToolExecutionEnd":
          return line(
            `  ← ${event.toolName} ${event.isError ? "failed" : "returned"} ${
              JSON.stringify(event.result)
            } in ${event.durationMs} ms`
          )
        case "AgentEnd":
          return line(`── done (${event.reason}) after ${event.turns} turns, ${event.usage?.totalTokens} tokens`)
        default:
          return Effect.void
      }
    })
  )

  yield* Effect.sleep("10 millis")
  yield* Console.log("\nevents seen by the subscriber:", yield* Ref.get(counts))
  const state = yield* Agent.state(agent)
  yield* Console.log("\nconversation state:\n" + (yield* Schema.encode(Agent.StateFromJson)(state)))
})

program.pipe(Effect.scoped, Effect.provide(Layer.fresh(model)), Effect.runPromise)
