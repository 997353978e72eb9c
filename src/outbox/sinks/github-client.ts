// Octokit clients for the GitHub sink, by token or as a GitHub App (app id + private key →
// installation tokens, minted and refreshed by @octokit/auth-app). Loaded on first use: config
// files that never send to GitHub never load Octokit.
import type { Octokit } from '@octokit/rest';

export type GithubAuth =
  | { kind: 'token'; token: string }
  | { kind: 'app'; appId: number | string; privateKey: string; installationId?: number };

export interface GithubClientOptions {
  auth: GithubAuth;
  /** Default https://api.github.com. */
  baseUrl?: string | undefined;
}

/** Hands out an Octokit per repository (one for all with a token or a fixed installation). */
export class GithubClients {
  private shared: Promise<Octokit> | undefined;
  private app: Promise<Octokit> | undefined;
  private readonly perRepo = new Map<string, Promise<Octokit>>();

  constructor(private readonly options: GithubClientOptions) {}

  for(repo: string): Promise<Octokit> {
    const { auth } = this.options;
    if (auth.kind === 'token' || auth.installationId !== undefined) {
      this.shared ??= this.create(
        auth.kind === 'token' ? { auth: auth.token } : this.appAuth(auth.installationId),
      );
      return this.shared;
    }
    let client = this.perRepo.get(repo);
    if (client === undefined) {
      client = this.installationFor(repo).then((id) => this.create(this.appAuth(id)));
      // A failed lookup (app not installed yet, GitHub down) is asked again next time.
      client.catch(() => this.perRepo.delete(repo));
      this.perRepo.set(repo, client);
    }
    return client;
  }

  /** The app's installation on `repo`, asked as the app itself (a JWT from the private key). */
  private async installationFor(repo: string): Promise<number> {
    this.app ??= this.create(this.appAuth(undefined));
    const octokit = await this.app;
    const [owner = '', name = ''] = repo.split('/');
    const { data } = await octokit.rest.apps.getRepoInstallation({ owner, repo: name });
    return data.id;
  }

  private appAuth(installationId: number | undefined): Record<string, unknown> {
    const auth = this.options.auth as Extract<GithubAuth, { kind: 'app' }>;
    return {
      authStrategy: 'app',
      auth: {
        appId: auth.appId,
        privateKey: auth.privateKey,
        ...(installationId === undefined ? {} : { installationId }),
      },
    };
  }

  private async create(settings: Record<string, unknown>): Promise<Octokit> {
    const { Octokit: OctokitClass } = await import('@octokit/rest');
    const { authStrategy, ...rest } = settings;
    const strategy =
      authStrategy === 'app' ? (await import('@octokit/auth-app')).createAppAuth : undefined;
    return new OctokitClass({
      ...rest,
      ...(strategy === undefined ? {} : { authStrategy: strategy }),
      ...(this.options.baseUrl === undefined ? {} : { baseUrl: this.options.baseUrl }),
      userAgent: 'agentd',
      // Retries are the dispatcher's: one attempt per send, its outcome recorded.
      log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    });
  }
}
