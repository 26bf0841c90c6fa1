/**
 * "Did you mean" for mistyped command names: the known name closest to what
 * was typed, by edit distance with swapped neighbours counting as one edit
 * (`stauts` → `status`).
 *
 * @module
 */

/**
 * Edit distance between `a` and `b`: insertions, deletions, substitutions
 * and swaps of two neighbouring characters each cost 1.
 *
 * @example
 * ```ts
 * editDistance("stauts", "status"); // 1
 * ```
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    d.push([i]);
    for (let j = 1; j <= b.length; j++) d[i].push(i === 0 ? j : 0);
  }
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * The name in `names` closest to `typed`, when it is close enough to be a
 * typo (at most 2 edits, and fewer than half the typed length); else undefined.
 *
 * @example
 * ```ts
 * closestName("stauts", ["start", "status", "stop"]); // "status"
 * closestName("deploy", ["start", "status", "stop"]); // undefined
 * ```
 */
export function closestName(typed: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of names) {
    const distance = editDistance(typed.toLowerCase(), name);
    if (distance < bestDistance) [best, bestDistance] = [name, distance];
  }
  return bestDistance <= 2 && bestDistance * 2 < typed.length ? best : undefined;
}
