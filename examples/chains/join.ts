/**
 * The pure-function join demo (Chainette's `inc_dec_join`, in sluice form): no model at all.
 *
 * Two branches run in parallel on each number, one incrementing it and one decrementing it, joined under the
 * aliases `inc` and `dec`; a last pure step reads both joined outputs from `vars`.
 *
 *   Runner.loadChain("examples/chains/join.ts:chain") over examples/chains/data/numbers.jsonl
 */
import { Schema } from "effect"
import * as Chain from "sluice/Chain"

export const Num = Schema.Struct({ value: Schema.Int })

export const Combined = Schema.Struct({ value: Schema.Int, inc: Schema.Int, dec: Schema.Int, product: Schema.Int })

const inc = Chain.apply("inc", (n: typeof Num.Type) => ({ value: n.value + 1 }), { input: Num, output: Num })

const dec = Chain.apply("dec", (n: typeof Num.Type) => ({ value: n.value - 1 }), { input: Num, output: Num })

const combine = Chain.apply(
  "combine",
  (n: typeof Num.Type, { vars }) => {
    const up = (vars.inc as typeof Num.Type).value
    const down = (vars.dec as typeof Num.Type).value
    return { value: n.value, inc: up, dec: down, product: up * down }
  },
  { input: Num, output: Combined }
)

export const chain = Chain.make({
  name: "inc_dec_join",
  steps: [
    [
      Chain.branch({ name: "inc_branch", steps: [inc] }).as("inc"),
      Chain.branch({ name: "dec_branch", steps: [dec] }).as("dec")
    ],
    combine
  ]
})
