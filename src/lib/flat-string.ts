/**
 * The same string held as one run of characters. V8 keeps a string built by concatenation as a tree of
 * its parts, about 30 bytes a part, until something reads it whole: an id or key kept per connection, for
 * thousands of connections, costs several times its length that way. JSON.parse answers a flat string, and
 * the round trip is exact for every string, lone surrogates included.
 */
export function flatString(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}
