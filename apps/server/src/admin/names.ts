// Names people give: of accounts, and of operators logging in to the panel.

/** Whether the lease database takes this nickname (its rule: 1–64 characters, no controls). */
export function isNickname(text: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  return text.length >= 1 && text.length <= 64 && !/[\u0000-\u001f\u007f]/.test(text);
}

/** What {@link isNickname} takes, for messages. */
export const NICKNAME_RULE = '1–64 characters without control characters';
