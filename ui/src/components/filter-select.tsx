// A list filter as the pages show it: a labelled select whose first choice, "any", clears it.
export interface FilterOption {
  value: string;
  label: string;
}

export function FilterSelect(props: {
  label: string;
  value: string | undefined;
  options: readonly (string | FilterOption)[];
  onChange: (value: string) => void;
}) {
  return (
    <label>
      {props.label}
      <select value={props.value ?? ''} onChange={(e) => props.onChange(e.target.value)}>
        <option value="">any</option>
        {props.options.map((o) => {
          const { value, label } = typeof o === 'string' ? { value: o, label: o } : o;
          return (
            <option key={value} value={value}>
              {label}
            </option>
          );
        })}
      </select>
    </label>
  );
}
