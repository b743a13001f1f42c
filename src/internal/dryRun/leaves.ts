/**
 * The leaves of dry-run values: strings and numbers that look like data. A field's name (and its description or
 * title) picks a kind (`brand`, `email`, `price`, `confidence`, …); the kind and the field's constraints (length,
 * pattern, format, bounds, integer, multiple) give a generator, built once per field.
 *
 * @internal
 */
import * as Option from "effect/Option"
import * as Pattern from "./pattern.js"

/** A deterministic source of floats in [0, 1). */
export type Random = () => number

/** A generator of one leaf value, or `undefined` when the constraints are beyond it. */
export type Leaf<A> = (random: Random) => A

/** The constraints of a leaf, in JSON Schema's words (Effect's filters annotate the same keys). */
export interface Constraints {
  readonly minLength?: number | undefined
  readonly maxLength?: number | undefined
  readonly pattern?: string | undefined
  readonly format?: string | undefined
  readonly minimum?: number | undefined
  readonly maximum?: number | undefined
  readonly exclusiveMinimum?: number | undefined
  readonly exclusiveMaximum?: number | undefined
  readonly multipleOf?: number | undefined
  readonly integer?: boolean | undefined
}

/** Reads the constraint keys of a JSON Schema (or of a filter's `jsonSchema` annotation) into `into`. */
export const readConstraints = (from: Readonly<Record<string, unknown>>, into: Record<string, unknown>): void => {
  for (const key of numberKeys) {
    const value = from[key]
    if (typeof value !== "number") continue
    const previous = into[key] as number | undefined
    into[key] = previous === undefined
      ? value
      : key.startsWith("min") || key === "exclusiveMinimum"
      ? Math.max(previous, value)
      : key.startsWith("max") || key === "exclusiveMaximum"
      ? Math.min(previous, value)
      : value
  }
  if (typeof from.pattern === "string") into.pattern = from.pattern
  if (typeof from.format === "string") into.format = from.format
  if (from.type === "integer") into.integer = true
}

const numberKeys = [
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "minItems",
  "maxItems"
] as const

// =============================================================================
// kinds
// =============================================================================

type Kind =
  | "email"
  | "url"
  | "phone"
  | "uuid"
  | "datetime"
  | "date"
  | "time"
  | "code"
  | "id"
  | "brand"
  | "product"
  | "city"
  | "country"
  | "address"
  | "zip"
  | "currency"
  | "language"
  | "color"
  | "person"
  | "title"
  | "question"
  | "text"
  | "category"
  | "feature"
  | "sentiment"
  | "status"
  | "unit"
  | "word"

const kindWords: ReadonlyArray<readonly [Kind, ReadonlyArray<string>]> = [
  ["email", ["email", "mail", "e-mail"]],
  ["url", ["url", "uri", "link", "href", "website", "homepage", "site", "image", "avatar"]],
  ["phone", ["phone", "telephone", "mobile", "tel", "fax"]],
  ["uuid", ["uuid", "guid"]],
  ["datetime", ["timestamp", "datetime", "created", "updated", "modified", "published", "at"]],
  ["date", ["date", "birthday", "dob", "deadline", "due"]],
  ["time", ["time"]],
  ["code", ["sku", "code", "isbn", "ean", "gtin", "barcode", "ref", "reference", "serial"]],
  ["id", ["id", "key", "slug", "handle", "username", "login"]],
  ["brand", ["brand", "company", "manufacturer", "maker", "vendor", "publisher", "organisation", "organization"]],
  ["product", ["product", "model", "item", "device", "article"]],
  ["city", ["city", "town", "place", "location", "destination", "origin"]],
  ["country", ["country", "nation", "region"]],
  ["address", ["address", "street", "road"]],
  ["zip", ["zip", "postcode", "postal", "zipcode"]],
  ["currency", ["currency"]],
  ["language", ["language", "lang", "locale"]],
  ["color", ["color", "colour"]],
  [
    "person",
    ["name", "author", "person", "first", "last", "surname", "user", "customer", "owner", "contact", "speaker"]
  ],
  ["title", ["title", "headline", "subject", "heading", "caption", "label", "en", "fr", "es", "de", "it"]],
  ["question", ["question", "query", "prompt"]],
  [
    "text",
    [
      "description",
      "summary",
      "text",
      "content",
      "body",
      "comment",
      "review",
      "message",
      "answer",
      "reason",
      "reasoning",
      "explanation",
      "note",
      "notes",
      "rationale",
      "abstract",
      "translation",
      "translated",
      "response",
      "output",
      "feedback",
      "bio",
      "details"
    ]
  ],
  ["category", ["category", "tag", "topic", "keyword", "genre", "type", "kind", "class", "section", "department"]],
  ["feature", ["feature", "highlight", "benefit", "spec", "specification", "attribute", "pro", "con"]],
  ["sentiment", ["sentiment", "mood", "tone", "polarity"]],
  ["status", ["status", "state", "availability", "stock", "condition", "stage", "priority", "level"]],
  ["unit", ["unit", "units", "uom"]]
]

