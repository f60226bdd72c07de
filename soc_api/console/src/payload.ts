// The carved HTTP payload, decoded, cut into pieces so what a rule matched can be marked without HTML injection.

export interface Piece {
  text: string
  hit: boolean
}

/** base64 → text (UTF-8, bad bytes replaced); null when the value is not base64. */
export function decodeBase64(value: string): string | null {
  try {
    const binary = atob(value.replace(/\s+/g, ''))
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0))
    return new TextDecoder('utf-8', { fatal: false }).decode(bytes)
  } catch {
    return null
  }
}

/** The literal parts of Sigma patterns (wildcards dropped) and YARA strings an alert says matched. */
export function matchedNeedles(matches: unknown): string[] {
  const needles: string[] = []
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      for (const part of value.split(/[*?]/)) {
        if (part.trim().length < 3) continue
        needles.push(part)
        const decoded = percentDecoded(part)
        if (decoded !== part) needles.push(decoded)
      }
    } else if (Array.isArray(value)) value.forEach(visit)
    else if (value && typeof value === 'object') Object.values(value).forEach(visit)
  }
  visit(matches)
  return [...new Set(needles)].sort((a, b) => b.length - a.length)
}

/** A percent-encoded query string as a person reads it ('+' is a space); the value itself when it is not valid. */
export function percentDecoded(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '))
  } catch {
    return value
  }
}

/** ``text`` cut at every case-insensitive occurrence of a needle. */
export function highlight(text: string, needles: string[]): Piece[] {
  if (!needles.length) return [{ text, hit: false }]
  const escaped = needles.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
  const pattern = new RegExp(`(${escaped.join('|')})`, 'gi')
  return text.split(pattern).filter((part) => part !== '').map((part) => ({ text: part, hit: needles.some((n) => n.toLowerCase() === part.toLowerCase()) }))
}
