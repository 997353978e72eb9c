// Secrets from the config: literal strings, or `{ env: 'NAME' }` read from the environment when
// the daemon starts, so a missing variable fails the start and names the config field.
import type { SecretsInput } from '../core/source-fields.js';
import { ValidationError } from '../core/errors.js';

/** The secrets in use, in config order; `path` (e.g. "sources[0].secret") names them in errors. */
export function resolveSecrets(
  input: SecretsInput,
  path: string,
  env: NodeJS.ProcessEnv,
): string[] {
  const list = Array.isArray(input) ? input : [input];
  return list.map((secret, index) => {
    if (typeof secret === 'string') return secret;
    const where = Array.isArray(input) ? `${path}[${index}].env` : `${path}.env`;
    const value = env[secret.env];
    if (value === undefined || value === '') {
      const issue = `${where}: the environment variable ${secret.env} is not set (or empty)`;
      throw new ValidationError(issue, [issue]);
    }
    return value;
  });
}
