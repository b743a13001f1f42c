import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as Graph from "../src/Graph.js"
import * as Node from "../src/Node.js"

interface State {
  readonly query: string
}

const work = Effect.void

const search = Graph.make<State>({ name: "search" }).step("vectors", { to: "rank" }, work).step("rank", work)

const rag = Graph.make<State>({ name: "rag" })
  .step("parse_query", { to: "embed_query" }, work)
  .step("embed_query", { to: ["search_web", "search_kb"] }, work)
  .step("search_web", { to: "build_context" }, Stream.make("web"))
  .step("search_kb", { to: "build_context" }, search)
  .step("build_context", { routes: ["generate", "clarify"] }, Effect.succeed(Graph.next("generate")))
  .step("clarify", { to: "parse_query" }, work)
  .step("generate", { to: "format" }, Stream.make("answer"))
  .step("format", work)
  .entry("parse_query")

const ragMermaid = `graph TD
  Start(["▶ Start"])
  n0["parse_query"]
  n1["embed_query"]
  n2(["search_web ⚡"])
  n3[["search_kb"]]
  n4["build_context"]
  n5["clarify"]
  n6(["generate ⚡"])
  n7["format"]
  End(["■ End"])
  Start --> n0
  n0 --> n1
  n1 --> n2
  n1 --> n3
  n2 --> n4
  n3 --> n4
  n4 -.-> n6
  n4 -.-> n5
  n5 --> n0
  n6 --> n7
  n7 --> End
  classDef streaming fill:#fff3e0,stroke:#f57c00,color:#e65100
  class n2,n6 streaming
  classDef nested fill:#f1f8e9,stroke:#558b2f,color:#33691e
  class n3 nested
`

const ragTree = `rag
└── parse_query
    └── embed_query
        ├── search_web ⚡
        │   └── build_context
        │       ├┄┄ generate ⚡
        │       │   └── format
        │       └┄┄ clarify
        │           └── parse_query (see above)
        └── search_kb [graph search]
            └── build_context (see above)
`

describe("Graph rendering", () => {
  it.effect("the drawn graph is valid", () => Effect.asVoid(Graph.validate(rag)))

  it("toMermaid: static edges solid, declared routes dashed, streaming and nested steps marked (golden)", () => {
    assert.strictEqual(Graph.toMermaid(rag), ragMermaid)
  })

  it("toTree: a plain-text tree from the entry, joins and cycles drawn once (golden)", () => {
    assert.strictEqual(Graph.toTree(rag), ragTree)
  })

  it("a linear graph, a node step and labels that need escaping (golden)", () => {
    const upper = Node.fromFunction("upper", (s: string) => s.toUpperCase())
    const graph = Graph.make<State>({ name: "small" })
      .step(`say "hi"`, { to: "shout" }, work)
      .step("shout", Graph.node(upper, { input: (s: State) => s.query }))
    assert.strictEqual(
      Graph.toMermaid(graph),
      `graph TD
  Start(["▶ Start"])
  n0["say #quot;hi#quot;"]
  n1[["shout"]]
  End(["■ End"])
  Start --> n0
  n0 --> n1
  n1 --> End
  classDef nested fill:#f1f8e9,stroke:#558b2f,color:#33691e
  class n1 nested
`
    )
    assert.strictEqual(Graph.toTree(graph), `small\n└── say "hi"\n    └── shout [node upper]\n`)
  })

  it("an invalid graph still renders: unknown targets are marked, steps outside the tree are listed", () => {
    const graph = Graph.make<State>({ name: "broken" })
      .step("a", { to: "ghost" as string }, work)
      .step("b", work)
    assert.strictEqual(
      Graph.toMermaid(graph),
      `graph TD
  Start(["▶ Start"])
  n0["a"]
  n1["b"]
  End(["■ End"])
  Start --> n0
  n0 --> missing_ghost
  n1 --> End
`
    )
    assert.strictEqual(Graph.toTree(graph), `broken\n└── a\n    └── ghost (unknown)\n└── b\n`)
  })
})
