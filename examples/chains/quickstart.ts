/**
 * Chainette's quick start, in sluice form: a question-answering step with typed input and output, as a chain, and
 * the same chain with a pure step that keeps the confident answers (Chainette's `apply(filter_low_confidence)`).
 *
 * The step names the engine `llama3`: with an `engines.yml` that defines it, it runs on that model; without one it
 * runs on the `LanguageModel` in context (the offline `dry-run` engine in the CLI).
 *
 *   sluice run examples/chains/quickstart.ts:chain -i examples/chains/data/questions.jsonl -o out/qa
 *   sluice run examples/chains/quickstart.ts:confident -i examples/chains/data/questions.jsonl -o out/qa-confident
 */
import { Schema } from "effect"
import * as Chain from "sluice/Chain"

/** 2. The input and output schemas. */
export const Question = Schema.Struct({ text: Schema.String })

export const Answer = Schema.Struct({
  answer: Schema.String,
  confidence: Schema.Number.pipe(Schema.between(0, 1))
})

/** 3. A step: one LLM call per question, its reply decoded with `Answer` (guided by its JSON Schema). */
export const qa = Chain.llm({
  id: "qa",
  name: "Question Answering",
  input: Question,
  output: Answer,
  engine: "llama3",
  sampling: { temperature: 0.2 },
  system: "Answer questions accurately and concisely.",
  prompt: "Question: {{text}}"
})

/** 4. A chain. */
export const chain = Chain.make({ name: "Simple QA", steps: [qa] })

/** A pure batch step after it: the answers more confident than 0.7 go on, the others are recorded as filtered. */
export const confident = Chain.make({
  name: "QA with filtering",
  steps: [
    qa,
    Chain.apply(
      "filter_low_confidence",
      (answers: ReadonlyArray<typeof Answer.Type>) => answers.filter((answer) => answer.confidence > 0.7),
      { batch: true, input: Answer, output: Answer }
    )
  ]
})
