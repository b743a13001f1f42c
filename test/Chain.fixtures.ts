/**
 * Shared fixtures of the Chain tests: schemas, the products chain (an extraction, two aliased translation branches,
 * a title step reading them, a pure step) and scripted engines.
 */
import { assert } from "@effect/vitest"
import { Either, Schema } from "effect"
import * as Chain from "../src/Chain.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"

export const Raw = Schema.Struct({ sku: Schema.String, text: Schema.String })
export const Attr = Schema.Struct({ brand: Schema.String, model: Schema.String, price: Schema.Number })
export const Echo = Schema.Struct({ echo: Schema.String })

/** An engine that answers every structured request with `{ echo: <the prompt as "role: text" lines> }`. */
export const echo = ScriptedEngine.layer({ reply: (request) => ({ object: { echo: request.text } }) })

export const userOf = (echoed: unknown) => String((echoed as { echo: string }).echo)

export const errorOf = <A, E>(either: Either.Either<A, E>): E => {
  assert.isTrue(Either.isLeft(either), "expected a Left")
  return (either as Either.Left<E, A>).left
}

export const products = Chain.make({
  name: "products",
  steps: [
    Chain.llm({ id: "extract", input: Raw, output: Attr, engine: "llama3", prompt: "Describe {{text}}" }),
    [
      Chain.branch({
        name: "french",
        steps: [Chain.llm({ id: "to_fr", input: Attr, output: Attr, prompt: "FR {{brand}} {{model}}" })]
      }).as("fr"),
      Chain.branch({
        name: "spanish",
        steps: [Chain.llm({ id: "to_es", input: Attr, output: Attr, prompt: "ES {{brand}}" })]
      }).as("es")
    ],
    Chain.llm({
      id: "title",
      input: Attr,
      output: Echo,
      system: "Titles for {{chain_input.sku}}",
      prompt: "{{brand}} | fr={{fr.model}} | es={{es.brand}} | extract={{extract.price}}"
    }),
    Chain.apply("entry", (e: typeof Echo.Type, { id, vars }) => ({ id, title: e.echo, fr: vars.fr, es: vars.es }))
  ]
})

export const fixed = (brand: string) => ({ object: { brand, model: `${brand}-model`, price: 10 } })

/** Attributes derived from the prompt, the title step echoed. */
export const productEngine = ScriptedEngine.layer({
  reply: (request) =>
    request.text.includes("Titles for")
      ? { object: { echo: request.text } }
      : request.text.includes("FR ")
      ? fixed("fr-brand")
      : request.text.includes("ES ")
      ? fixed("es-brand")
      : fixed(request.text.includes("kettle") ? "Bosch" : "Sony")
})
