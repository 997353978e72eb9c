// Contracts of the GitHub events the github webhook source maps (`github.<event>.<action>`).
// GitHub's own example payloads (@octokit/webhooks-examples) are checked against them in the tests.
import { codeFamilies, codeTypes } from './github-code-types.js';
import { conversationFamilies, conversationTypes } from './github-conversation-types.js';
import type { TypeFamily } from './type-family.js';

export const githubEventTypes = { ...conversationTypes, ...codeTypes };

// Pull requests first: the reference page leads with what most routes react to.
export const githubFamilies: TypeFamily[] = [
  ...conversationFamilies.slice(0, 4),
  ...codeFamilies.slice(0, 1),
  ...conversationFamilies.slice(4),
  ...codeFamilies.slice(1),
];
