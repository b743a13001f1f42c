/**
 * Multi-document summary with quality scoring (Chainette's `multi_doc_summary_eval`, in sluice form).
 *
 * 1. `summ` summarises each article in one or two sentences.
 * 2. `eval` scores the summary from 1 (poor) to 5 (excellent) against the original article
 *    (`{{chain_input.body}}`).
 * 3. `keep_good` (a pure step) keeps the summaries scored 3 or more; the others are recorded as filtered.
 *
 *   Runner.loadChain("examples/chains/summaries.ts:chain") over examples/chains/data/articles.jsonl (key: id)
 */
import { Schema } from "effect"
import * as Chain from "sluice/Chain"

export const Article = Schema.Struct({ id: Schema.String, title: Schema.String, body: Schema.String })

export const Summary = Schema.Struct({ summary: Schema.String })

export const Score = Schema.Struct({
  score: Schema.Int.pipe(Schema.between(1, 5)),
  reason: Schema.String
})

const summ = Chain.llm({
  id: "summ",
  name: "Summarise",
  input: Article,
  output: Summary,
  engine: "gemma",
  sampling: { temperature: 0.4, maxTokens: 200 },
  system: "Write a concise, factual summary (1-2 sentences).",
  prompt: "{{title}}\n\n{{body}}"
})

const evaluate = Chain.llm({
  id: "eval",
  name: "Judge",
  input: Summary,
  output: Score,
  engine: "gemma",
  sampling: { temperature: 0 },
  system: "Evaluate the summary's accuracy and completeness against the article on a scale of 1 (poor) to " +
    "5 (excellent), with a one-line reason.",
  prompt: "Article: {{chain_input.body}}\n\nSummary: {{summary}}"
})

const keepGood = Chain.apply(
  "keep_good",
  (score: typeof Score.Type, { vars }) =>
    score.score >= 3 ? { ...(vars.summ as typeof Summary.Type), score: score.score } : undefined,
  { name: "Keep good summaries" }
)

export const chain = Chain.make({ name: "summaries", steps: [summ, evaluate, keepGood] })