/** Splits a field name into lower-case words (`price_eur`, `firstName`, `e-mail` → their parts). */
export const words = (text: string): ReadonlyArray<string> =>
  text
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word !== "")

const singular = (word: string): string =>
  word.length > 3 && word.endsWith("ies")
    ? `${word.slice(0, -3)}y`
    : word.length > 3 && word.endsWith("s") && !word.endsWith("ss")
    ? word.slice(0, -1)
    : word

const kindOfWords = (list: ReadonlyArray<string>): Kind | undefined => {
  const all = new Set(list.flatMap((word) => [word, singular(word)]))
  for (const [kind, keys] of kindWords) if (keys.some((key) => all.has(key))) return kind
  return undefined
}

/**
 * A field's hint: its name, and the words of its description or title. The name decides first (its last word
 * first: `brand_name` is a brand, `user_email` an email), then the description.
 */
export interface Hint {
  readonly name: string
  readonly text: string
}

// words that name a field without saying what it holds: `brand_name` is a brand, `name` alone a person
const weak = new Set(["name", "value", "text", "label", "type"])

const stringKind = (hint: Hint): Kind => {
  const name = words(hint.name)
  for (const strong of [true, false]) {
    for (let i = name.length - 1; i >= 0; i--) {
      if (strong && weak.has(name[i]!)) continue
      const kind = kindOfWords([name[i]!])
      if (kind !== undefined) return kind
    }
  }
  return kindOfWords(words(hint.text)) ?? "word"
}

// =============================================================================
// strings
// =============================================================================

const pick = <A>(random: Random, list: ReadonlyArray<A>): A => list[Math.floor(random() * list.length)]!

const between = (random: Random, lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1))

const FIRST = [
  "Maria",
  "Jonas",
  "Amira",
  "Lucas",
  "Sofia",
  "Noah",
  "Elena",
  "Omar",
  "Ines",
  "Hugo",
  "Clara",
  "Kenji",
  "Nadia",
  "Felix",
  "Lea",
  "Marco"
]
const LAST = [
  "Rossi",
  "Berg",
  "Haddad",
  "Martin",
  "Novak",
  "Silva",
  "Dubois",
  "Tanaka",
  "Keller",
  "Moreau",
  "Costa",
  "Larsen",
  "Weber",
  "Garcia",
  "Ito",
  "Meyer"
]
const BRANDS = [
  "Northwind",
  "Lumen",
  "Acme",
  "Brightline",
  "Solvik",
  "Orbis",
  "Tessel",
  "Kestrel",
  "Vantage",
  "Alder",
  "Corvo",
  "Halden",
  "Mistral",
  "Quill",
  "Rivet",
  "Zephyr"
]
const MODELS = ["Aero", "Nova", "Pulse", "Vista", "Core", "Edge", "Flex", "Prime", "Echo", "Volt", "Atlas", "Luma"]
const CITIES = [
  "Lisbon",
  "Lyon",
  "Oslo",
  "Porto",
  "Kyoto",
  "Austin",
  "Ghent",
  "Turin",
  "Malmo",
  "Leeds",
  "Quebec",
  "Seville",
  "Bergen",
  "Graz",
  "Cork",
  "Utrecht"
]
const COUNTRIES = ["France", "Spain", "Norway", "Japan", "Canada", "Portugal", "Italy", "Germany", "Ireland", "Chile"]
const STREETS = ["Mill Street", "River Road", "Station Avenue", "Harbour Lane", "Oak Drive", "Market Square"]
const CURRENCIES = ["EUR", "USD", "GBP", "JPY", "CHF", "CAD"]
const LANGUAGES = ["English", "French", "Spanish", "German", "Italian", "Portuguese", "Japanese", "Dutch"]
const COLORS = ["black", "white", "silver", "blue", "red", "green", "graphite", "sand", "teal", "gold"]
const CATEGORIES = [
  "electronics",
  "kitchen",
  "garden",
  "books",
  "sports",
  "office",
  "toys",
  "travel",
  "home",
  "music",
  "health",
  "outdoor"
]
const FEATURES = [
  "long battery life",
  "water resistant",
  "fast charging",
  "stainless steel",
  "lightweight design",
  "quiet motor",
  "two-year warranty",
  "energy efficient",
  "compact size",
  "wireless",
  "easy to clean",
  "adjustable height"
]
const SENTIMENTS = ["positive", "negative", "neutral", "mixed"]
const STATUSES = ["in stock", "available", "pending", "active", "shipped", "limited", "on order", "complete"]
const UNITS = ["kg", "g", "cm", "m", "l", "ml", "pcs", "W"]
const ADJECTIVES = [
  "compact",
  "quiet",
  "bright",
  "sturdy",
  "smart",
  "classic",
  "portable",
  "modern",
  "essential",
  "premium",
  "simple",
  "steady",
  "clear",
  "fresh",
  "handy",
  "solid"
]
const NOUNS = [
  "kettle",
  "lamp",
  "speaker",
  "backpack",
  "guide",
  "chair",
  "camera",
  "report",
  "garden",
  "journey",
  "phone",
  "bottle",
  "river",
  "desk",
  "watch",
  "bicycle"
]
const VERBS = ["keeps", "makes", "brings", "offers", "gives", "holds", "turns", "helps", "shows", "fits"]
const QUESTION_STARTS = ["How does", "Why does", "What makes", "Where does", "When does"]
const WORDS = [...ADJECTIVES, ...NOUNS, "value", "result", "flow", "signal", "sample", "entry", "record", "batch"]

