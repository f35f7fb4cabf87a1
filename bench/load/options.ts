// Command-line option parsing shared by the load benches.

/** `text` as a whole number ≥ `min`, or an error naming the option (`--name`). */
export function positiveInt (name: string, text: string, min = 1): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer ≥ ${min}, got '${text}'`)
  return n
}
