// Event type patterns: `github.push` (exact), `github.pull_request.*` (one segment), `github.**` (one or more).

export type TypeMatcher = (type: string) => boolean;

const LITERAL_SEGMENT = /^[A-Za-z0-9_\-:/]+$/;

/** Throws with the offending segment named when a pattern cannot match anything sensible. */
export function compilePattern(pattern: string): TypeMatcher {
  const segments = pattern.split('.');
  const parts = segments.map((segment) => {
    if (segment === '**') return '.+';
    if (segment === '*') return '[^.]+';
    if (!LITERAL_SEGMENT.test(segment)) {
      throw new Error(
        `type pattern "${pattern}": segment "${segment}" must be a name, "*" (one segment) or "**" (one or more)`,
      );
    }
    return segment.replace(/[-/]/g, (c) => `\\${c}`);
  });
  if (!segments.some((s) => s === '*' || s === '**')) return (type) => type === pattern;
  const regex = new RegExp(`^${parts.join('\\.')}$`);
  return (type) => regex.test(type);
}

/** True when the event type matches any of the patterns. */
export function compilePatterns(patterns: readonly string[]): TypeMatcher {
  const matchers = patterns.map(compilePattern);
  return (type) => matchers.some((m) => m(type));
}
