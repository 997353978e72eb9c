// <dataDir>/admin-token: the random token that POST /events and the other admin endpoints need.
// Made at the first start with mode 0600, so only this user (and the CLI run as this user) has it.
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ADMIN_TOKEN_FILE = 'admin-token';
const MIN_LENGTH = 16;

export function adminTokenPath(dataDir: string): string {
  return join(dataDir, ADMIN_TOKEN_FILE);
}

/** The data directory's admin token, made on first use; the file is kept at mode 0600. */
export function ensureAdminToken(dataDir: string): string {
  const file = adminTokenPath(dataDir);
  try {
    // `wx` fails when the file exists, so two processes never overwrite each other's token.
    writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // A copied or restored file may have lost its mode: anyone who can read it is an operator.
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  }
  const token = readAdminToken(dataDir);
  if (token === undefined)
    throw new Error(
      `${file} does not hold a token of ${MIN_LENGTH}+ characters: delete it and start again to make a new one`,
    );
  return token;
}

/** The token in <dataDir>/admin-token, or undefined when there is none (or it cannot be read). */
export function readAdminToken(dataDir: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(adminTokenPath(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  const token = text.trim();
  return token.length >= MIN_LENGTH ? token : undefined;
}

/** The token a client such as the CLI sends: server.token, else AGENTD_TOKEN, else the file. */
export function clientToken(
  configToken: string | undefined,
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const fromEnv = env.AGENTD_TOKEN === '' ? undefined : env.AGENTD_TOKEN;
  return configToken ?? fromEnv ?? readAdminToken(dataDir);
}
