// Keyset paging: newest first, "Older" follows the server's cursor, "Newest" goes back to the top.
export function Pager({
  cursor,
  next,
  onNewest,
  onOlder,
}: {
  cursor: string | undefined;
  next: string | null;
  onNewest: () => void;
  onOlder: (cursor: string) => void;
}) {
  return (
    <div className="pager">
      <button disabled={cursor === undefined} onClick={onNewest}>
        ⇤ Newest
      </button>
      <button disabled={next === null} onClick={() => next !== null && onOlder(next)}>
        Older →
      </button>
    </div>
  );
}
