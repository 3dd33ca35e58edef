// A response body's text in; every number written in it out, however deep (JSON, text, links).
// Used to prove an exact coordinate never reaches a caller who may see only coarse or none.

/** Every number written in a text: `52.3712347`, `-4.1`, `1e-7`. */
export function numbersIn (text: string): number[] {
  return [...text.matchAll(/-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/g)].map((m) => Number(m[0]))
}
