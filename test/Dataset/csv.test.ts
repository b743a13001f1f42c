import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Dataset from "../../src/Dataset.js"
import { collect, failure, rows, tempDir, trackedLayer, type Tracker, writeText } from "./helpers.js"

it.layer(NodeFileSystem.layer)("Dataset: CSV", (it) => {
  describe("CSV", () => {
    it.scoped("reads records by header with line numbers, quoted fields and malformed records", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(
          `${dir}/p.csv`,
          "sku,title,price\na1,Kettle,19.5\nb2,\"Toaster, 2 slots\",25\nc3,\"Lamp\nwith shade\",12\nd4,Chair\ne5,Desk,150,extra\n\nf6,Shelf,30\n"
        )
        const items = yield* collect(`${dir}/p.csv`, { key: "sku" })
        assert.deepStrictEqual(rows(items).map((r) => [r.id, r.index, r.line, r.data]), [
          ["a1", 0, 2, { sku: "a1", title: "Kettle", price: "19.5" }],
          ["b2", 1, 3, { sku: "b2", title: "Toaster, 2 slots", price: "25" }],
          ["c3", 2, 5, { sku: "c3", title: "Lamp\nwith shade", price: "12" }],
          ["f6", 5, 9, { sku: "f6", title: "Shelf", price: "30" }]
        ])
        const bad = items.filter(Dataset.isMalformed)
        assert.deepStrictEqual(bad.map((b) => [b.index, b.line, b.raw]), [[3, 6, "d4,Chair"], [
          4,
          7,
          "e5,Desk,150,extra"
        ]])
        assert.include(bad[0]!.message, "Invalid Record Length")
        assert.deepStrictEqual(items.map((i) => i.index), [0, 1, 2, 3, 4, 5])
      }))

    it.scoped("strict mode fails on the first malformed record", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/p.csv`, "a,b\n1,2\n3\n4,5\n")
        const { error, seen } = yield* failure(`${dir}/p.csv`, { strict: true })
        assert.deepStrictEqual(rows(seen).map((r) => r.data), [{ a: "1", b: "2" }])
        assert.strictEqual(error.reason, "Malformed")
        assert.strictEqual(error.line, 3)
        assert.strictEqual(error.raw, "3")
      }))

    it.scoped("limit stops the parser and closes the file", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/p.csv`, "n\n" + Array.from({ length: 20_000 }, (_, i) => String(i)).join("\n"))
        const tracker: Tracker = { opened: 0, closed: 0 }
        const items = yield* collect(`${dir}/p.csv`, { limit: 2, chunkSize: 1024 }).pipe(
          Effect.provide(trackedLayer(tracker, { streams: true }))
        )
        assert.deepStrictEqual(rows(items).map((r) => r.data), [{ n: "0" }, { n: "1" }])
        assert.strictEqual(tracker.opened, 1)
        assert.strictEqual(tracker.closed, 1)
      }))

    it.scoped("TSV, casting, column selection and unknown columns", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(`${dir}/p.tsv`, "id\tn\tok\tnote\nx\t1.5\ttrue\thi\ny\t2\tfalse\tthere\n")
        const items = yield* collect(`${dir}/p.tsv`, { cast: true, columns: ["n", "ok"], key: "id" })
        assert.deepStrictEqual(rows(items).map((r) => [r.id, r.data]), [["x", { n: 1.5, ok: true }], ["y", {
          n: 2,
          ok: false
        }]])
        const { error } = yield* failure(`${dir}/p.tsv`, { columns: ["n", "nope"] })
        assert.strictEqual(error.reason, "UnknownColumn")
        assert.include(error.message, "no column \"nope\" (columns: id, n, ok, note)")
      }))
  })
})