const capitalise = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1)

const hex = (random: Random, n: number): string => {
  let out = ""
  for (let i = 0; i < n; i++) out += "0123456789abcdef"[Math.floor(random() * 16)]
  return out
}

const pad2 = (n: number): string => String(n).padStart(2, "0")

const date = (random: Random): string =>
  `${between(random, 2019, 2026)}-${pad2(between(random, 1, 12))}-${pad2(between(random, 1, 28))}`
const time = (random: Random): string => `${pad2(between(random, 7, 21))}:${pad2(between(random, 0, 11) * 5)}:00`

const sentence = (random: Random): string => {
  const body = [
    "the",
    pick(random, ADJECTIVES),
    pick(random, NOUNS),
    pick(random, VERBS)
  ]
  const adjective = pick(random, ADJECTIVES)
  body.push(
    /^[aeiou]/.test(adjective) ? "an" : "a",
    adjective,
    pick(random, NOUNS),
    "every",
    pick(random, ["day", "week", "morning", "season", "trip"])
  )
  return `${capitalise(body.join(" "))}.`
}

const person = (random: Random): string => `${pick(random, FIRST)} ${pick(random, LAST)}`

const email = (random: Random): string =>
  `${pick(random, FIRST).toLowerCase()}.${pick(random, LAST).toLowerCase()}@example.com`

const url = (random: Random): string => `https://example.com/${pick(random, CATEGORIES)}/${pick(random, NOUNS)}`

const uuid = (random: Random): string =>
  `${hex(random, 8)}-${hex(random, 4)}-4${hex(random, 3)}-${pick(random, ["8", "9", "a", "b"])}${hex(random, 3)}-${
    hex(random, 12)
  }`

const byKind: Record<Kind, Leaf<string>> = {
  email,
  url,
  phone: (random) => `+1 555 01${pad2(between(random, 0, 99))}`,
  uuid,
  datetime: (random) => `${date(random)}T${time(random)}Z`,
  date,
  time,
  code: (random) => `${pick(random, ["A", "B", "K", "P", "X"])}-${between(random, 1000, 9999)}`,
  id: (random) => hex(random, 8),
  brand: (random) => pick(random, BRANDS),
  product: (random) => `${pick(random, MODELS)} ${between(random, 1, 9) * 100}`,
  city: (random) => pick(random, CITIES),
  country: (random) => pick(random, COUNTRIES),
  address: (random) => `${between(random, 1, 120)} ${pick(random, STREETS)}`,
  zip: (random) => String(between(random, 10000, 99999)),
  currency: (random) => pick(random, CURRENCIES),
  language: (random) => pick(random, LANGUAGES),
  color: (random) => pick(random, COLORS),
  person,
  title: (random) => {
    const first = Math.floor(random() * ADJECTIVES.length)
    const second = (first + 1 + Math.floor(random() * (ADJECTIVES.length - 1))) % ADJECTIVES.length
    return `${capitalise(ADJECTIVES[first]!)} ${ADJECTIVES[second]} ${pick(random, NOUNS)}`
  },
  question: (random) => `${pick(random, QUESTION_STARTS)} the ${pick(random, NOUNS)} ${pick(random, VERBS)} work?`,
  text: sentence,
  category: (random) => pick(random, CATEGORIES),
  feature: (random) => pick(random, FEATURES),
  sentiment: (random) => pick(random, SENTIMENTS),
  status: (random) => pick(random, STATUSES),
  unit: (random) => pick(random, UNITS),
  word: (random) => `${pick(random, ADJECTIVES)} ${pick(random, WORDS)}`
}

