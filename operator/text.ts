// Pure: text that has to fit a field (status messages, run causes, Event notes).

/** `text`, or its first `max - 1` characters and an ellipsis. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
