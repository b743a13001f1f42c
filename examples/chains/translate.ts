/**
 * Chainette's branch join, in sluice form ("Translate & Summarise"): two branches translate each text in parallel,
 * each joined under an alias (`fr`, `es`), and a last step reads both joined outputs in its prompt
 * (`{{fr.translated}}`, `{{es.translated}}`). A step after parallel branches gets the input the branches got (here
 * the chain's input); the branches' outputs come through their aliases.
 *
 *   sluice run examples/chains/translate.ts:chain -i examples/chains/data/articles.jsonl -o out/translate --key id
 */
import { Schema } from "effect"
import * as Chain from "sluice/Chain"

export const Text = Schema.Struct({ id: Schema.String, title: Schema.String, body: Schema.String })

export const Translation = Schema.Struct({ language: Schema.String, translated: Schema.String })

export const Summary = Schema.Struct({ summary: Schema.String, agreement: Schema.Number.pipe(Schema.between(0, 1)) })

const translate = (id: string, language: string) =>
  Chain.llm({
    id,
    name: `Translate to ${language}`,
    input: Text,
    output: Translation,
    engine: "llama3",
    sampling: { temperature: 0 },
    system: `Translate the text to ${language}; set language to "${language}".`,
    prompt: "{{title}}\n\n{{body}}"
  })

const agg = Chain.llm({
  id: "agg",
  name: "Summarise both translations",
  input: Text,
  output: Summary,
  engine: "llama3",
  sampling: { temperature: 0 },
  system: "Summarise both translations in English, and say how well they agree (0 to 1).",
  prompt: "FR: {{fr.translated}}\nES: {{es.translated}}"
})

export const chain = Chain.make({
  name: "Translate & Summarise",
  steps: [
    [
      Chain.branch({ name: "fr", steps: [translate("translate_french", "French")] }).as("fr"),
      Chain.branch({ name: "es", steps: [translate("translate_spanish", "Spanish")] }).as("es")
    ],
    agg
  ]
})
