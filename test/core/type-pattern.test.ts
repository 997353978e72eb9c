// Route type patterns: exact names, one-segment * and many-segment **.
import { describe, expect, it } from 'vitest';
import { compilePattern } from '../../src/core/type-pattern.js';

describe('compilePattern', () => {
  it('matches exact types only exactly', () => {
    const m = compilePattern('github.push');
    expect(m('github.push')).toBe(true);
    expect(m('github.push.x')).toBe(false);
    expect(m('githubXpush')).toBe(false);
  });

  it('matches one segment with *', () => {
    const m = compilePattern('github.pull_request.*');
    expect(m('github.pull_request.opened')).toBe(true);
    expect(m('github.pull_request')).toBe(false);
    expect(m('github.pull_request.review.submitted')).toBe(false);
  });

  it('matches one or more segments with **', () => {
    const m = compilePattern('github.**');
    expect(m('github.push')).toBe(true);
    expect(m('github.pull_request.opened')).toBe(true);
    expect(m('github')).toBe(false);
    expect(m('gitlab.push')).toBe(false);
    expect(compilePattern('**')('anything.at.all')).toBe(true);
  });

  it('rejects malformed patterns with the bad segment named', () => {
    expect(() => compilePattern('github..push')).toThrow(/segment ""/);
    expect(() => compilePattern('git*hub.push')).toThrow(/segment "git\*hub"/);
  });
});
