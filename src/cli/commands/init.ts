// agentd init: writes a starter agentd.config.ts.
import type { Command } from 'commander';
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../cli-support.js';

const STARTER = `// agentd configuration: routes map event types to handlers. Reference: the agentd README.
import { defineConfig, on } from 'agentd';

export default defineConfig({
  routes: [
    on('hello.*', {
      // Runs for hello.world, hello.there, ... Try: npx agentd emit hello.world --data '{"name":"Ada"}'
      handler: async (event, ctx) => {
        const { name } = (event.data ?? {}) as { name?: string };
        // A step's result is stored: if agentd crashes after it, a retry reuses it.
        const greeting = await ctx.step('compose', () => \`Hello, \${name ?? 'stranger'}!\`);
        ctx.log.info({ greeting }, 'greeted');
        ctx.emit({ type: 'greeting.sent', data: { greeting } });
      },
      retries: { maxAttempts: 3 },
    }),
  ],
});
`;

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a starter agentd.config.ts in the current directory')
    .option('--force', 'overwrite an existing config')
    .action((opts: { force?: boolean }) => {
      const file = resolve('agentd.config.ts');
      if (existsSync(file) && opts.force !== true)
        throw new UsageError(`${file} already exists (use --force to overwrite)`);
      writeFileSync(file, STARTER);
      process.stdout.write(
        `wrote ${file}\nnext: npx agentd start   (then, in another terminal: npx agentd emit hello.world --data '{"name":"Ada"}')\n`,
      );
    });
}
