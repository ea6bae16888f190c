import { GraphQLError } from 'graphql';
import { UploadedFile } from '../plugins/uploads.ts';
import { builder } from '../builder.ts';

builder.scalarType('File', {
  description: 'A file sent with the GraphQL multipart request (an input only).',
  serialize: () => {
    throw new GraphQLError('File is an input only');
  },
  parseValue: (value) => {
    if (value instanceof UploadedFile) return value;
    throw new GraphQLError('expected a file sent with the GraphQL multipart request');
  },
});

builder.mutationField('loadImages', (t) =>
  t.field({
    type: ['String'],
    description:
      "Loads a `docker save` archive (tar, or gzip, bzip2, xz or zstd compressed) uploaded with the GraphQL multipart request, streamed to the engine as it arrives. Answers the image references loaded; the modules whose images they are leave NOT_LOADED (and autostart). LOAD_FAILED when the engine cannot read it or the upload is cut short: the engine then keeps nothing of it.",
    args: {
      file: t.arg({ type: 'File', required: true }),
      engine: t.arg.string({ required: false, description: 'The engine to load it into, by its name in docker.yaml; default `local`.' }),
    },
    // The uploader gone, the engine's load is aborted (a file reaches berth over HTTP only).
    resolve: (_root, { file, engine }, { modules, request }) => modules.loadImages(file.stream(), request?.signal ?? new AbortController().signal, engine ?? undefined),
  }),
);
