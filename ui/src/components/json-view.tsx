// JSON, pretty-printed, folded when long.
import { useState } from 'react';

export function JsonView({ value, fold = 24 }: { value: unknown; fold?: number }) {
  const text = value === undefined ? '(none)' : JSON.stringify(value, null, 2);
  const lines = text.split('\n');
  const [open, setOpen] = useState(lines.length <= fold);
  return (
    <div className="json">
      <pre>{open ? text : `${lines.slice(0, fold).join('\n')}\n…`}</pre>
      {lines.length > fold ? (
        <button className="link" onClick={() => setOpen(!open)}>
          {open ? 'fold' : `show all ${lines.length} lines`}
        </button>
      ) : null}
    </div>
  );
}
