/**
 * Things to serve with `sluice serve`: an agent with a tool (a fresh conversation per request) and a plain node.
 *
 *   node bin/sluice.js serve examples/serve/assistant.ts:assistant examples/serve/assistant.ts:shout --port 8787
 *   curl -N localhost:8787/runs/shout -d '"hello"'
 *   curl localhost:8787/v1/chat/completions -d '{"model":"assistant","messages":[{"role":"user","content":"Oslo?"}]}'
 *
 * Without `--engines` the models run on the dry-run engine; with an engines file, on its default engine.
 */
import { Tool, Toolkit } from "@effect/ai"
import { Effect, Schema } from "effect"
import * as Agent from "sluice/Agent"
import * as Node from "sluice/Node"
import * as Serve from "sluice/Serve"

const Weather = Tool.make("weather", {
  description: "Current temperature in a city, in degrees Celsius",
  parameters: { city: Schema.String },
  success: Schema.Struct({ celsius: Schema.Number })
})

/** An agent route: `make` runs once per request. */
export const assistant = Serve.agent(
  "assistant",
  Agent.make({
    system: "You answer weather questions in one sentence.",
    tools: Toolkit.make(Weather),
    handlers: { weather: ({ city }) => Effect.succeed({ celsius: (city.length * 7) % 30 }) },
    maxTurns: 4,
    onMaxTurns: "stop"
  }),
  { concurrency: 32 }
)

/** A node route with an input schema: bad bodies get a 400 naming the issue. */
export const shout = Serve.node(Node.fromFunction("shout", (text: string) => `${text.toUpperCase()}!`), {
  input: Schema.String.pipe(Schema.maxLength(1000))
})
