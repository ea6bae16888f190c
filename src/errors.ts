export const errorCodes = [
  'MODULE_NOT_FOUND',
  'IMAGE_NOT_LOADED',
  'NAME_CONFLICT',
  'ENGINE_UNAVAILABLE',
  'ENGINE_ERROR',
  'BIND_SOURCE_MISSING',
  'DEPENDENCY_FAILED',
  'LOAD_FAILED',
  'PULL_FAILED',
  'UPDATE_ROLLED_BACK',
  'BAD_USER_INPUT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
] as const;
export type ErrorCode = (typeof errorCodes)[number];

/** An expected failure: its message and code are safe to show to API users. */
export class BerthError extends Error {
  readonly code: ErrorCode;
  /** graphql-js copies an original error's extensions into the GraphQLError it wraps it in. */
  readonly extensions: { readonly code: ErrorCode };

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BerthError';
    this.code = code;
    this.extensions = { code };
  }
}
