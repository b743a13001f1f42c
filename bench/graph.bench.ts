/**
 * Graph overheads: the cost per step of running a graph (events streamed to the consumer, state through the state
 * service, routing, the barrier) against a hand-written Effect sequence doing the same work, in the same process.
 */
import { Effect, Ref, Stream } from "effect"
import * as Graph from "../src/Graph.js"
import * as Node from "../src/Node.js"
import type { Suite } from "./harness.js"

interface State {
  readonly count: number
}

const LINEAR = 1_000
const FAN = 100
const TOKENS = 20_000

// -----------------------------------------------------------------------------
// 1,000-step linear graph
// -----------------------------------------------------------------------------

const linear = (() => {
  const base = Graph.make<State>({ name: "linear", maxSteps: LINEAR })
  const bump = Effect.flatMap(base.state, (state) => state.update((s) => ({ count: s.count + 1 })))
  let graph: Graph.Graph<State, void, string, string> = base
  for (let i = 0; i < LINEAR; i++) {
    graph = i < LINEAR - 1 ? graph.step(`s${i}`, { to: `s${i + 1}` }, bump) : graph.step(`s${i}`, bump)
  }
  return graph
})()

const linearBaseline = Effect.gen(function*() {
  const ref = yield* Ref.make<State>({ count: 0 })
  const bump = Ref.update(ref, (s) => ({ count: s.count + 1 }))
  for (let i = 0; i < LINEAR; i++) yield* bump
  return yield* Ref.get(ref)
})

const check = (expected: number) => (state: State) => {
  if (state.count !== expected) throw new Error(`expected ${expected} steps, counted ${state.count}`)
}

const REPEAT = 10

const repeat = <A, E>(effect: Effect.Effect<A, E>, verify: (a: A) => void) =>
  Effect.runPromise(Effect.repeatN(Effect.map(effect, verify), REPEAT - 1))

const linearSuite: Suite = {
  name: "Graph: 1,000-step linear graph",
  description:
    `${LINEAR.toLocaleString()} steps in a chain, each updating the state once, run ${REPEAT} times; per-step cost`,
  units: { count: LINEAR * REPEAT, label: "step" },
  rounds: 5,
  variants: [
    {
      name: "hand-written Effect sequence (floor)",
      run: () => repeat(linearBaseline, check(LINEAR))
    },
    {
      name: "Graph.run",
      baseline: "hand-written Effect sequence (floor)",
      run: () => repeat(Graph.run(linear, { count: 0 }), check(LINEAR))
    },
    {
      name: "Graph.stream → runDrain",
      baseline: "hand-written Effect sequence (floor)",
      run: () => repeat(Stream.runDrain(Graph.stream(linear, { count: 0 })), () => {})
    }
  ]
}

// -----------------------------------------------------------------------------
// 100-way fan-out with barrier
// -----------------------------------------------------------------------------

const fanOut = (concurrency: number) => {
  const base = Graph.make<State>({ name: "fan", concurrency })
  const bump = Effect.flatMap(base.state, (state) => state.update((s) => ({ count: s.count + 1 })))
  const names = Array.from({ length: FAN }, (_, i) => `b${i}`)
  let graph: Graph.Graph<State, void, string, string> = base.step("start", { to: names }, bump)
  for (const name of names) graph = graph.step(name, { to: "join" }, bump)
  return graph.step("join", bump)
}

const fanBaseline = (concurrency: number) =>
  Effect.gen(function*() {
    const ref = yield* Ref.make<State>({ count: 0 })
    const bump = Ref.update(ref, (s) => ({ count: s.count + 1 }))
    yield* bump
    yield* Effect.forEach(Array.from({ length: FAN }), () => bump, { concurrency, discard: true })
    yield* bump
    return yield* Ref.get(ref)
  })

const fan16 = fanOut(16)
const fan100 = fanOut(100)

const fanSuite: Suite = {
  name: "Graph: 100-way fan-out with barrier",
  description: `start → ${FAN} branches → join (${FAN + 2} steps), run ${REPEAT} times; per-step cost`,
  units: { count: (FAN + 2) * REPEAT, label: "step" },
  rounds: 5,
  variants: [
    {
      name: "Effect.forEach c=16 (floor)",
      run: () => repeat(fanBaseline(16), check(FAN + 2))
    },
    {
      name: "Graph.run c=16",
      baseline: "Effect.forEach c=16 (floor)",
      run: () =>
        Effect.runPromise(Effect.repeatN(Effect.map(Graph.run(fan16, { count: 0 }), check(FAN + 2)), REPEAT - 1))
    },
    {
      name: "Effect.forEach c=100",
      baseline: "Effect.forEach c=16 (floor)",
      run: () => repeat(fanBaseline(100), check(FAN + 2))
    },
    {
      name: "Graph.run c=100",
      baseline: "Effect.forEach c=100",
      run: () => repeat(Graph.run(fan100, { count: 0 }), check(FAN + 2))
    }
  ]
}

// -----------------------------------------------------------------------------
// token-streaming step
// -----------------------------------------------------------------------------

const tokens = Array.from({ length: TOKENS }, (_, i) => `t${i % 10} `)
const upstream = () => Stream.fromIterable(tokens).pipe(Stream.rechunk(64))
const tokenGraph = Graph.make<State>({ name: "tokens" }).step("say", upstream())
const tokenNode = Node.fromStream("say", (_: void) => upstream())

const tokenSuite: Suite = {
  name: "Graph: token-streaming step",
  description: `one step streaming ${TOKENS.toLocaleString()} tokens (64 per chunk), collected as text; per-token cost`,
  units: { count: TOKENS, label: "token" },
  variants: [
    {
      name: "Node.fromStream → collectText (floor)",
      run: () => Effect.runPromise(Node.collectText(Node.stream(tokenNode, undefined)))
    },
    {
      name: "Graph step → collectText",
      baseline: "Node.fromStream → collectText (floor)",
      run: () => Effect.runPromise(Node.collectText(Graph.stream(tokenGraph, { count: 0 })))
    }
  ]
}

export default [linearSuite, fanSuite, tokenSuite]
