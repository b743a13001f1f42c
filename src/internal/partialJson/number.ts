/**
 * JSON numbers for the partial parser: the grammar states of a number in progress and fast exact conversions.
 *
 * @internal
 */

// number grammar states; N_ZERO, N_INT, N_FRAC and N_EXP are the ones a number may end in
/** @internal */
export const N_MINUS = 0
/** @internal */
export const N_ZERO = 1
/** @internal */
export const N_INT = 2
/** @internal */
export const N_DOT = 3
/** @internal */
export const N_FRAC = 4
/** @internal */
export const N_E = 5
/** @internal */
export const N_SIGN = 6
/** @internal */
export const N_EXP = 7

const POW10 = [
  1,
  1e1,
  1e2,
  1e3,
  1e4,
  1e5,
  1e6,
  1e7,
  1e8,
  1e9,
  1e10,
  1e11,
  1e12,
  1e13,
  1e14,
  1e15,
  1e16,
  1e17,
  1e18,
  1e19,
  1e20,
  1e21,
  1e22
]

/**
 * The value of the valid JSON number `text[start, end)` without allocating, when at most 15 significant digits and
 * a power of ten up to 22 make it exact (one correctly rounded IEEE operation, Clinger's fast path); `NaN` otherwise.
 */
export const fastNumber = (text: string, start: number, end: number): number => {
  let i = start
  const negative = text.charCodeAt(i) === 45
  if (negative) i++
  let mantissa = 0
  let digits = 0
  let scale = 0
  let c = text.charCodeAt(i)
  while (i < end && c >= 48 && c <= 57) {
    mantissa = mantissa * 10 + c - 48
    digits++
    c = text.charCodeAt(++i)
  }
  if (i < end && c === 46) {
    c = text.charCodeAt(++i)
    while (i < end && c >= 48 && c <= 57) {
      mantissa = mantissa * 10 + c - 48
      digits++
      scale++
      c = text.charCodeAt(++i)
    }
  }
  let exponent = 0
  if (i < end) {
    c = text.charCodeAt(++i)
    const negativeExponent = c === 45
    if (c === 45 || c === 43) c = text.charCodeAt(++i)
    if (end - i > 4) return NaN
    while (i < end) {
      exponent = exponent * 10 + c - 48
      c = text.charCodeAt(++i)
    }
    if (negativeExponent) exponent = -exponent
  }
  if (digits > 15) return NaN
  const power = exponent - scale
  const value = power === 0
    ? mantissa
    : power > 0 && power <= 22
    ? mantissa * POW10[power]!
    : power < 0 && power >= -22
    ? mantissa / POW10[-power]!
    : NaN
  return negative ? -value : value
}

/** The value of a truncated number's longest valid prefix, or `undefined` when it has none (`-`). */
export const numberPrefixValue = (text: string, state: number): number | undefined => {
  switch (state) {
    case N_MINUS:
      return undefined
    case N_DOT:
    case N_E:
      return +text.slice(0, -1)
    case N_SIGN:
      return +text.slice(0, -2)
    default:
      return +text
  }
}