const byFormat: Record<string, Leaf<string>> = {
  email,
  "idn-email": email,
  uri: url,
  url,
  "uri-reference": url,
  iri: url,
  uuid,
  date,
  time: (random) => `${time(random)}Z`,
  "date-time": byKind.datetime,
  hostname: (random) => `${pick(random, NOUNS)}.example.com`,
  ipv4: (random) => `192.0.2.${between(random, 1, 254)}`,
  ipv6: (random) => `2001:db8::${hex(random, 4)}`
}

// Grows or cuts a text to fit [min, max] characters, ending on a word where possible.
const fit = (text: string, min: number, max: number, random: Random): string => {
  let out = text
  while (out.length < min) out += ` ${pick(random, WORDS)}`
  if (out.length > max) {
    out = out.slice(0, max)
    const trimmed = out.trimEnd()
    out = trimmed.length >= min ? trimmed : out.replace(/\s$/, "x")
  }
  return out
}

/**
 * A generator of strings for a field, or `undefined` when its pattern is beyond the small regular expression
 * generator (the caller then falls back to another one).
 */
export const string = (hint: Hint, constraints: Constraints): Leaf<string> | undefined => {
  const min = constraints.minLength ?? 0
  const max = constraints.maxLength ?? Infinity
  if (min > max) return undefined
  const format = constraints.format === undefined ? undefined : byFormat[constraints.format]
  const base = format ?? byKind[stringKind(hint)]
  const sized = min === 0 && max === Infinity ? base : (random: Random) => fit(base(random), min, max, random)
  if (constraints.pattern === undefined) return sized
  const regex = Option.getOrUndefined(Option.liftThrowable((source: string) => new RegExp(source))(constraints.pattern))
  if (regex === undefined) return undefined
  const fromPattern = Pattern.compile(constraints.pattern)
  const fits = (s: string) => s.length >= min && s.length <= max && regex.test(s)
  return (random) => {
    const text = sized(random)
    if (fits(text)) return text
    for (const variant of [text.toLowerCase(), text.toUpperCase(), text.replace(/\s+/g, "-")]) {
      if (fits(variant)) return variant
    }
    if (fromPattern !== undefined) {
      for (let i = 0; i < 4; i++) {
        const generated = fromPattern(random)
        if (fits(generated)) return generated
      }
    }
    return text
  }
}

// =============================================================================
// numbers
// =============================================================================

interface NumberKind {
  readonly min: number
  readonly max: number
  readonly decimals: number
}

const numberKinds: ReadonlyArray<readonly [ReadonlyArray<string>, NumberKind]> = [
  [["lat", "latitude"], { min: -60, max: 70, decimals: 4 }],
  [["lon", "lng", "longitude"], { min: -150, max: 150, decimals: 4 }],
  [[
    "price",
    "cost",
    "amount",
    "fee",
    "salary",
    "revenue",
    "budget",
    "eur",
    "usd",
    "gbp",
    "total",
    "subtotal",
    "tax",
    "discount"
  ], { min: 4, max: 480, decimals: 2 }],
  [
    ["score", "confidence", "probability", "prob", "likelihood", "certainty", "similarity", "relevance", "weight"],
    { min: 0, max: 1, decimals: 2 }
  ],
  [["percent", "percentage", "pct", "share"], { min: 0, max: 100, decimals: 1 }],
  [["rating", "stars", "star"], { min: 1, max: 5, decimals: 1 }],
  [["age"], { min: 18, max: 80, decimals: 0 }],
  [["year"], { min: 1995, max: 2026, decimals: 0 }],
  [["month"], { min: 1, max: 12, decimals: 0 }],
  [["day"], { min: 1, max: 28, decimals: 0 }],
  [["hour"], { min: 0, max: 23, decimals: 0 }],
  [["minute", "second"], { min: 0, max: 59, decimals: 0 }],
  [["temperature", "temp", "celsius"], { min: -5, max: 35, decimals: 1 }],
  [["duration", "ms", "millis", "seconds", "latency", "elapsed"], { min: 1, max: 900, decimals: 0 }],
  [["id", "number", "no"], { min: 1, max: 9999, decimals: 0 }],
  [[
    "count",
    "quantity",
    "qty",
    "num",
    "items",
    "stock",
    "votes",
    "views",
    "likes",
    "pages",
    "size",
    "length",
    "rank",
    "position",
    "index",
    "page",
    "level",
    "version",
    "step",
    "attempt"
  ], { min: 0, max: 40, decimals: 0 }],
  [["width", "height", "depth", "weight", "kg", "cm", "mm", "volume", "capacity", "distance", "km", "power"], {
    min: 1,
    max: 250,
    decimals: 1
  }]
]

