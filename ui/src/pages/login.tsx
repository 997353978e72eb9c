// Sign-in: the admin (or read-only) token, kept in this tab's sessionStorage only.
import { useState } from 'react';

export function LoginPage({
  reason,
  onToken,
}: {
  reason: string | undefined;
  onToken: (token: string) => void;
}) {
  const [token, setToken] = useState('');
  return (
    <div className="login">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim() !== '') onToken(token.trim());
        }}
      >
        <h1>agentd</h1>
        <p>
          Paste the admin token: it is in <code>.agentd/admin-token</code> beside your config (or{' '}
          <code>server.token</code>). A read-only token (<code>server.readOnlyToken</code>) shows
          everything but cannot replay or purge.
        </p>
        {reason === undefined ? null : <div className="error-note">{reason}</div>}
        <input
          type="password"
          autoFocus
          aria-label="token"
          placeholder="token"
          value={token}
          onChange={(e) => setToken(e.target.value)}
        />
        <button className="primary" type="submit">
          Sign in
        </button>
        <p className="muted">
          The token stays in this browser tab (sessionStorage) and is sent only to this agentd.
        </p>
      </form>
    </div>
  );
}
