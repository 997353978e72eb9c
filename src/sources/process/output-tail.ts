// The last lines a command wrote to one stream, held in bounded memory however much it writes:
// at most `maxLines` lines, each cut at `maxLineChars`.
import { StringDecoder } from 'node:string_decoder';

export const MAX_LINE_CHARS = 1_000;

export class OutputTail {
  private readonly lines: string[] = [];
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private partialCut = false;

  constructor(
    private readonly maxLines: number,
    /** Called with each complete line (the daemon logs them at debug level). */
    private readonly onLine?: (line: string) => void,
    private readonly maxLineChars = MAX_LINE_CHARS,
  ) {}

  write(chunk: Buffer | string): void {
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let start = 0;
    for (let newline = text.indexOf('\n'); newline !== -1; newline = text.indexOf('\n', start)) {
      this.append(text.slice(start, newline));
      this.endLine();
      start = newline + 1;
    }
    this.append(text.slice(start));
  }

  /** The stream ended: a last line without a newline still counts. */
  end(): void {
    this.append(this.decoder.end());
    if (this.partial !== '' || this.partialCut) this.endLine();
  }

  /** The kept lines, joined with newlines. */
  text(): string {
    return this.lines.join('\n');
  }

  private append(text: string): void {
    if (text === '' || this.partialCut) return;
    const room = this.maxLineChars - this.partial.length;
    if (text.length <= room) {
      this.partial += text;
      return;
    }
    this.partial += `${text.slice(0, room)}…`;
    this.partialCut = true;
  }

  private endLine(): void {
    const line = this.partial.endsWith('\r') ? this.partial.slice(0, -1) : this.partial;
    this.partial = '';
    this.partialCut = false;
    this.onLine?.(line);
    if (this.maxLines === 0) return;
    this.lines.push(line);
    if (this.lines.length > this.maxLines) this.lines.shift();
  }
}
