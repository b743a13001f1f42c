/**
 * Mermaid flowchart helpers shared by the renderers (`Graph.toMermaid`, `Chain.toMermaid`).
 */

/** Escapes text for a quoted Mermaid label (`["…"]`): a double quote would end the label. */
export const escape = (text: string): string => text.replace(/"/g, "#quot;")

/** Turns any text into a valid Mermaid node id (letters, digits and `_`). */
export const safeId = (text: string): string => text.replace(/[^A-Za-z0-9_]/g, "_")

/** Styles shared by the renderers, so that diagrams of different modules look alike. */
export const styles = {
  /** Steps that stream tokens. */
  streaming: "fill:#fff3e0,stroke:#f57c00,color:#e65100",
  /** Nested graphs and nodes, and pure (non-LLM) steps. */
  green: "fill:#f1f8e9,stroke:#558b2f,color:#33691e"
} as const

/** The lines declaring class `name` with `style` and assigning it to the nodes `ids` (none when `ids` is empty). */
export const classLines = (name: string, style: string, ids: ReadonlyArray<string>): ReadonlyArray<string> =>
  ids.length === 0 ? [] : [`  classDef ${name} ${style}`, `  class ${ids.join(",")} ${name}`]