const defaultNumber: NumberKind = { min: 1, max: 100, decimals: 1 }
const defaultInteger: NumberKind = { min: 0, max: 20, decimals: 0 }

const numberKind = (hint: Hint, integer: boolean): NumberKind => {
  const find = (list: ReadonlyArray<string>) => {
    for (let i = list.length - 1; i >= 0; i--) {
      const word = list[i]!
      for (const [keys, kind] of numberKinds) if (keys.includes(word) || keys.includes(singular(word))) return kind
    }
    return undefined
  }
  return find(words(hint.name)) ?? find(words(hint.text)) ?? (integer ? defaultInteger : defaultNumber)
}

const decimalsOf = (n: number): number => {
  const text = String(n)
  const e = text.indexOf("e-")
  if (e !== -1) return Number(text.slice(e + 2))
  const dot = text.indexOf(".")
  return dot === -1 ? 0 : text.length - dot - 1
}

const inside = (n: number, c: Constraints): boolean =>
  Number.isFinite(n) &&
  (c.minimum === undefined || n >= c.minimum) &&
  (c.maximum === undefined || n <= c.maximum) &&
  (c.exclusiveMinimum === undefined || n > c.exclusiveMinimum) &&
  (c.exclusiveMaximum === undefined || n < c.exclusiveMaximum) &&
  (c.integer !== true || Number.isInteger(n))

/**
 * A generator of numbers for a field: the range its kind suggests (a price: 4 to 480 with 2 decimals, a confidence:
 * 0 to 1, a count: a small integer…) narrowed by its bounds, or the bounds alone when they leave the kind's range.
 * Always finite, `undefined` when no number fits.
 */
export const number = (hint: Hint, constraints: Constraints): Leaf<number> | undefined => {
  const integer = constraints.integer === true ||
    (constraints.multipleOf !== undefined && Number.isInteger(constraints.multipleOf))
  const kind = numberKind(hint, integer)
  const lower = Math.max(constraints.minimum ?? -Infinity, constraints.exclusiveMinimum ?? -Infinity)
  const upper = Math.min(constraints.maximum ?? Infinity, constraints.exclusiveMaximum ?? Infinity)
  if (!(lower <= upper)) return undefined
  let lo = Math.max(kind.min, lower)
  let hi = Math.min(kind.max, upper)
  if (lo > hi) {
    const span = kind.max - kind.min
    lo = Number.isFinite(lower) ? lower : upper - span
    hi = Number.isFinite(upper) ? upper : lower + span
  }
  const decimals = integer ? 0 : kind.decimals
  const step = constraints.multipleOf !== undefined && constraints.multipleOf > 0
    ? constraints.multipleOf
    : Math.pow(10, -decimals)
  const digits = Math.max(decimals, decimalsOf(step))
  const first = Math.ceil(lo / step)
  const last = Math.floor(hi / step)
  const candidates = (random: Random) => {
    const k = first <= last ? between(random, first, last) : first
    return Number((k * step).toFixed(digits))
  }
  // the grid can miss an exclusive bound or an odd range: a few tries, then a value strictly inside the bounds
  const fallback = Number.isFinite(lo) && Number.isFinite(hi) ? (lo + hi) / 2 : 0
  return (random) => {
    for (let i = 0; i < 4; i++) {
      const n = candidates(random)
      const value = n === 0 ? 0 : n
      if (inside(value, constraints)) return value
    }
    if (integer) {
      const n = Math.ceil(lower === -Infinity ? 0 : lower + (constraints.exclusiveMinimum === lower ? 0.5 : 0))
      return inside(n, constraints) ? n : Math.round(fallback)
    }
    return fallback
  }
}

/** A generator of integers for a list's length: 1 to 3 items, within the list's bounds. */
export const length = (minItems: number | undefined, maxItems: number | undefined): Leaf<number> => {
  const lo = minItems ?? 0
  const hi = Math.max(lo, maxItems ?? Math.max(lo, 3))
  const from = Math.min(Math.max(lo, 1), hi)
  return (random) => between(random, from, Math.min(hi, Math.max(from, 3)))
}

/** A generator of record keys: short words. */
export const key: Leaf<string> = (random) => pick(random, CATEGORIES)
