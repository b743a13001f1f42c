import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Chain from "../src/Chain.js"
import { Attr, products, Raw } from "./Chain.fixtures.js"

// ---------------------------------------------------------------------------
// rendering and description
// ---------------------------------------------------------------------------

describe("Chain: rendering", () => {
  it.effect("toTree draws steps, parallel branches and joins", () =>
    Effect.sync(() => {
      assert.strictEqual(
        Chain.toTree(products),
        `products
├── extract [llm · llama3]
├── parallel
│   ├── french ⇒ {{fr}}
│   │   └── to_fr [llm]
│   └── spanish ⇒ {{es}}
│       └── to_es [llm]
├── title [llm]
└── entry [apply]
`
      )
    }))

  it.effect("toMermaid draws branches as subgraphs and pure steps as hexagons", () =>
    Effect.sync(() => {
      assert.strictEqual(
        Chain.toMermaid(products),
        `graph TD
  start(["▶ products"])
  s_extract["extract · llama3"]
  subgraph b0_french["french ⇒ {{fr}}"]
    s_to_fr["to_fr"]
  end
  subgraph b1_spanish["spanish ⇒ {{es}}"]
    s_to_es["to_es"]
  end
  s_title["title"]
  s_entry{{"entry"}}
  done(["■ end"])
  start --> s_extract
  s_extract --> s_to_fr
  s_extract --> s_to_es
  s_to_fr --> s_title
  s_to_es --> s_title
  s_title --> s_entry
  s_entry --> done
  classDef pure fill:#f1f8e9,stroke:#558b2f,color:#33691e
  class s_entry pure
`
      )
    }))

  it.effect("toGraphJson gives JSON with schemas, fields, dependencies and hashes", () =>
    Effect.sync(() => {
      const d = Chain.toGraphJson(products)
      assert.strictEqual(d.name, "products")
      const extract = d.steps[0] as Extract<Chain.GraphJsonStep, { kind: "llm" }>
      assert.strictEqual(extract.kind, "llm")
      assert.strictEqual(extract.engine, "llama3")
      assert.deepStrictEqual(extract.fields, ["text"])
      assert.deepStrictEqual((extract.input as { required: Array<string> }).required, ["sku", "text"])
      const parallel = d.steps[1] as Extract<Chain.GraphJsonStep, { kind: "parallel" }>
      assert.deepStrictEqual(parallel.branches.map((b) => [b.name, b.alias]), [["french", "fr"], ["spanish", "es"]])
      const title = d.steps[2] as Extract<Chain.GraphJsonStep, { kind: "llm" }>
      assert.deepStrictEqual([...title.dependsOn].sort(), ["extract", "to_es", "to_fr"])
      assert.deepStrictEqual(Object.keys(d.hashes), ["extract", "to_fr", "to_es", "title", "entry"])
      assert.isTrue(Object.values(d.hashes).every((h) => /^[0-9a-f]{28}$/.test(h)))
      assert.doesNotThrow(() => JSON.stringify(d))
    }))

  it.effect("a pure step's hash follows its code, not its formatting, or its version", () =>
    Effect.sync(() => {
      const hashOf = (fn: (x: unknown) => unknown, version?: string) =>
        Chain.toGraphJson(
          Chain.make({ name: "c", steps: [Chain.apply("f", fn, version === undefined ? {} : { version })] })
        ).hashes.f

      const a = new Function("x", "return { y: x }") as (x: unknown) => unknown

      const b = new Function("x", "return {\n    y: x,\n  };") as (x: unknown) => unknown

      const c = new Function("x", "return { z: x }") as (x: unknown) => unknown
      assert.strictEqual(hashOf(a), hashOf(b))
      assert.notStrictEqual(hashOf(a), hashOf(c))
      assert.strictEqual(hashOf(a, "1"), hashOf(c, "1"))
      assert.notStrictEqual(hashOf(a, "1"), hashOf(a, "2"))
    }))

  it.effect("a changed prompt changes the hash of its step and the steps that depend on it only", () =>
    Effect.sync(() => {
      const build = (fr: string, es: string) =>
        Chain.make({
          name: "c",
          steps: [
            Chain.llm({ id: "a", input: Raw, output: Attr, prompt: "{{text}}" }),
            [
              Chain.branch({ name: "f", steps: [Chain.llm({ id: "fr", input: Attr, output: Attr, prompt: fr })] }).as(
                "f"
              ),
              Chain.branch({ name: "e", steps: [Chain.llm({ id: "es", input: Attr, output: Attr, prompt: es })] }).as(
                "e"
              )
            ],
            Chain.llm({ id: "z", input: Attr, output: Attr, prompt: "{{f.brand}}" })
          ]
        })
      const before = Chain.toGraphJson(build("FR {{brand}}", "ES {{brand}}")).hashes
      const after = Chain.toGraphJson(build("FR! {{brand}}", "ES {{brand}}")).hashes
      assert.strictEqual(before.a, after.a)
      assert.strictEqual(before.es, after.es)
      assert.notStrictEqual(before.fr, after.fr)
      assert.notStrictEqual(before.z, after.z)
      const esOnly = Chain.toGraphJson(build("FR {{brand}}", "ES! {{brand}}")).hashes
      assert.strictEqual(before.z, esOnly.z, "z reads only the f alias")
      const engine = Chain.toGraphJson(build("FR {{brand}}", "ES {{brand}}"), { engines: { a: "other" } }).hashes
      assert.notStrictEqual(before.a, engine.a)
      assert.notStrictEqual(before.z, engine.z)
    }))
})
