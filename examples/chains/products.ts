/**
 * Product attribute extraction with translation branches and a join (Chainette's `product_struct_extract`, in
 * sluice form).
 *
 * 1. `extract` turns a messy product description into typed attributes (`Attr`).
 * 2. Two branches run in parallel on those attributes: `to_fr` localises them to French, `to_es` to Spanish. Each
 *    branch is joined under an alias (`fr`, `es`), so later steps can read `{{fr.model}}`, `{{es.category}}`.
 * 3. `headline` writes a short multilingual listing title from the attributes and both translations.
 * 4. `catalogue` (a pure step) assembles the catalogue entry from everything above.
 *
 * Every LLM step names the engine `llama3`: with an `engines.yml` that defines it, it runs on that model; without
 * one it runs on the `LanguageModel` in context (the offline `dry-run` engine in the demo and the CLI).
 *
 *   npx tsx examples/chains/demo.ts                         # runs this chain over data/products.jsonl
 *   Runner.loadChain("examples/chains/products.ts:chain")  # how the CLI loads it
 */
import { Schema } from "effect"
import * as Chain from "sluice/Chain"

/** Incoming noisy e-commerce text. */
export const RawDesc = Schema.Struct({
  sku: Schema.String,
  text: Schema.String.annotations({ description: "messy product description" }),
  source: Schema.optional(Schema.String)
})

/** Clean, structured product attributes. */
export const Attr = Schema.Struct({
  brand: Schema.String,
  model: Schema.String,
  price_eur: Schema.Number,
  category: Schema.optional(Schema.String),
  features: Schema.optional(Schema.Array(Schema.String)),
  availability: Schema.optional(Schema.String)
})

/** A listing title in three languages. */
export const Headline = Schema.Struct({ en: Schema.String, fr: Schema.String, es: Schema.String })

const extract = Chain.llm({
  id: "extract",
  name: "Extract attributes",
  input: RawDesc,
  output: Attr,
  engine: "llama3",
  sampling: { temperature: 0 },
  system: "You are a specialised e-commerce data extraction system. Parse the product description to identify the " +
    "brand, the exact model and the price in euros; when possible also the category, key features and availability.",
  prompt: "Product description: {{text}}\nSource: {{source}}\n\nExtract all structured product information."
})

const localise = (id: string, language: string) =>
  Chain.llm({
    id,
    name: `${language} version`,
    input: Attr,
    output: Attr,
    engine: "llama3",
    sampling: { temperature: 0.3 },
    system: `You are a professional ${language} e-commerce localiser. Translate the product information to ` +
      `${language}, keeping brand names recognisable and the price unchanged.`,
    prompt: "- Brand: {{brand}}\n- Model: {{model}}\n- Price: {{price_eur}} EUR\n- Category: {{category}}\n" +
      "- Features: {{features}}\n- Availability: {{availability}}"
  })

const headline = Chain.llm({
  id: "headline",
  name: "Listing title",
  input: Attr,
  output: Headline,
  engine: "llama3",
  system: "Write a short, factual listing title (at most 60 characters) in English, French and Spanish.",
  prompt: "English: {{brand}} {{model}} ({{category}})\nFrench: {{fr.model}} ({{fr.category}})\n" +
    "Spanish: {{es.model}} ({{es.category}})\nSKU: {{chain_input.sku}}"
})

const catalogue = Chain.apply(
  "catalogue",
  (title: typeof Headline.Type, { vars }) => {
    const attr = vars.extract as typeof Attr.Encoded
    return {
      sku: (vars.chain_input as typeof RawDesc.Encoded).sku,
      brand: attr.brand,
      price_eur: attr.price_eur,
      title,
      fr: vars.fr,
      es: vars.es
    }
  },
  { name: "Catalogue entry" }
)

export const chain = Chain.make({
  name: "products",
  steps: [
    extract,
    [
      Chain.branch({ name: "french", steps: [localise("to_fr", "French")] }).as("fr"),
      Chain.branch({ name: "spanish", steps: [localise("to_es", "Spanish")] }).as("es")
    ],
    headline,
    catalogue
  ]
})
