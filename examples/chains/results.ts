/**
 * Prints a few result rows of a chain run (its input → the last step's output) and where the full output is:
 * the end of `npm run demo`.
 *
 *   npx tsx examples/chains/results.ts out/demo [rows]
 */
import * as fs from "node:fs"
import * as path from "node:path"

const [folder = "out/demo", count = "3"] = process.argv.slice(2)
const flattened = path.join(folder, "flattened")
const files = fs.readdirSync(flattened).filter((file) => file.endsWith(".jsonl")).sort()
const rows = files.flatMap((file) =>
  fs.readFileSync(path.join(flattened, file), "utf8").split("\n").filter((line) => line.trim() !== "")
).map((line) => JSON.parse(line) as Record<string, unknown>)

const clip = (text: string, width: number) => text.length <= width ? text : `${text.slice(0, width - 1)}…`
const fieldsOf = (row: Record<string, unknown>, prefix: string) =>
  Object.fromEntries(
    Object.entries(row).filter(([key]) => key.startsWith(`${prefix}.`)).map(([key, value]) => [
      key.slice(prefix.length + 1),
      value
    ])
  )

const shown = rows.slice(0, Number(count))
const last = (row: Record<string, unknown>) =>
  Object.keys(row).filter((key) => key.includes(".") && !key.startsWith("chain_input.")).at(-1)?.split(".")[0]
console.log(`\n${shown.length} of ${rows.length} results (input → final output):`)
for (const row of shown) {
  const input = Object.values(fieldsOf(row, "chain_input")).filter((v) =>
    typeof v === "string"
  ).sort((a, b) => b.length - a.length)[0] ?? ""
  const step = last(row)
  const output = step === undefined ? "(no output)" : `${step}: ${JSON.stringify(fieldsOf(row, step))}`
  console.log(`  ${String(row._id)}  ${clip(JSON.stringify(input), 60)}\n    → ${clip(output, 110)}`)
}
console.log(
  `\nAll rows, every step's fields side by side: ${flattened}/; each step's own output: ${folder}/<step>/; ` +
    `failed items: ${folder}/errors/; run figures: ${folder}/metrics.json`
)
