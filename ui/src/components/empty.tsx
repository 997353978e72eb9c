// What a page says when there is nothing to show: why, and what to do about it.
import type { ReactNode } from 'react';

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <div className="empty-title">{title}</div>
      {children === undefined ? null : <div className="empty-body">{children}</div>}
    </div>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  const message =
    error instanceof Error
      ? error.message
      : typeof error === 'string'
        ? error
        : JSON.stringify(error);
  return <div className="error-note">{message}</div>;
}

export function Loading() {
  return <div className="loading">Loading…</div>;
}
