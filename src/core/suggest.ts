// "Did you mean …?" for names typed by hand: config keys, capabilities, errno names.

export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length] as number;
}

/**
 * The candidate `input` most likely misspells: the nearest within a third of its length, else
 * (with `partial`) the first that contains `input`, since long names get shortened ("NET_BIND").
 */
export function closeMatch(input: string, candidates: readonly string[], partial = false): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(c, input);
    if (d <= Math.max(1, Math.floor(c.length / 3)) && d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  if (best !== undefined || !partial || input.length < 3) return best;
  return candidates.find((c) => c.includes(input));
}
