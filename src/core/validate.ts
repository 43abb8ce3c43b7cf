import { z } from 'zod';

/**
 * A zod string schema that runs one of our parsers (durations, sizes, addresses …) and reports the
 * parser's message, which names the bad value and what was expected, as the issue at that key.
 */
export function parsedString<T>(parse: (text: string) => T): z.ZodType<T, string> {
  return z.string().transform((text, ctx) => {
    try {
      return parse(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
}
