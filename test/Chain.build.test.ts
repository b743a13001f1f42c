import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Chain from "../src/Chain.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"
import { Attr, Echo, echo, errorOf, products, Raw } from "./Chain.fixtures.js"

// ---------------------------------------------------------------------------
// building and checking
// ---------------------------------------------------------------------------

describe("Chain: building", () => {
  it.effect("a valid chain checks, lists its steps in order and types its input and output", () =>
    Effect.gen(function*() {
      const chain = yield* Chain.check(products)
      assert.deepStrictEqual(Chain.flatSteps(chain).map((s) => s.id), ["extract", "to_fr", "to_es", "title", "entry"])
      assert.isTrue(Chain.isChain(chain))
      assert.isFalse(Chain.isChain({ name: "x", steps: [] }))
      const typed: Chain.Chain<typeof Raw.Type, typeof Attr.Type> = Chain.make({
        name: "t",
        steps: [Chain.llm({ id: "a", input: Raw, output: Attr, prompt: "{{text}}" })]
      })
      assert.strictEqual(typed.name, "t")
    }))

  it.effect("an unknown template field is a ChainError naming the step and the field", () =>
    Effect.sync(() => {
      const bad = Chain.make({
        name: "c",
        steps: [
          Chain.llm({ id: "a", input: Raw, output: Attr, prompt: "ok {{text}}" }),
          Chain.llm({ id: "b", input: Attr, output: Attr, prompt: "{{brnd}}" })
        ]
      })
      const error = errorOf(Chain.check(bad))
      assert.strictEqual(error._tag, "ChainError")
      assert.strictEqual(error.reason, "UnknownField")
      assert.strictEqual(error.step, "b")
      assert.strictEqual(error.field, "brnd")
      assert.include(error.message, "c/b: UnknownField {{brnd}}")
      assert.include(error.description, "fields: brand, model, price")
      assert.include(error.description, "earlier steps and aliases: a")
      assert.isFalse(error.isRetryable)
    }))

  it.effect("fields of earlier steps, aliases and chain_input are checked against their schemas", () =>
    Effect.sync(() => {
      const make = (prompt: string, system?: string) =>
        Chain.make({
          name: "c",
          steps: [
            Chain.llm({ id: "a", input: Raw, output: Attr, prompt: "{{text}}" }),
            [
              Chain.branch({
                name: "x",
                steps: [Chain.llm({ id: "b", input: Attr, output: Echo, prompt: "{{brand}}" })]
              })
                .as("j")
            ],
            Chain.llm({ id: "c", input: Attr, output: Attr, prompt, ...(system ? { system } : {}) })
          ]
        })
      assert.isTrue(Either.isRight(Chain.check(make("{{a.brand}} {{j.echo}} {{chain_input.sku}} {{model}}"))))
      assert.strictEqual(errorOf(Chain.check(make("{{a.brnd}}"))).field, "a.brnd")
      assert.include(errorOf(Chain.check(make("{{a.brnd}}"))).description, `"a" has no field "brnd"`)
      assert.strictEqual(errorOf(Chain.check(make("{{j.nope}}"))).field, "j.nope")
      assert.strictEqual(errorOf(Chain.check(make("{{chain_input.nope}}"))).field, "chain_input.nope")
      // a branch step is only visible through its branch alias
      assert.strictEqual(errorOf(Chain.check(make("{{b.echo}}"))).field, "b.echo")
      // the system prompt is checked too
      const system = errorOf(Chain.check(make("{{brand}}", "You write about {{colour}}")))
      assert.strictEqual(system.field, "colour")
      assert.strictEqual(system.step, "c")
    }))

  it.effect("a later step or another branch is not in scope", () =>
    Effect.sync(() => {
      const bad = Chain.make({
        name: "c",
        steps: [
          [
            Chain.branch({ name: "x", steps: [Chain.llm({ id: "x1", input: Raw, output: Attr, prompt: "{{text}}" })] }),
            Chain.branch({
              name: "y",
              steps: [Chain.llm({ id: "y1", input: Raw, output: Attr, prompt: "{{x1.brand}}" })]
            })
          ]
        ]
      })
      const error = errorOf(Chain.check(bad))
      assert.strictEqual(error.step, "y1")
      assert.strictEqual(error.field, "x1.brand")
    }))

  it.effect("malformed templates, duplicate, invalid and reserved ids, empty chains", () =>
    Effect.sync(() => {
      const step = (id: string, prompt = "{{text}}") => Chain.llm({ id, input: Raw, output: Attr, prompt })
      const invalid = errorOf(Chain.check(Chain.make({ name: "c", steps: [step("a", "{{text")] })))
      assert.strictEqual(invalid.reason, "InvalidTemplate")
      assert.include(invalid.description, "unclosed {{")
      assert.strictEqual(
        errorOf(Chain.check(Chain.make({ name: "c", steps: [step("a"), step("a")] as ReadonlyArray<Chain.Step> })))
          .reason,
        "DuplicateId"
      )
      assert.strictEqual(errorOf(Chain.check(Chain.make({ name: "c", steps: [step("a.b")] }))).reason, "InvalidId")
      assert.strictEqual(errorOf(Chain.check(Chain.make({ name: "c", steps: [step("errors")] }))).reason, "InvalidId")
      const aliasClash = Chain.make({
        name: "c",
        steps: [step("a"), [
          Chain.branch({
            name: "b",
            steps: [Chain.llm({ id: "b1", input: Attr, output: Attr, prompt: "{{brand}}" })]
          }).as("a")
        ]]
      })
      assert.strictEqual(errorOf(Chain.check(aliasClash)).reason, "DuplicateId")
      assert.strictEqual(errorOf(Chain.check(Chain.make({ name: "c", steps: [] }))).reason, "Empty")
      assert.strictEqual(errorOf(Chain.check(Chain.make({ name: "c", steps: [[]] }))).reason, "Empty")
      assert.strictEqual(
        errorOf(Chain.check(Chain.make({ name: "c", steps: [[Chain.branch({ name: "e", steps: [] })]] }))).reason,
        "Empty"
      )
    }))

  it.effect("running an invalid chain fails with its ChainError before any item", () =>
    Effect.gen(function*() {
      const bad = Chain.make({
        name: "c",
        steps: [Chain.llm({ id: "a", input: Raw, output: Attr, prompt: "{{nope}}" })]
      })
      const error = yield* Effect.flip(Chain.run(bad, [{ sku: "1", text: "x" }]))
      assert.strictEqual(error.reason, "UnknownField")
      const requests = yield* ScriptedEngine.requests
      assert.strictEqual(requests.length, 0)
    }).pipe(Effect.provide(echo)))
})
