/** An enum's values from one description per value, in the form Pothos's enumType takes. */
export function describedValues<T extends string>(descriptions: Record<T, string>): Record<T, { description: string }> {
  return Object.fromEntries(Object.entries(descriptions).map(([name, description]) => [name, { description }])) as Record<T, { description: string }>;
}
