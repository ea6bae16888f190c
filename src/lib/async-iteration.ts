/** The result of an iterator that has ended; frozen, so that every stream can answer with it. */
export const iteratorDone: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });
