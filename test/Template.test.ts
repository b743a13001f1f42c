import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Template from "../src/Template.js"
import * as TemplateError from "../src/TemplateError.js"

describe("Template", () => {
  it.effect("renders fields, dotted paths and array indexes", () =>
    Effect.sync(() => {
      const t = Template.make("Product: {{title}} by {{ brand.name }} ({{tags.1}})")
      assert.strictEqual(
        Template.render(t, { title: "Kettle", brand: { name: "Bosch" }, tags: ["home", "kitchen"] }),
        "Product: Kettle by Bosch (kitchen)"
      )
    }))

  it.effect("writes values as text: numbers, booleans, null, missing, dates, objects", () =>
    Effect.sync(() => {
      const t = Template.make("{{n}}|{{b}}|{{nil}}|{{missing}}|{{deep.missing.x}}|{{d}}|{{o}}|{{a}}")
      const out = Template.render(t, {
        n: 39.5,
        b: false,
        nil: null,
        d: new Date("2024-01-02T03:04:05.000Z"),
        o: { x: 1 },
        a: ["x", 2]
      })
      assert.strictEqual(out, `39.5|false||||2024-01-02T03:04:05.000Z|{"x":1}|["x",2]`)
    }))

  it.effect("lists the fields it reads once each, in order, and its references", () =>
    Effect.sync(() => {
      const t = Template.make("{{a}} {{b.c}} {{a}} {{ d }}")
      assert.deepStrictEqual(Template.fields(t), ["a", "b.c", "d"])
      assert.deepStrictEqual(Template.references(t).map((r) => [r.name, r.offset]), [
        ["a", 0],
        ["b.c", 6],
        ["a", 14],
        ["d", 20]
      ])
      assert.deepStrictEqual(Template.fields(Template.make("no placeholders")), [])
    }))

  it.effect("keeps literal text, and \\{{ writes a literal {{", () =>
    Effect.sync(() => {
      const t = Template.make("a \\{{x}} b {{y}} }} c")
      assert.strictEqual(Template.render(t, { x: 1, y: 2 }), "a {{x}} b 2 }} c")
      assert.deepStrictEqual(Template.fields(t), ["y"])
    }))

  it.effect("parse fails on malformed placeholders with the offset; make keeps them literally", () =>
    Effect.sync(() => {
      const cases: ReadonlyArray<readonly [string, number, string]> = [
        ["Hello {{name", 6, "unclosed {{"],
        ["a {{}} b", 2, "empty placeholder {{}}"],
        ["a {{ x y }}", 2, `invalid field path "x y"`],
        ["{{a..b}}", 0, `invalid field path "a..b"`]
      ]
      for (const [text, offset, description] of cases) {
        const parsed = Template.parse(text)
        assert.isTrue(Either.isLeft(parsed), text)
        if (Either.isLeft(parsed)) {
          assert.isTrue(TemplateError.isTemplateError(parsed.left))
          assert.strictEqual(parsed.left.reason, "Malformed")
          assert.strictEqual(parsed.left.offset, offset)
          assert.strictEqual(parsed.left.description, description)
          assert.isFalse(parsed.left.isRetryable)
          assert.include(parsed.left.message, `template at ${offset}`)
        }
      }
      assert.strictEqual(Template.render(Template.make("Hello {{name"), { name: "x" }), "Hello {{name")
      assert.strictEqual(Template.render(Template.make("a {{ x y }} {{z}}"), { z: 1 }), "a {{ x y }} 1")
    }))

  it.effect("parse succeeds on valid templates", () =>
    Effect.gen(function*() {
      const t = yield* Template.parse("{{chain_input.sku}}: {{fr.model}}")
      assert.isTrue(Template.isTemplate(t))
      assert.strictEqual(t.text, "{{chain_input.sku}}: {{fr.model}}")
      assert.strictEqual(Template.render(t, { chain_input: { sku: "S1" }, fr: { model: "M" } }), "S1: M")
    }))

  it.effect("lookup walks objects and arrays, undefined when a segment is missing", () =>
    Effect.sync(() => {
      assert.strictEqual(Template.lookup({ a: [{ b: 3 }] }, ["a", "0", "b"]), 3)
      assert.isUndefined(Template.lookup({ a: 1 }, ["a", "b"]))
      assert.isUndefined(Template.lookup(null, ["a"]))
      assert.deepStrictEqual(Template.lookup({ a: 1 }, []), { a: 1 })
    }))

  it.effect("renders a long template linearly", () =>
    Effect.sync(() => {
      const text = Array.from({ length: 2000 }, (_, i) => `f${i}={{f${i}}}`).join(" ")
      const vars = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`f${i}`, i]))
      const t = Template.make(text)
      assert.strictEqual(Template.fields(t).length, 2000)
      const out = Template.render(t, vars)
      assert.isTrue(out.startsWith("f0=0 f1=1"))
      assert.isTrue(out.endsWith("f1999=1999"))
    }))
})
