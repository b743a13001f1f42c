/**
 * Strict structural equality for parsed JSON: `Object.is` on scalars (so -0 ≠ 0) and own keys compared (so
 * `{ a: undefined }` ≠ `{}`), key order ignored.
 */
export const same = (a: unknown, b: unknown): boolean => {
  if (Object.is(a, b)) return true
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]))
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object" || Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  const ra = a as Record<string, unknown>
  const rb = b as Record<string, unknown>
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(rb, k) && same(ra[k], rb[k]))
}
